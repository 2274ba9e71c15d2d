"""The portal's Flask app factory."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from flask import Flask, current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from cellfed.config import load_config
from portal.service import CatalogueSearch
from search.engine import SearchEngine


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(load_config(overrides))
    app.config["SECRET_KEY"] = app.config["SECRET_KEY"] or secrets.token_hex(32)
    app.json.sort_keys = False
    app.extensions["cellfed.search"] = CatalogueSearch(
        SearchEngine.from_config(app.config), app.config["INDEX_PREFIX"]
    )

    from portal import api, views

    app.register_blueprint(api.bp, url_prefix="/api/v1")
    app.register_blueprint(views.bp)
    app.register_error_handler(HTTPException, _error)

    from portal.access import init_access

    init_access(app, app.extensions["cellfed.search"].record)  # login, cart, requests
    return app


def get_search() -> CatalogueSearch:
    return current_app.extensions["cellfed.search"]


def _error(exc: HTTPException):
    if request.path.startswith("/api/"):
        return jsonify(error=exc.name, detail=exc.description), exc.code
    return render_template("error.html", error=exc), exc.code
