"""The member node's Flask app factory.

Every response carries the security headers (federation/web/headers.py), and request bodies
are capped at ``BODY_MAX_BYTES`` except on the admin import, which takes ``IMPORT_MAX_MB``
(federation/web/limits.py): the CSRF check parses forms before anyone is authenticated, so
the import's admin gate runs before it, and a POST without a session token is refused unread.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from flask import Flask, current_app, request
from werkzeug.exceptions import HTTPException

from cellfed.config import load_config
from federation.node import admin, api, coa, views
from federation.node.identity import IDENTITY_KEY, NodeIdentity, identity_of
from federation.node.inbox import init_inbox
from federation.node.migrate import migrate_on_start
from federation.node.poke import Poker
from federation.node.privacy import install_policy
from federation.node.store import STORE_KEY, CatalogueStore
from federation.tokens import TokenUnavailable
from federation.web.errors import json_or_page
from federation.web.headers import init_headers, trust_proxy
from federation.web.health import database_check, init_health
from federation.web.json_provider import init_json
from federation.web.limits import init_limits
from federation.web.logging import init_request_log

UPLOAD_ENDPOINTS = ("admin.import_upload",)  # catalogue files: up to IMPORT_MAX_MB


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(load_config(overrides, role="node"))  # checked in production
    app.config["SECRET_KEY"] = app.config["SECRET_KEY"] or secrets.token_hex(32)
    init_json(app)  # orjson; keys in the views' order

    store = CatalogueStore(app.config["DATABASE_URL"])
    try:
        migrate_on_start(store.engine, app.config)  # in production only if AUTO_MIGRATE
    except Exception:
        store.dispose()
        raise
    store.create_schema()
    app.extensions[STORE_KEY] = store
    app.extensions[IDENTITY_KEY] = NodeIdentity.from_config(app.config)
    install_policy(app)  # a bad FACTS_* setting stops the node before it publishes

    app.register_blueprint(api.bp, url_prefix="/api/v1")
    app.register_blueprint(views.bp)
    app.register_blueprint(admin.bp, url_prefix="/admin")
    app.register_blueprint(coa.bp)  # certificates of analysis, public like the catalogue
    node_name = lambda: current_app.config["NODE_NAME"]  # noqa: E731
    app.register_error_handler(HTTPException, json_or_page("node/error.html", node_name=node_name))
    app.before_request(_admin_before_upload)  # before the CSRF check reads the body
    init_inbox(app, store)  # access-request inbox, its outbox, login and CSRF
    init_headers(app)
    trust_proxy(app, int(app.config.get("PROXY_HOPS", 0)))
    uploads = int(app.config["IMPORT_MAX_MB"]) * 1024 * 1024
    init_limits(app, uploads={endpoint: uploads for endpoint in UPLOAD_ENDPOINTS})
    if app.config["INDEXER_POKE_URL"]:
        store.listeners.append(_poker(app))
    init_request_log(app)  # request ids; JSON logs in production
    init_health(app, {"database": database_check(store.engine)})
    return app


def _admin_before_upload() -> Any:
    """The admin import takes IMPORT_MAX_MB: whoever may not import (not signed in, no
    biobank here) is turned away before the CSRF check parses that body. The admin pages'
    gate runs again as for every admin page."""
    if request.endpoint in UPLOAD_ENDPOINTS:
        return admin.require_admin()
    return None


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
