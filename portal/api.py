"""The portal's JSON API: search with facets, exports, and single records.

An engine that is down or refuses a search raises, and the app answers it (portal/app.py).
"""

from __future__ import annotations

import datetime as dt

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    request,
    stream_with_context,
    url_for,
)

from portal import records
from portal.alerts.demand import record_demand
from portal.export import csv_chunks, json_chunks
from portal.openapi import spec
from portal.service import current_search
from schemas.standards import standards
from search.health import prometheus_text
from search.queries import InvalidQuery, SearchParams, parse_params

bp = Blueprint("api", __name__)


def _params() -> SearchParams:
    try:
        return parse_params(request.args, current_app.config["PORTAL_PAGE_SIZE"])
    except InvalidQuery as exc:
        abort(400, str(exc))


@bp.get("/search")
def search():
    params = _params()
    result = current_search().search(params)
    record_demand(params, result["lines"])  # memory only; never fails the search
    return jsonify(result)


def _export(fmt: str) -> Response:
    params = _params()
    limit = current_app.config["EXPORT_MAX_ROWS"]
    total, docs = current_search().export(params, limit)

    def url_of(uid: str) -> str:
        return url_for("views.record_page", uid=uid, _external=True)

    stamp = dt.date.today().isoformat()
    filename = f"cellfed-{params.kind}-{stamp}.{fmt}"
    headers = {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "X-Total-Count": str(total),
        "X-Export-Limit": str(limit),
    }
    if fmt == "csv":
        body = csv_chunks(params.kind, docs, url_of)
        mimetype = "text/csv"
    else:
        head = {
            "kind": params.kind,
            "query": request.query_string.decode("utf-8", "replace"),
            "total": total,
            "limit": limit,
            "truncated": total > limit,
        }
        body = json_chunks(head, docs, url_of)
        mimetype = "application/json"
    # The generator runs after this view returns; the request context must stay for url_for.
    return Response(stream_with_context(body), mimetype=mimetype, headers=headers)


@bp.get("/export.csv")
def export_csv():
    return _export("csv")


@bp.get("/export.json")
def export_json():
    return _export("json")


@bp.get("/records/<path:uid>")
def record(uid: str):
    search = current_search()
    doc = search.record(uid)
    if doc is None:
        abort(404, f"no record {uid!r} in the alliance catalogue")
    doc["related"] = search.related(doc)
    doc["standards"] = records.standards(doc)
    return jsonify(doc)


@bp.get("/standards")
def standards_list():
    """The quality standards lines are judged against, as their files give them."""
    return jsonify(standards=[s.to_dict() for s in standards().values()])


@bp.get("/nodes")
def nodes():
    """Each member node's sync state: cursor, last success, last error, data as of."""
    return jsonify(nodes=list(current_search().node_states().values()))


@bp.get("/metrics")
def metrics():
    """Federation health in Prometheus text format."""
    states = current_search().node_states()
    return Response(prometheus_text(states), mimetype="text/plain; version=0.0.4")


@bp.get("/openapi.json")
def openapi():
    return jsonify(spec())
