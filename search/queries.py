"""Pure functions from search parameters to engine requests and back: no I/O here.

Facet counts stay correct under selection: hits are narrowed by every selected facet, while
each facet's counts are filtered by all the *other* facets only (and by its own selection too
when its values are AND-ed, since then ticking one more narrows).
The outer filter of each facet's aggregation is therefore also "what you would get without
this facet", which the zero-results help reads to say which filter to relax.

Cell lines held by several biobanks collapse into one hit per ``line_key``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from search.facets import (
    FACETS,
    FACETS_BY_NAME,
    Facet,
    InvalidQuery,
    Selection,
    check_text,
    parse_int,
)

# Everything other modules import from here (InvalidQuery is re-exported from search.facets).
__all__ = [
    "KNOWN_PARAMS",
    "SEARCH_KINDS",
    "SORTS",
    "SOURCE_FIELDS",
    "InvalidQuery",
    "SearchBodies",
    "SearchParams",
    "build_biobank_line_count",
    "build_collection_line_count",
    "build_collections_of",
    "build_export",
    "build_help",
    "build_labels",
    "build_search",
    "build_sources",
    "build_suggest",
    "parse_params",
    "read_facets",
    "read_relax",
    "read_suggestion",
    "read_totals",
]

SEARCH_KINDS = ("cell_line", "collection", "biobank")  # what a search may ask for
SORTS: dict[str, list[Any]] = {
    "relevance": ["_score", {"name.sort": "asc"}],
    "name": [{"name.sort": "asc"}],
    "recent": [{"modified": "desc"}, {"name.sort": "asc"}],
    "vials": [
        {"vials_available": {"order": "desc", "missing": "_last", "unmapped_type": "integer"}},
        {"name.sort": "asc"},
    ],
}
DEFAULT_SIZE = 20
MAX_WINDOW = 10_000  # the engine's default max_result_window
MAX_QUERY = 500
MAX_WORDS = 32
BASE_PARAMS = ("q", "kind", "page", "size", "sort")
KNOWN_PARAMS = frozenset(BASE_PARAMS) | {p for f in FACETS for p in f.params}
HIT_SOURCE_EXCLUDES = [
    "record",
    "disease_code_labels",
    "disease_paths",
    "cell_type_paths",
    "content_hash",
    "seq",
    "schema_version",
]
SOURCE_FIELDS = [
    "uid",
    "node_id",
    "local_id",
    "name",
    "line_key",
    "line_ids",
    "biobank_name",
    "country",
    "availability",
    "vials_available",
    "qc_passed",
    "iso20387_valid_until",
]


@dataclass
class SearchParams:
    q: str = ""
    kind: str = "cell_line"
    selections: dict[str, Selection] = field(default_factory=dict)
    page: int = 1
    size: int = DEFAULT_SIZE
    sort: str = "relevance"

    @property
    def grouped(self) -> bool:
        """Cell lines are grouped: one hit per line, however many biobanks hold it."""
        return self.kind == "cell_line"

    def args(self, drop: str | None = None, **replace: Any) -> list[tuple[str, str]]:
        """URL parameters for these parameters (optionally without one facet), in a stable
        order; the first page unless ``page`` is given."""
        pairs: list[tuple[str, str]] = []
        if self.q:
            pairs.append(("q", self.q))
        pairs.append(("kind", self.kind))
        for name, sel in self.selections.items():
            if name != drop:
                pairs += FACETS_BY_NAME[name].args(sel)
        if self.sort != "relevance":
            pairs.append(("sort", self.sort))
        if self.size != DEFAULT_SIZE:
            pairs.append(("size", str(self.size)))
        for key, value in replace.items():
            pairs = [p for p in pairs if p[0] != key]
            if value not in (None, ""):
                pairs.append((key, str(value)))
        return pairs


def _int(args: Mapping[str, Any], name: str, default: int, lo: int, hi: int) -> int:
    value = parse_int(args, name, lo, hi)
    return default if value is None else value


def parse_params(args: Any, default_size: int = DEFAULT_SIZE) -> SearchParams:
    """Read search parameters from a MultiDict-like (``getlist``) mapping, strictly: an
    unknown parameter or a value no facet can hold is an error, not silently ignored."""
    unknown = sorted(set(args.keys()) - KNOWN_PARAMS)
    if unknown:
        raise InvalidQuery(
            f"unknown parameter {unknown[0]!r}; search takes {', '.join(BASE_PARAMS)} and the "
            f"facet parameters {', '.join(f.name for f in FACETS)}"
        )
    for name in BASE_PARAMS:
        if len(args.getlist(name)) > 1:
            raise InvalidQuery(f"'{name}' is given more than once")
    q = check_text("q", (args.get("q") or "").strip(), MAX_QUERY)
    if len(q.split()) > MAX_WORDS:
        raise InvalidQuery(f"'q' has more than {MAX_WORDS} words")
    kind = args.get("kind") or "cell_line"
    if kind not in SEARCH_KINDS:
        raise InvalidQuery(f"'kind' must be one of {', '.join(SEARCH_KINDS)}, got {kind!r}")
    sort = args.get("sort") or "relevance"
    if sort not in SORTS:
        raise InvalidQuery(f"'sort' must be one of {', '.join(SORTS)}, got {sort!r}")
    size = _int(args, "size", default_size, 1, 100)
    page = _int(args, "page", 1, 1, MAX_WINDOW // size)
    selections = {}
    for facet in FACETS:
        sel = facet.parse(args)
        if sel is not None:
            selections[facet.name] = sel
    return SearchParams(q=q, kind=kind, selections=selections, page=page, size=size, sort=sort)


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


def highlight_query(q: str) -> dict[str, Any]:
    """What highlights mark: the words as typed. Marking typo variants too costs as much as
    the search itself; a hit found only through a typo gets a did-you-mean instead."""
    return {"match": {"all_text": {"query": q}}}


def clauses(params: SearchParams, today: dt.date) -> dict[str, dict[str, Any]]:
    """Each selected facet's filter, by facet name."""
    return {
        name: FACETS_BY_NAME[name].clause(sel, today) for name, sel in params.selections.items()
    }


def _bool_filter(filters: list[dict[str, Any]]) -> dict[str, Any]:
    return {"bool": {"filter": filters}} if filters else {"match_all": {}}


def _facet_agg(
    facet: Facet, params: SearchParams, selected: dict[str, dict[str, Any]], today: dt.date
) -> dict[str, Any]:
    sel = params.selections.get(facet.name)
    others = [c for n, c in selected.items() if n != facet.name]
    outer: dict[str, Any] = {"filter": _bool_filter(others)}
    if facet.hidden:
        return outer  # only its doc_count: what dropping this filter would give
    inner = facet.agg(sel, today)
    if facet.count_own_selection(sel):
        inner = {"own": {"filter": selected[facet.name], "aggs": inner}}
    outer["aggs"] = inner
    return outer


def base_query(params: SearchParams) -> dict[str, Any]:
    return {"bool": {"must": [text_query(params.q)], "filter": [{"term": {"kind": params.kind}}]}}


class SearchBodies(NamedTuple):
    """A search page is two engine requests, sent together (msearch).

    ``counts`` holds every aggregation and no hits (size 0), so the engine's request cache
    can answer a repeated search's facet counts, the costly part, without recomputing them;
    ``hits`` holds the page of hits, with every filter applied, and no aggregation.
    """

    counts: dict[str, Any]
    hits: dict[str, Any]


def build_search(params: SearchParams, today: dt.date) -> SearchBodies:
    """The engine requests for a search page: facet counts, and hits with highlights."""
    selected = clauses(params, today)
    aggs = {
        facet.name: _facet_agg(facet, params, selected, today)
        for facet in FACETS
        if not facet.hidden or facet.name in selected
    }
    # Records matching everything; for cell lines, also how many distinct lines they are
    # (exact up to the threshold, then within about 1%).
    aggs["matching"] = {"filter": _bool_filter(list(selected.values()))}
    if params.grouped:
        aggs["matching"]["aggs"] = {
            "lines": {"cardinality": {"field": "line_key", "precision_threshold": 10_000}}
        }
    counts = {
        "size": 0,
        "query": base_query(params),
        "aggs": aggs,
        "track_total_hits": False,
    }
    query = base_query(params)
    query["bool"]["filter"] += list(selected.values())
    hits: dict[str, Any] = {
        "query": query,
        "from": (params.page - 1) * params.size,
        "size": params.size,
        "sort": SORTS[params.sort],
        "track_total_hits": False,
        "_source": {"excludes": HIT_SOURCE_EXCLUDES},
    }
    if params.q:
        hits["highlight"] = {
            "fields": {
                "name": {"number_of_fragments": 0},
                "synonyms": {"number_of_fragments": 0},
                "description": {"fragment_size": 200, "number_of_fragments": 1},
            },
            "require_field_match": False,
            "highlight_query": highlight_query(params.q),
            "pre_tags": ["<mark>"],
            "post_tags": ["</mark>"],
            "encoder": "html",
        }
    if params.grouped:
        hits["collapse"] = {"field": "line_key"}
    return SearchBodies(counts, hits)


def read_totals(aggregations: Mapping[str, Any]) -> tuple[int, int]:
    """(records, lines) matching the search, from the counts request."""
    matching = aggregations.get("matching", {})
    records = matching.get("doc_count", 0)
    lines = matching.get("lines", {}).get("value", records)
    return records, min(lines, records)


def build_sources(ids: list[str], limit: int = 500) -> dict[str, Any]:
    """Every record of the lines with these registry ids, whichever biobank holds it."""
    return {
        "query": {
            "bool": {"filter": [{"term": {"kind": "cell_line"}}, {"terms": {"line_ids": ids}}]}
        },
        "size": limit,
        "_source": SOURCE_FIELDS,
        "sort": [{"biobank_name": "asc"}, {"uid": "asc"}],
    }


def build_labels() -> dict[str, Any]:
    """Names of networks and labels of disease codes, as the nodes publish them, in one
    request: the hits are the networks, the counts run over every record (aggregations
    ignore the post_filter)."""
    return {
        "size": 1000,
        "post_filter": {"term": {"kind": "network"}},
        "_source": ["local_id", "name"],
        "aggs": {"diseases": {"terms": {"field": "disease_code_labels", "size": 10_000}}},
    }


def build_collections_of(node: str, biobank: str) -> dict[str, Any]:
    """The collections of one biobank of a node, by name, as its record page lists them."""
    return {
        "size": 100,
        "query": {
            "bool": {
                "filter": [
                    {"term": {"kind": "collection"}},
                    {"term": {"node_id": node}},
                    {"term": {"biobank_id": biobank}},
                ]
            }
        },
        "_source": ["uid", "name", "description", "materials", "size"],
        "sort": [{"name.sort": "asc"}],
    }


def _line_count(where: dict[str, Any]) -> dict[str, Any]:
    return {
        "size": 0,
        "track_total_hits": True,
        "query": {"bool": {"filter": [{"term": {"kind": "cell_line"}}, where]}},
    }


def build_collection_line_count(collection_uid: str) -> dict[str, Any]:
    """How many cell-line records a collection holds (the total hits; no hits returned)."""
    return _line_count({"term": {"collection_uid": collection_uid}})


def build_biobank_line_count(node: str, biobank: str) -> dict[str, Any]:
    """How many cell-line records one biobank of a node holds (the total hits)."""
    return _line_count(
        {"bool": {"filter": [{"term": {"node_id": node}}, {"term": {"biobank_id": biobank}}]}}
    )


def _suggest(q: str) -> dict[str, Any]:
    return {
        "text": q,
        "words": {
            "term": {
                "field": "suggest_text",
                "suggest_mode": "missing",
                "prefix_length": 0,
                "min_word_length": 3,
                "size": 1,
            }
        },
    }


def build_suggest(q: str) -> dict[str, Any]:
    """The closest indexed names, synonyms and terms to each word the index does not know."""
    return {"size": 0, "track_total_hits": False, "suggest": _suggest(q)}


def build_help(params: SearchParams, today: dt.date) -> dict[str, Any]:
    """For a search with no hits: how many the filters give without the words, and the
    closest indexed names, synonyms and terms to each word (did you mean)."""
    body: dict[str, Any] = {
        "size": 0,
        "track_total_hits": True,
        "query": _bool_filter([{"term": {"kind": params.kind}}, *clauses(params, today).values()]),
    }
    if params.q:
        body["suggest"] = _suggest(params.q)
    return body


def read_suggestion(q: str, suggest: Mapping[str, Any]) -> str | None:
    """The query with each unknown word replaced by its closest indexed word, if any."""
    out, changed, last = [], False, 0
    for entry in suggest.get("words", []):
        if not entry.get("options"):
            continue
        start, end = entry["offset"], entry["offset"] + entry["length"]
        out += [q[last:start], entry["options"][0]["text"]]
        last, changed = end, True
    out.append(q[last:])
    return "".join(out) if changed else None


def build_export(
    params: SearchParams, today: dt.date, size: int, after: list[Any] | None = None
) -> dict[str, Any]:
    """One page of an export: every matching record (not grouped), in a stable order."""
    query = base_query(params)
    query["bool"]["filter"] += list(clauses(params, today).values())
    body: dict[str, Any] = {
        "query": query,
        "size": size,
        "sort": [*SORTS[params.sort], {"uid": "asc"}],
        "_source": {"excludes": ["disease_code_labels"]},
        "track_total_hits": True,
    }
    if after is not None:
        body["search_after"] = after
    return body


def read_facets(
    aggregations: Mapping[str, Any], params: SearchParams, labels: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """Facet values with counts, in declaration order, marking the selected ones."""
    labels = labels or {}
    facets = []
    for facet in FACETS:
        if facet.hidden:
            continue
        sel = params.selections.get(facet.name)
        agg = aggregations.get(facet.name, {})
        if "own" in agg:
            agg = agg["own"]
        entry: dict[str, Any] = {
            "name": facet.name,
            "label": facet.label,
            "type": facet.type,
            "values": facet.read(agg, sel, labels),
        }
        if getattr(facet, "combinable", False):
            entry["op"] = sel.op if sel else facet.op
        if sel and facet.type == "range":
            entry["min"], entry["max"] = sel.low, sel.high
        facets.append(entry)
    return facets


def read_relax(
    aggregations: Mapping[str, Any], params: SearchParams, labels: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """For each selected facet, how many hits there would be without it (most first)."""
    labels = labels or {}
    out = []
    for name, sel in params.selections.items():
        facet = FACETS_BY_NAME[name]
        out.append(
            {
                "facet": name,
                "label": facet.label,
                "selection": facet.describe(sel, labels),
                "count": aggregations.get(name, {}).get("doc_count", 0),
                "args": params.args(drop=name),
            }
        )
    return sorted(out, key=lambda r: -r["count"])
