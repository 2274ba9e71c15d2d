"""The indexer's small HTTP face: pokes from nodes, health as JSON and Prometheus metrics."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask, Response, abort, jsonify, request
from werkzeug.exceptions import HTTPException

from federation.trust import (
    MACHINE_ROLES,
    IssuerUnavailable,
    TokenError,
    TokenVerifier,
    bearer_token,
)
from federation.web.errors import json_error
from federation.web.headers import API_CSP, init_headers
from federation.web.health import init_health
from federation.web.json_provider import init_json
from federation.web.logging import init_request_log
from search.health import node_health, prometheus_text
from search.indexer.daemon import SyncDaemon
from search.indexer.ingest import Ingest
from search.indexer.ingest_api import init_ingest

PokeAuth = Callable[[str | None, str], None]
"""Checks a poke's Authorization header for a node id; raises PermissionError to refuse."""


def node_poke_auth(config: Mapping[str, Any]) -> PokeAuth | None:
    """With INDEXER_CLIENT_SECRET set, a poke must carry a token of the poking node's own
    client (any alliance member could otherwise make us pull another node early), from the
    client-credentials grant (a person's login at that node is not the node)."""
    if not config.get("INDEXER_CLIENT_SECRET"):
        return None
    return node_token_check(config)


def node_token_check(config: Mapping[str, Any]) -> PokeAuth:
    """The check itself: a machine token of the node's own client, for the alliance API.
    The verifier is made at the first call (an app made without OIDC settings refuses)."""
    verifiers: list[TokenVerifier] = []
    machine_roles = config.get("OIDC_MACHINE_ROLES") or MACHINE_ROLES

    def check(header: str | None, node_id: str) -> None:
        raw = bearer_token(header)
        if raw is None:
            raise PermissionError("send the node's access token: Authorization: Bearer ...")
        if not verifiers:
            try:
                verifiers.append(TokenVerifier.from_config(config))
            except KeyError as exc:
                raise PermissionError(f"the indexer has no {exc.args[0]} setting") from None
        try:
            principal = verifiers[0].principal(raw)
        except (TokenError, IssuerUnavailable) as exc:
            raise PermissionError(f"the token is not trusted: {exc}") from None
        if principal.client_id != node_id:
            raise PermissionError(f"client {principal.client_id!r} may not poke {node_id!r}")
        problem = principal.machine_problem(machine_roles)
        if problem is not None:
            raise PermissionError(problem)

    return check


def create_app(
    config: Mapping[str, Any],
    daemon: SyncDaemon,
    auth: PokeAuth | None = None,
    push_auth: PokeAuth | None = None,
):
    app = Flask(__name__)
    app.config.update(config)
    init_json(app)
    app.register_error_handler(HTTPException, json_error)  # an API only: errors are JSON
    init_headers(app, csp=API_CSP)
    init_request_log(app)
    init_health(app, {"engine": daemon.indexer.engine.ping})
    auth = auth or node_poke_auth(config)
    engine, prefix = daemon.indexer.engine, daemon.indexer.prefix
    # Push-mode nodes send their pages here (search/indexer/ingest.py).
    init_ingest(app, Ingest(daemon.indexer), push_auth or node_token_check(config), config)

    @app.post("/api/v1/poke/<node_id>")
    def poke(node_id: str):
        """A node says it changed: pull it now. Only an alliance member may poke itself."""
        if auth is not None:
            try:
                auth(request.headers.get("Authorization"), node_id)
            except PermissionError as exc:
                abort(403, str(exc))
        if not daemon.poke(node_id):
            abort(404, f"{node_id!r} is not a member of this alliance")
        return jsonify(node_id=node_id, queued=True), 202

    @app.get("/api/v1/health")
    def health():
        return jsonify(nodes=list(node_health(engine, prefix).values()))

    @app.get("/metrics")
    def metrics():
        return Response(
            prometheus_text(node_health(engine, prefix)), mimetype="text/plain; version=0.0.4"
        )

    return app
