"""Server-rendered pages: they work without JavaScript, and every search is a plain GET URL."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request

from portal.app import get_search
from portal.service import SearchUnavailable
from search.facets import FACETS_BY_NAME
from search.queries import SORTS, InvalidQuery, SearchParams, parse_params

bp = Blueprint("views", __name__)

LABELS = {
    "cell_line": "Cell lines",
    "collection": "Collections",
    "biobank": "Biobanks",
    "true": "Yes",
}


@bp.app_template_filter("label")
def label(value: str) -> str:
    return LABELS.get(value, value.replace("_", " "))


@bp.get("/")
def search_page():
    try:
        params = parse_params(request.args, current_app.config["PORTAL_PAGE_SIZE"])
    except InvalidQuery as exc:
        return render_template(
            "search.html", params=SearchParams(), error=str(exc), result=None, sorts=SORTS
        ), 400
    try:
        result = get_search().search(params)
    except SearchUnavailable as exc:
        abort(503, str(exc))
    pages = max(1, -(-result["total"] // params.size))
    return render_template(
        "search.html",
        params=params,
        result=result,
        error=None,
        pages=min(pages, 10_000 // params.size),
        sorts=SORTS,
        facet_labels={n: f.label for n, f in FACETS_BY_NAME.items()},
    )


@bp.get("/records/<path:uid>")
def record_page(uid: str):
    doc = get_search().record(uid)
    if doc is None:
        abort(404, f"There is no record {uid!r} in the alliance catalogue.")
    return render_template("record.html", doc=doc, record=doc.get("record", {}))


@bp.get("/federation")
def federation_page():
    """Each member node's sync: last success, lag, errors, quarantined records."""
    return render_template("federation.html", nodes=get_search().node_states())
