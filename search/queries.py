"""Pure functions from search parameters to engine requests and back: no I/O here.

Facet counts stay correct under selection: hits are narrowed by a post_filter with every
selected facet, while each facet's counts are filtered by all the *other* facets only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from search.facets import FACETS, FACETS_BY_NAME, Facet

KINDS = ("cell_line", "collection", "biobank")
SORTS = {
    "relevance": ["_score", {"name.sort": "asc"}],
    "name": [{"name.sort": "asc"}],
    "recent": [{"modified": "desc"}, {"name.sort": "asc"}],
}
MAX_WINDOW = 10_000  # the engine's default max_result_window
MAX_QUERY = 500
MAX_VALUE = 200


class InvalidQuery(ValueError):
    """Parameters a search cannot run with; the message says which and why."""


@dataclass
class SearchParams:
    q: str = ""
    kind: str = "cell_line"
    filters: dict[str, list[str]] = field(default_factory=dict)
    page: int = 1
    size: int = 20
    sort: str = "relevance"


def _int(args: Mapping[str, Any], name: str, default: int, lo: int, hi: int) -> int:
    raw = args.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise InvalidQuery(f"'{name}' must be a whole number, got {raw!r}") from None
    if not lo <= value <= hi:
        raise InvalidQuery(f"'{name}' must be between {lo} and {hi}, got {value}")
    return value


def parse_params(args: Any, default_size: int = 20) -> SearchParams:
    """Read search parameters from a MultiDict-like (``getlist``) mapping, strictly."""
    q = (args.get("q") or "").strip()
    if len(q) > MAX_QUERY:
        raise InvalidQuery(f"'q' is longer than {MAX_QUERY} characters")
    kind = args.get("kind") or "cell_line"
    if kind not in KINDS:
        raise InvalidQuery(f"'kind' must be one of {', '.join(KINDS)}, got {kind!r}")
    sort = args.get("sort") or "relevance"
    if sort not in SORTS:
        raise InvalidQuery(f"'sort' must be one of {', '.join(SORTS)}, got {sort!r}")
    size = _int(args, "size", default_size, 1, 100)
    page = _int(args, "page", 1, 1, MAX_WINDOW // size)
    filters: dict[str, list[str]] = {}
    for facet in FACETS:
        values = [v for v in args.getlist(facet.name) if v != ""]
        for value in values:
            if len(value) > MAX_VALUE:
                raise InvalidQuery(f"a '{facet.name}' value is longer than {MAX_VALUE} characters")
            if facet.type == "flag" and value != "true":
                raise InvalidQuery(f"'{facet.name}' can only be 'true', got {value!r}")
        if values:
            filters[facet.name] = sorted(set(values))
    return SearchParams(q=q, kind=kind, filters=filters, page=page, size=size, sort=sort)


def text_query(q: str) -> dict[str, Any]:
    """Exact identifiers first (WAe009-A, CVCL_9773, H9), then names, then all text with typos."""
    if not q:
        return {"match_all": {}}
    return {
        "bool": {
            "should": [
                {"term": {"identifiers": {"value": q.lower(), "boost": 20}}},
                {"term": {"synonyms.exact": {"value": q.lower(), "boost": 15}}},
                {"match_phrase": {"name": {"query": q, "boost": 5}}},
                {"match": {"all_text": {"query": q, "operator": "and", "boost": 2}}},
                {"match": {"all_text": {"query": q, "fuzziness": "AUTO", "prefix_length": 1}}},
            ],
            "minimum_should_match": 1,
        }
    }


def _facet_agg(facet: Facet, others: list[dict[str, Any]], today: dt.date) -> dict[str, Any]:
    inner: dict[str, Any]
    if facet.type == "flag":
        inner = {"filter": facet.clause(["true"], today)}
    else:
        inner = {"terms": {"field": facet.field, "size": facet.size}}
    return {
        "filter": {"bool": {"filter": others}} if others else {"match_all": {}},
        "aggs": {"values": inner},
    }


def build_search(params: SearchParams, today: dt.date) -> dict[str, Any]:
    """The engine request for a search page: hits, highlights and facet counts."""
    clauses = {
        name: FACETS_BY_NAME[name].clause(values, today) for name, values in params.filters.items()
    }
    aggs = {
        facet.name: _facet_agg(facet, [c for n, c in clauses.items() if n != facet.name], today)
        for facet in FACETS
    }
    body: dict[str, Any] = {
        "query": {
            "bool": {"must": [text_query(params.q)], "filter": [{"term": {"kind": params.kind}}]}
        },
        "aggs": aggs,
        "from": (params.page - 1) * params.size,
        "size": params.size,
        "sort": SORTS[params.sort],
        "track_total_hits": True,
        "_source": {"excludes": ["all_text"]},
        "highlight": {
            "fields": {"description": {}, "synonyms": {}, "name": {}},
            "pre_tags": ["<mark>"],
            "post_tags": ["</mark>"],
            "encoder": "html",
        },
    }
    if clauses:
        body["post_filter"] = {"bool": {"filter": list(clauses.values())}}
    return body


def read_facets(aggregations: Mapping[str, Any], params: SearchParams) -> list[dict[str, Any]]:
    """Facet values with counts, in declaration order, marking the selected ones."""
    facets = []
    for facet in FACETS:
        selected = set(params.filters.get(facet.name, []))
        agg = aggregations.get(facet.name, {}).get("values", {})
        if facet.type == "flag":
            values = [{"value": "true", "count": agg.get("doc_count", 0)}]
        else:
            values = [
                {
                    "value": b["key_as_string"] if "key_as_string" in b else b["key"],
                    "count": b["doc_count"],
                }
                for b in agg.get("buckets", [])
            ]
        present = {v["value"] for v in values}
        # A selected value with no hits left still shows, so it can be unticked.
        values += [{"value": v, "count": 0} for v in sorted(selected - present)]
        for v in values:
            v["selected"] = v["value"] in selected
        facets.append(
            {"name": facet.name, "label": facet.label, "type": facet.type, "values": values}
        )
    return facets
