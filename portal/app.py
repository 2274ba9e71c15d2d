"""The portal's Flask app factory.

Engine errors have one path: ``SearchUnavailable`` is answered as a 503 and ``SearchRejected``
as a 400, the exception's message as the description, by the same handler as ``abort`` (JSON
under /api/, the error page otherwise), so views need not catch them.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask, current_app
from werkzeug.exceptions import BadRequest, HTTPException, ServiceUnavailable

from cellfed.config import load_config
from federation.web.errors import json_or_page
from portal import api, views
from portal.access import init_access
from portal.service import SEARCH_KEY, CatalogueSearch, SearchRejected, SearchUnavailable
from search.engine import SearchEngine


def _as_http(error: type[HTTPException]) -> Callable[[Exception], Any]:
    """Answer a domain error as ``error`` with its message, through whichever HTTP error
    handler applies to the request (a blueprint's own, else the app's), as abort would."""

    def handle(exc: Exception) -> Any:
        return current_app.handle_http_exception(error(str(exc)))

    return handle


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
    app.register_error_handler(SearchUnavailable, _as_http(ServiceUnavailable))
    app.register_error_handler(SearchRejected, _as_http(BadRequest))
    init_access(app, search.record)  # login, cart, requests
    return app
