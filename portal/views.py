"""Server-rendered pages: they work without JavaScript, and every search is a plain GET URL,
so a bookmark or the browser's back button restores it.

A search the engine refuses is shown on the search form (400); an engine that is down gets
the app's error page (503, portal/app.py).
"""

from __future__ import annotations

import datetime as dt
import html
import re
from urllib.parse import urlencode

from flask import Blueprint, abort, current_app, render_template, request, url_for
from markupsafe import Markup, escape

from federation.web.filters import when
from portal import records
from portal.access.context import current_access
from portal.alerts.demand import record_demand
from portal.facet_rows import facet_value
from portal.jsonld import jsonld_for, script_json
from portal.lineage import coa_links
from portal.miabis_jsonld import with_miabis
from portal.record_links import record_links
from portal.service import SearchRejected, current_search
from portal.str_views import str_search
from schemas.standards import standard_labels, standards
from search.queries import SEARCH_KINDS, SORTS, InvalidQuery, SearchParams, parse_params
from search.query_strings import query_string
from search.vocab import DERIVATION_LABELS, QC_FLAGS, duo_label

bp = Blueprint("views", __name__)

LABELS = {
    "cell_line": "Cell lines",
    "collection": "Collections",
    "biobank": "Biobanks",
    "network": "Network",
    "true": "Yes",
}
SORT_LABELS = {
    "relevance": "Best match",
    "name": "Name (A–Z)",
    "recent": "Recently updated",
    "vials": "Most vials available",
}
PAGE_SIZES = (20, 50, 100)


@bp.app_template_filter("label")
def label(value: str) -> str:
    return LABELS.get(value, str(value).replace("_", " "))


@bp.app_template_filter("duo")
def duo(code: str) -> str:
    return duo_label(code)


bp.add_app_template_filter(when, "when")


@bp.app_template_filter("derivation")
def derivation(method: str) -> str:
    return DERIVATION_LABELS.get(method, method)


@bp.app_template_filter("qc")
def qc(flag: str) -> str:
    return QC_FLAGS.get(flag, flag)


@bp.app_template_filter("standard")
def standard(standard_id: str) -> str:
    return standard_labels().get(standard_id, standard_id)


MARK = re.compile(r"(</?mark>)")


@bp.app_template_filter("highlight")
def highlight(fragment: str | None) -> Markup:
    """A search engine's highlight as safe HTML: every character escaped, then only balanced
    ``<mark>`` and ``</mark>`` put back. The engine sends the text HTML-encoded (its ``html``
    encoder), so entities are decoded first and nothing is escaped twice; a fragment that
    arrives raw is made safe just the same."""
    out: list[str] = []
    depth = 0
    for piece in MARK.split(fragment or ""):
        if piece == "<mark>":
            out.append(piece)
            depth += 1
        elif piece == "</mark>":
            if depth:
                out.append(piece)
                depth -= 1
        else:
            out.append(str(escape(html.unescape(piece))))
    out.append("</mark>" * depth)
    return Markup("".join(out))


@bp.app_template_global()
def search_url(query: str | list[tuple[str, str]] = "") -> str:
    """The search page with a query string (or parameter pairs)."""
    qs = query if isinstance(query, str) else query_string(query)
    base = url_for("views.search_page")
    return f"{base}?{qs}" if qs else base


bp.add_app_template_global(facet_value)  # (portal/facet_rows.py: a row of the filter panel)


def _render_search(params: SearchParams, result, error: str | None, status: int = 200):
    return render_template(
        "search.html",
        params=params,
        result=result,
        error=error,
        kinds=SEARCH_KINDS,
        sorts={key: SORT_LABELS.get(key, key) for key in SORTS},
        page_sizes=PAGE_SIZES,
        export_query=urlencode([p for p in request.args.items(multi=True) if p[0] != "page"]),
        record_url=record_links(url_for("views.record_page", uid="-")),
    ), status


@bp.get("/")
def search_page():
    try:
        params = parse_params(request.args, current_app.config["PORTAL_PAGE_SIZE"])
    except InvalidQuery as exc:
        return _render_search(SearchParams(), None, str(exc), 400)
    try:
        result = current_search().search(params)
    except SearchRejected as exc:
        # Shown on the search form, like an invalid parameter, so the search can be changed.
        return _render_search(params, None, str(exc), 400)
    record_demand(params, result["lines"])  # memory only; never fails the search
    return _render_search(params, result, None)


@bp.get("/records/<path:uid>")
def record_page(uid: str):
    search = current_search()
    doc = search.record(uid)
    if doc is None:
        abort(404, f"There is no record {uid!r} in the alliance catalogue.")
    related = search.related(doc)
    if doc["kind"] == "cell_line":
        related["coa"] = coa_links(doc, _node_url(doc["node_id"]))
    today = dt.date.today()
    record = doc.get("record", {})
    page_url = url_for("views.record_page", uid=doc["uid"], _external=True)
    ld = jsonld_for(
        doc, related, page_url, lambda u: url_for("views.record_page", uid=u, _external=True)
    )
    ld = with_miabis(ld, doc)
    template = {
        "cell_line": "record_cell_line.html",
        "collection": "record_collection.html",
        "biobank": "record_biobank.html",
    }.get(doc["kind"], "record.html")
    return render_template(
        template,
        doc=doc,
        record=record,
        related=related,
        today=today,
        view=records.present(doc, related, today),
        jsonld=script_json(ld),
        str_shared=str_search().shared_with(doc) if doc["kind"] == "cell_line" else None,
    )


def _node_url(node_id: str) -> str | None:
    """A member node's base URL from the member registry (certificates are served there);
    None when the registry cannot say."""
    try:
        members = current_access().members()
    except (KeyError, OSError, ValueError):
        return None
    return next((m.url for m in members if m.id == node_id), None)


@bp.get("/standards")
def standards_page():
    """The quality standards, their attributes and the evidence each counts."""
    return render_template("standards.html", standards=list(standards().values()))


@bp.get("/federation")
def federation_page():
    """Each member node's sync: last success, lag, errors, quarantined records."""
    nodes = current_search().node_states()
    return render_template("federation.html", nodes=nodes)
