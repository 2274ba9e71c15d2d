"""The member node's Flask app factory."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from flask import Flask, current_app, jsonify
from werkzeug.exceptions import HTTPException

from cellfed.config import load_config
from federation.node.poke import Poker
from federation.node.store import CatalogueStore
from federation.tokens import TokenUnavailable


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(load_config(overrides))
    app.config["SECRET_KEY"] = app.config["SECRET_KEY"] or secrets.token_hex(32)
    app.json.sort_keys = False

    store = CatalogueStore(app.config["DATABASE_URL"])
    store.create_schema()
    app.extensions["cellfed.store"] = store

    app.config["MAX_CONTENT_LENGTH"] = int(app.config["IMPORT_MAX_MB"]) * 1024 * 1024

    from federation.node import admin, api, pages

    app.register_blueprint(api.bp, url_prefix="/api/v1")
    app.register_blueprint(pages.bp)
    app.register_blueprint(admin.bp, url_prefix="/admin")
    app.register_error_handler(HTTPException, _json_or_page_error)

    from federation.node.access import init_access

    init_access(app, store)  # access-request inbox, login (after the handler: pages get HTML)
    if app.config["INDEXER_POKE_URL"]:
        store.listeners.append(_poker(app))
    return app


def _poker(app: Flask) -> Poker:
    """Pokes carry the node's own token when it has credentials (the indexer checks it)."""
    credentials = app.extensions.get("cellfed.node_credentials")

    def headers() -> dict[str, str]:
        if credentials is None:
            return {}
        try:
            return {"Authorization": f"Bearer {credentials.token()}"}
        except TokenUnavailable:
            return {}  # the poke is refused; polling catches up

    return Poker(app.config["INDEXER_POKE_URL"], app.config["NODE_ID"], headers)


def get_store() -> CatalogueStore:
    return current_app.extensions["cellfed.store"]


def _json_or_page_error(exc: HTTPException):
    return jsonify(error=exc.name, detail=exc.description), exc.code
