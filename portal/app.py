"""The portal's Flask app factory.

Engine errors have one path: ``SearchUnavailable`` is answered as a 503 and ``SearchRejected``
as a 400, the exception's message as the description, by the same handler as ``abort`` (JSON
under /api/, the error page otherwise), so views need not catch them.

Every response carries the security headers (federation/web/headers.py). Request bodies are
capped at ``BODY_MAX_BYTES`` except where researchers upload attachments, and the public API,
the exports, login and submitting access requests are rate-limited per user or client address
(federation/web/limits.py; the limits are the settings named in ``RATE_RULES``).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask, current_app
from werkzeug.exceptions import BadRequest, HTTPException, ServiceUnavailable

from cellfed.config import load_config
from federation.web.errors import json_or_page
from federation.web.headers import init_headers, trust_proxy
from federation.web.health import database_check, init_health
from federation.web.json_provider import init_json
from federation.web.limits import RateRule, init_limits
from federation.web.logging import init_request_log
from portal import api, beacon, resource_views, str_views, views
from portal.access import init_access
from portal.access.context import access_of
from portal.alerts import init_alerts
from portal.figures import init_figures
from portal.service import SEARCH_KEY, CatalogueSearch, SearchRejected, SearchUnavailable
from search.engine import SearchEngine

# A limit of "" switches that rule off. Generous, for people and for the test suites, which
# send everything from 127.0.0.1 within seconds (tests/integration/test_discovery.py: ~115
# searches and ~25 exports in half a minute); a script hammering the engine is stopped.
RATE_RULES = (
    RateRule("RATE_LIMIT_API", "api"),  # each JSON API route on its own
    RateRule("RATE_LIMIT_API", "beacon"),  # and each Beacon route
    RateRule("RATE_LIMIT_API", "str"),  # the STR search: its API and its page
    RateRule("RATE_LIMIT_EXPORT", "api", ("api.export_csv", "api.export_json")),
    RateRule("RATE_LIMIT_LOGIN", "auth", ("auth.login", "auth.callback")),
    RateRule("RATE_LIMIT_REQUESTS", "access", ("access.submit",)),
    # Each invitation may send an e-mail to an address the owner typed: one budget for both.
    RateRule("RATE_LIMIT_INVITATIONS", "collaborators", ("collaborators.add",)),
    RateRule("RATE_LIMIT_INVITATIONS", "collaborators_api", ("collaborators_api.add",)),
    RateRule("RATE_LIMIT_API", "collaborators_api"),
    # The routes a private token opens, without a login: one budget, so tokens cannot be tried.
    RateRule(
        "RATE_LIMIT_API",
        "alerts",
        (
            "alerts.feed",
            "alerts.unsubscribe_page",
            "alerts.unsubscribe",
            "alerts.one_click_unsubscribe",
        ),
    ),
)
# may send attachments: ATTACHMENT_MAX_COUNT files; a node's event may carry its document
UPLOAD_ENDPOINTS = ("access.submit", "access_api.post_event")


def _as_http(error: type[HTTPException]) -> Callable[[Exception], Any]:
    """Answer a domain error as ``error`` with its message, through whichever HTTP error
    handler applies to the request (a blueprint's own, else the app's), as abort would."""

    def handle(exc: Exception) -> Any:
        return current_app.handle_http_exception(error(str(exc)))

    return handle


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(load_config(overrides, role="portal"))  # checked in production
    app.config["SECRET_KEY"] = app.config["SECRET_KEY"] or secrets.token_hex(32)
    init_json(app)  # orjson; keys in the views' order
    search = CatalogueSearch(
        SearchEngine.from_config(app.config),
        app.config["INDEX_PREFIX"],
        app.config["SEARCH_STATE_TTL"],
        app.config["SEARCH_SOURCES_TTL"],
    )
    app.extensions[SEARCH_KEY] = search

    app.register_blueprint(api.bp, url_prefix="/api/v1")
    app.register_blueprint(beacon.bp, url_prefix="/api/beacon")  # GA4GH Beacon v2
    app.register_blueprint(views.bp)
    app.register_blueprint(str_views.bp)  # /str and /api/v1/str-search
    app.register_blueprint(resource_views.bp)  # /resources and /api/v1/resources
    app.register_error_handler(HTTPException, json_or_page("error.html"))
    app.register_error_handler(SearchUnavailable, _as_http(ServiceUnavailable))
    app.register_error_handler(SearchRejected, _as_http(BadRequest))
    init_access(app, search.record)  # login, cart, requests
    init_alerts(app)  # saved searches, alerts, feeds, unmet demand (portal/alerts/)
    init_figures(app)  # request figures per biobank and alliance-wide (portal/figures/)
    init_headers(app)
    trust_proxy(app, int(app.config.get("PROXY_HOPS", 0)))
    uploads = app.config["MAX_CONTENT_LENGTH"]  # the attachments' limit (portal/access)
    init_limits(app, RATE_RULES, {endpoint: uploads for endpoint in UPLOAD_ENDPOINTS})
    init_request_log(app)  # request ids; JSON logs in production
    database = database_check(lambda: access_of(app).engine)
    init_health(app, {"database": database, "engine": search.engine.ping})  # /healthz, /readyz
    return app
