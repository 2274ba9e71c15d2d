"""The STR search's page (``/str``, a plain GET form: it works without JavaScript and a search
is a URL) and its JSON API (``POST /api/v1/str-search``). Thin over portal/str_search.py."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request

from portal.service import current_search
from portal.str_search import RELATIONS, StrQueryError, StrSearch, read_query, thresholds
from search.str_profiles import ALGORITHMS, CLASTR_MIN_SCORE

bp = Blueprint("str", __name__)

ALGORITHM_LABELS = {
    "tanabe": "Tanabe (2 × shared / all alleles of both)",
    "masters_query": "Masters vs query (shared / query alleles)",
    "masters_reference": "Masters vs reference (shared / reference alleles)",
}


def str_search() -> StrSearch:
    """The STR search over the catalogue search of the app handling this request."""
    return StrSearch(current_search(), current_app.config["STR_CANDIDATES"])


@bp.get("/str")
def str_page():
    args = request.args
    result, error, status = None, None, 200
    if "profile" in args:
        try:
            query = read_query(args, current_app.config["STR_RESULTS_MAX"], form=True)
            result = str_search().run(query)
        except StrQueryError as exc:
            error, status = exc, 400
    return render_template(
        "str_search.html",
        args=args,
        result=result,
        error=error,
        algorithms={a: ALGORITHM_LABELS[a] for a in ALGORITHMS},
        default_min_score=CLASTR_MIN_SCORE,
        thresholds=thresholds(),
        relations=RELATIONS,
    ), status


@bp.post("/api/v1/str-search")
def str_api():
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        abort(400, 'send a JSON object: {"profile": "D5S818: 11,12\\nTH01: 6,9.3", ...}')
    try:
        query = read_query(data, current_app.config["STR_RESULTS_MAX"])
    except StrQueryError as exc:
        abort(400, str(exc))
    return str_search().run(query)
