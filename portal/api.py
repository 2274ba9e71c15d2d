"""The portal's JSON API: search with facets, and single records."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, jsonify, request

from portal.app import get_search
from portal.openapi import spec
from portal.service import SearchUnavailable
from search.health import prometheus_text
from search.queries import InvalidQuery, parse_params

bp = Blueprint("api", __name__)


@bp.get("/search")
def search():
    try:
        params = parse_params(request.args, current_app.config["PORTAL_PAGE_SIZE"])
    except InvalidQuery as exc:
        abort(400, str(exc))
    try:
        return jsonify(get_search().search(params))
    except SearchUnavailable as exc:
        abort(503, str(exc))


@bp.get("/records/<path:uid>")
def record(uid: str):
    doc = get_search().record(uid)
    if doc is None:
        abort(404, f"no record {uid!r} in the alliance catalogue")
    return jsonify(doc)


@bp.get("/nodes")
def nodes():
    """Each member node's sync state: cursor, last success, last error, data as of."""
    return jsonify(nodes=list(get_search().node_states().values()))


@bp.get("/metrics")
def metrics():
    """Federation health in Prometheus text format."""
    return Response(
        prometheus_text(get_search().node_states()), mimetype="text/plain; version=0.0.4"
    )


@bp.get("/openapi.json")
def openapi():
    return jsonify(spec())
