"""The portal's Flask app factory."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from flask import Flask
from werkzeug.exceptions import HTTPException

from cellfed.config import load_config
from federation.web.errors import json_or_page
from portal import api, views
from portal.access import init_access
from portal.service import SEARCH_KEY, CatalogueSearch
from search.engine import SearchEngine


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(load_config(overrides))
    app.config["SECRET_KEY"] = app.config["SECRET_KEY"] or secrets.token_hex(32)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    search = CatalogueSearch(SearchEngine.from_config(app.config), app.config["INDEX_PREFIX"])
    app.extensions[SEARCH_KEY] = search

    app.register_blueprint(api.bp, url_prefix="/api/v1")
    app.register_blueprint(views.bp)
    app.register_error_handler(HTTPException, json_or_page("error.html"))
    init_access(app, search.record)  # login, cart, requests
    return app
