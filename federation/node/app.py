"""The member node's Flask app factory."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from flask import Flask, current_app
from werkzeug.exceptions import HTTPException

from cellfed.config import load_config
from federation.node import admin, api, views
from federation.node.identity import IDENTITY_KEY, NodeIdentity, identity_of
from federation.node.inbox import init_inbox
from federation.node.poke import Poker
from federation.node.store import STORE_KEY, CatalogueStore
from federation.tokens import TokenUnavailable
from federation.web.errors import json_or_page


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(load_config(overrides))
    app.config["SECRET_KEY"] = app.config["SECRET_KEY"] or secrets.token_hex(32)
    app.json.sort_keys = False  # type: ignore[attr-defined]

    store = CatalogueStore(app.config["DATABASE_URL"])
    store.create_schema()
    app.extensions[STORE_KEY] = store
    app.extensions[IDENTITY_KEY] = NodeIdentity.from_config(app.config)

    app.config["MAX_CONTENT_LENGTH"] = int(app.config["IMPORT_MAX_MB"]) * 1024 * 1024

    app.register_blueprint(api.bp, url_prefix="/api/v1")
    app.register_blueprint(views.bp)
    app.register_blueprint(admin.bp, url_prefix="/admin")
    node_name = lambda: current_app.config["NODE_NAME"]  # noqa: E731
    app.register_error_handler(HTTPException, json_or_page("node/error.html", node_name=node_name))
    init_inbox(app, store)  # access-request inbox, its outbox, login and CSRF
    if app.config["INDEXER_POKE_URL"]:
        store.listeners.append(_poker(app))
    return app


def _poker(app: Flask) -> Poker:
    """Pokes carry the node's own token when it has credentials (the indexer checks it)."""
    credentials = identity_of(app).credentials

    def headers() -> dict[str, str]:
        if credentials is None:
            return {}
        try:
            return {"Authorization": f"Bearer {credentials.token()}"}
        except TokenUnavailable:
            return {}  # the poke is refused; polling catches up

    return Poker(app.config["INDEXER_POKE_URL"], app.config["NODE_ID"], headers)
