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
from functools import lru_cache
from typing import Any, NamedTuple

from search.donors import donor_aggs
from search.facets import (
    FACETS,
    FACETS_BY_NAME,
    Facet,
    FlagFacet,
    HierarchyFacet,
    InvalidQuery,
    Selection,
    TermsFacet,
    check_text,
    parse_int,
)
from search.identifiers import (
    Identifier,
    Token,
    classify,
    code_like,
    exact_word,
    recognise,
)
from search.relations import RELATIVE_SOURCE, bind, relation_clauses

# Everything other modules import from here (InvalidQuery is re-exported from search.facets).
__all__ = [
    "ALERT_FIELDS",
    "BEACON_FIELDS",
    "BEACON_OPEN_FACETS",
    "BEACON_SOURCE",
    "KNOWN_PARAMS",
    "SEARCH_KINDS",
    "SORTS",
    "SOURCE_FIELDS",
    "BeaconTerm",
    "InvalidQuery",
    "SearchBodies",
    "SearchParams",
    "build_beacon_count",
    "build_beacon_filtering_values",
    "build_beacon_records",
    "build_alert_matches",
    "build_biobank_line_count",
    "build_catalogue_values",
    "build_changed_lines",
    "build_collection_line_count",
    "build_collections_of",
    "build_export",
    "build_help",
    "build_identify",
    "build_labels",
    "build_search",
    "build_sources",
    "build_suggest",
    "parse_params",
    "read_beacon_count",
    "read_beacon_filtering_values",
    "read_beacon_records",
    "read_catalogue_values",
    "read_facets",
    "read_identify",
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
FACET_PARAMS = tuple((f, frozenset(f.params)) for f in FACETS)  # each facet's URL parameters
# The facets the panel shows, and whether each says how its values combine (any or all).
PANEL_FACETS = tuple(
    (f, isinstance(f, (TermsFacet, HierarchyFacet)) and f.combinable)
    for f in FACETS
    if not f.hidden
)
HIT_SOURCE_EXCLUDES = [
    "record",
    "str_loci",  # the STR search's own fields (search/str_queries.py)
    "str_typed",
    "str_homozygous",
    "str_untyped",
    "str_profile",
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
    "standards_met",
]


@dataclass
class SearchParams:
    q: str = ""
    kind: str = "cell_line"
    selections: dict[str, Selection] = field(default_factory=dict)
    page: int = 1
    size: int = DEFAULT_SIZE
    sort: str = "relevance"
    # Set by the search service, never from the URL: identifiers the index resolved the
    # query's identifiers and code-like words to (same lines: searched like typed ones), and
    # the labelled fallback to any word when no line matches all of them.
    also: tuple[str, ...] = ()
    any_word: bool = False
    # Also set by the service: donor keys with several lines (search/donors.py), and the
    # donor keys and lines the identified lines name, found after them (relations).
    donor_keys: tuple[str, ...] | None = None
    relatives: tuple[str, ...] = ()

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
    given = set(args.keys())
    unknown = sorted(given - KNOWN_PARAMS)
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
    for facet, own in FACET_PARAMS:
        if given.isdisjoint(own):
            continue  # (a facet whose parameters are absent selects nothing)
        sel = facet.parse(args)
        if sel is not None:
            selections[facet.name] = sel
    return SearchParams(q=q, kind=kind, selections=selections, page=page, size=size, sort=sort)


def _identified(q: str, also: tuple[str, ...] = ()) -> tuple[list[Identifier], list[Token]]:
    """The query's identifiers (by shape, and the words the service resolved: ``also``,
    then the identifiers of the same lines) and its other tokens."""
    ids, rest = recognise(q)
    resolved = {a.lower() for a in also}
    words = []
    for token in rest:
        if token.text.lower() in resolved:
            ids.append(classify(token.text) or Identifier("code", token.text))
        else:
            words.append(token)
    if ids:
        for extra in also:
            found = classify(extra) or Identifier("code", extra)
            if found.value not in {i.value for i in ids}:
                ids.append(found)
    return ids, words


def _word_clause(token: Token) -> dict[str, Any]:
    """One word (or quoted phrase), in any field: exactly for identifiers, codes and alleles,
    with typo tolerance for other words."""
    text = token.text
    if token.quoted or " " in text:
        return {"match_phrase": {"all_text": {"query": text}}}
    match: dict[str, Any] = {"query": text, "operator": "and"}
    should: list[dict[str, Any]] = [
        {"term": {"identifiers": {"value": text.lower(), "boost": 10}}},
        {"term": {"synonyms.exact": {"value": text.lower(), "boost": 8}}},
        {"match": {"all_text": match}},
    ]
    if not exact_word(text):
        match.update(fuzziness="AUTO", prefix_length=1)
        if len(text) >= 3:  # the start of a synonym: kolf for kolf_2
            should.append({"prefix": {"synonyms.exact": {"value": text.lower(), "boost": 2}}})
    return {"bool": {"should": should, "minimum_should_match": 1}}


def _identifier_query(
    ids: list[Identifier], words: list[Token], relatives: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The lines the identifiers name first, then their relations (derivatives, lines of the
    same donor), and nothing else; other words only order them."""
    values = sorted({i.value for i in ids})
    line_ids = sorted({i.line_id for i in ids if i.line_id})
    exact: list[dict[str, Any]] = [{"terms": {"identifiers": values}}]
    if line_ids:
        exact.append({"terms": {"line_ids": line_ids}})
    found: list[dict[str, Any]] = [
        {"constant_score": {"filter": {"bool": {"should": exact}}, "boost": 100}}
    ]
    for i in ids:
        # A derivative is named after its parent or mentions it.
        derived: list[dict[str, Any]] = [
            {"prefix": {"identifiers": p}} for p in i.derivative_prefixes()
        ]
        if i.kind != "lot":
            derived.append({"match_phrase": {"all_text": {"query": i.text}}})
        if derived:  # (an empty should would match everything)
            found.append({"constant_score": {"filter": {"bool": {"should": derived}}, "boost": 10}})
        for pattern in i.donor_patterns():
            found.append(
                {"constant_score": {"filter": {"wildcard": {"identifiers": pattern}}, "boost": 5}}
            )
    found += relation_clauses(values, relatives)
    query: dict[str, Any] = {"must": [{"bool": {"should": found, "minimum_should_match": 1}}]}
    if words:
        query["should"] = [_word_clause(t) for t in words]
    return {"bool": query}


def text_query(
    q: str, also: tuple[str, ...] = (), any_word: bool = False, relatives: tuple[str, ...] = ()
) -> dict[str, Any]:
    """What the words select and how they rank (search/identifiers.py has the rules).

    A query that is, or contains, a registry identifier finds that line, then its relations,
    and stops. Otherwise every word must match, in any field (``any_word``: at least one),
    exactly for identifiers, codes and alleles, with typo tolerance for other words; the
    whole query as a synonym, a name or a phrase ranks first.
    """
    if not q:
        return {"match_all": {}}
    ids, words = _identified(q, also)
    if ids:
        return _identifier_query(ids, words, relatives)
    if not words:
        return {"match_all": {}}
    whole = " ".join(t.text for t in words)
    ranking = [
        {"term": {"synonyms.exact": {"value": whole.lower(), "boost": 15}}},
        {"match_phrase": {"name": {"query": whole, "boost": 5}}},
        {"match_phrase": {"all_text": {"query": whole, "boost": 2}}},
    ]
    each = [_word_clause(t) for t in words]
    if any_word or len(each) == 1:
        return {"bool": {"should": [*each, *ranking], "minimum_should_match": 1}}
    return {"bool": {"must": each, "should": ranking}}


def highlight_query(q: str, also: tuple[str, ...] = ()) -> dict[str, Any]:
    """What highlights mark: the words as typed, and identifiers as phrases. Marking typo
    variants too costs as much as the search itself; a hit found only through a typo gets a
    did-you-mean instead."""
    ids, words = _identified(q, also)
    if not ids:
        return {"match": {"all_text": {"query": " ".join(t.text for t in words) or q}}}
    should: list[dict[str, Any]] = [
        {"match_phrase": {"all_text": {"query": i.text}}} for i in ids if i.kind != "lot"
    ]
    if words:
        should.append({"match": {"all_text": {"query": " ".join(t.text for t in words)}}})
    return {"bool": {"should": should or [{"match_phrase": {"all_text": {"query": q}}}]}}


def build_identify(q: str, limit: int = 50) -> dict[str, Any] | None:
    """The records whose identifiers (or synonyms) are the query's identifiers or code-like
    words, with the registry ids of their lines: what resolving them needs. None when the
    query has no such word."""
    ids, rest = recognise(q)
    words = {i.value for i in ids} | {
        t.text.lower() for t in rest if not t.quoted and code_like(t.text)
    }
    if not words:
        return None
    line_ids = sorted({i.line_id for i in ids if i.line_id})
    match: list[dict[str, Any]] = [
        {"terms": {"identifiers": sorted(words)}},
        {"terms": {"synonyms.exact": sorted(words)}},
    ]
    if line_ids:
        match.append({"terms": {"line_ids": line_ids}})
    return {
        "size": limit,
        "track_total_hits": False,
        "query": {
            "bool": {
                "filter": [
                    {"term": {"kind": "cell_line"}},
                    {"bool": {"should": match, "minimum_should_match": 1}},
                ]
            }
        },
        "_source": ["identifiers", "synonyms", "hpscreg_name", "cellosaurus_ac", "biosamples_id"]
        + RELATIVE_SOURCE,
    }


def read_identify(q: str, resp: Mapping[str, Any]) -> tuple[str, ...]:
    """From :func:`build_identify`'s answer: the query's words that are some record's
    identifier or synonym, and the registry ids of those records' lines (for ``also``)."""
    ids, rest = recognise(q)
    wanted = {i.value for i in ids} | {t.text.lower() for t in rest if not t.quoted}
    out: dict[str, None] = {}
    for hit in resp.get("hits", {}).get("hits", []):
        src = hit.get("_source", {})
        names = [*src.get("identifiers", []), *src.get("synonyms", [])]
        matched = [n for n in names if n.lower() in wanted]
        registry = [src.get(k) for k in ("hpscreg_name", "cellosaurus_ac", "biosamples_id")]
        if matched or any(r and r.lower() in wanted for r in registry):
            for name in matched + [r for r in registry if r]:
                out.setdefault(name, None)
    return tuple(out)


def clauses(params: SearchParams, today: dt.date) -> dict[str, dict[str, Any]]:
    """Each selected facet's filter, by facet name."""
    return {
        name: bind(FACETS_BY_NAME[name], params).clause(sel, today)
        for name, sel in params.selections.items()
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


def _facet_aggs(
    params: SearchParams, selected: dict[str, dict[str, Any]], today: dt.date
) -> dict[str, Any]:
    """Every facet's aggregation, in declaration order. A facet with no selection counts
    under every selected filter (one shared dict), and its own part depends only on the
    facet and the day, so it is built once a day (:func:`_plain_agg`)."""
    everything = _bool_filter(list(selected.values()))
    aggs: dict[str, Any] = {}
    for facet in FACETS:
        if facet.name in selected:
            aggs[facet.name] = _facet_agg(bind(facet, params), params, selected, today)
        elif not facet.hidden:
            bound = bind(facet, params)
            inner = _plain_agg(facet.name, today) if bound is facet else bound.agg(None, today)
            aggs[facet.name] = {"filter": everything, "aggs": inner}
    return aggs


@lru_cache(maxsize=256)
def _plain_agg(name: str, today: dt.date) -> dict[str, Any]:
    # Shared by every search of the day: request bodies are only serialised, never changed.
    return FACETS_BY_NAME[name].agg(None, today)


def base_query(params: SearchParams, text: dict[str, Any] | None = None) -> dict[str, Any]:
    if text is None:
        text = text_query(params.q, params.also, params.any_word, params.relatives)
    return {"bool": {"must": [text], "filter": [{"term": {"kind": params.kind}}]}}


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
    aggs = _facet_aggs(params, selected, today)
    # Records matching everything; for cell lines, also how many distinct lines they are
    # (exact up to the threshold, then within about 1%).
    aggs["matching"] = {"filter": _bool_filter(list(selected.values()))}
    if params.grouped:
        aggs["matching"]["aggs"] = {
            "lines": {"cardinality": {"field": "line_key", "precision_threshold": 10_000}},
            **donor_aggs(),  # "N lines from M donors"
        }
    text = text_query(params.q, params.also, params.any_word, params.relatives)  # once: both
    counts = {
        "size": 0,
        "query": base_query(params, text),
        "aggs": aggs,
        "track_total_hits": False,
    }
    query = base_query(params, text)
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
            "highlight_query": highlight_query(params.q, params.also),
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
        "aggs": {
            "diseases": {"terms": {"field": "disease_code_labels", "size": 10_000}},
            "resources": {"terms": {"field": "research_resource_variants", "size": 1000}},
        },
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
    for facet, has_op in PANEL_FACETS:
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
        if has_op:
            entry["op"] = sel.op if sel else facet.op  # type: ignore[attr-defined]
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


# -- saved searches and unmet demand (portal/alerts/) ----------------------------------------
ALERT_FIELDS = [
    "uid",
    "node_id",
    "local_id",
    "name",
    "seq",
    "modified",
    "biobank_name",
    "country",
    "availability",
    "cell_type",
    "hpscreg_name",
]
"""What an alert, a notification and an Atom entry say about a line."""


def build_changed_lines(
    node: str, after: int, upto: int, size: int, search_after: list[Any] | None = None
) -> dict[str, Any]:
    """One page of a node's cell-line records whose sequence is in (``after``, ``upto``],
    in sequence order: what the alerts' ledger of lines reads (portal/alerts/jobs.py)."""
    body: dict[str, Any] = {
        "size": size,
        "query": {
            "bool": {
                "filter": [
                    {"term": {"kind": "cell_line"}},
                    {"term": {"node_id": node}},
                    {"range": {"seq": {"gt": after, "lte": upto}}},
                ]
            }
        },
        "sort": [{"seq": "asc"}, {"uid": "asc"}],
        "_source": ["uid", "node_id", "seq", "availability"],
        "track_total_hits": False,
    }
    if search_after is not None:
        body["search_after"] = search_after
    return body


def build_alert_matches(params: SearchParams, today: dt.date, uids: list[str]) -> dict[str, Any]:
    """Which of these records match a saved search now: its words and every filter, as the
    search page applies them, narrowed to ``uids``; one hit per record (not grouped)."""
    query = base_query(params)
    query["bool"]["filter"] += [*clauses(params, today).values(), {"terms": {"uid": list(uids)}}]
    return {
        "query": query,
        "size": len(uids),
        "sort": [{"uid": "asc"}],
        "_source": ALERT_FIELDS,
        "track_total_hits": False,
    }


def build_catalogue_values(biobanks: list[tuple[str, str]], today: dt.date) -> dict[str, Any]:
    """The facet values the cell lines and collections of these biobanks (``(node, biobank
    id)`` pairs) hold, per facet: terms facets by value, hierarchies by node (every ancestor
    too), flags as a count. Range facets have no values to hold. Needs one biobank at least."""
    if not biobanks:
        raise ValueError("build_catalogue_values needs at least one biobank")
    aggs: dict[str, Any] = {}
    for facet in FACETS:
        if isinstance(facet, TermsFacet):
            aggs[facet.name] = {"terms": {"field": facet.field, "size": 1000}}
        elif isinstance(facet, HierarchyFacet):
            aggs[facet.name] = {"terms": {"field": facet.nodes_field, "size": 1000}}
        elif isinstance(facet, FlagFacet):
            aggs[facet.name] = {"filter": facet.filter(today)}
    owned = [
        {"bool": {"filter": [{"term": {"node_id": node}}, {"term": {"biobank_id": biobank}}]}}
        for node, biobank in biobanks
    ]
    return {
        "size": 0,
        "track_total_hits": False,
        "query": {
            "bool": {
                "filter": [
                    {"terms": {"kind": ["cell_line", "collection"]}},
                    {"bool": {"should": owned, "minimum_should_match": 1}},
                ]
            }
        },
        "aggs": aggs,
    }


def read_catalogue_values(aggregations: Mapping[str, Any]) -> dict[str, set[str]]:
    """Facet name -> the values held, from :func:`build_catalogue_values`' answer (a flag
    facet holds ``"true"`` when any record has it)."""
    out: dict[str, set[str]] = {}
    for name, agg in aggregations.items():
        if "buckets" in agg:
            out[name] = {str(b.get("key_as_string", b["key"])) for b in agg["buckets"]}
        elif agg.get("doc_count"):
            out[name] = {"true"}
    return out


# -- Beacon v2 (portal/beacon/) ----------------------------------------------------------------
# A Beacon biosample is a cell-line record: one per biobank that holds the line. A Beacon
# individual is a line's donor. The catalogue has no donor identifier, so an individual is one
# line (its ``line_key``): the same line held by several biobanks is one donor, and lines with
# different keys are different donors.

BEACON_FIELDS = {
    # Exact values a Beacon filter may ask for, besides the facets' selections.
    "cell_type_code": "cell_type",  # a Cell Ontology term without its descendants
    "disease_code": "disease_codes",  # a disease term without its descendants
    "duo_modifier": "duo_modifiers",  # DUO modifiers have no facet
    "line_key": "line_key",  # one individual
    "uid": "uid",  # one biosample
}
BEACON_SOURCE = [
    # What a Beacon record is built from: fields the public search API shows, nothing else of
    # the record (no contacts, lots, QC details or ethnicity) but whether the donor is affected.
    "uid",
    "node_id",
    "local_id",
    "name",
    "description",
    "line_key",
    "hpscreg_name",
    "cellosaurus_ac",
    "biosamples_id",
    "cell_type",
    "cell_type_ontology",
    "tissue_source",
    "donor_sex",
    "donor_age_range",
    "donor_age_low",
    "donor_age_high",
    "disease_codes",
    "disease_labels",
    "biobank_id",
    "biobank_name",
    "country",
    "availability",
    "duo_permission",
    "duo_modifiers",
    "commercial_use",
    "qc_passed",
    "storage_temperatures",
    "vials_available",
    "genetically_modified",
    "modified_genes",
    "modified",
    "record.donor.affected",
]
BEACON_LINE_RECORDS = 100  # records of one line an individual lists (the engine's inner-hit cap)
BEACON_OPEN_FACETS = ("disease", "gene", "tissue", "country", "biobank", "network")
"""Facets whose values are whatever the records hold: their filtering terms come from the index."""
_INDIVIDUALS = {"cardinality": {"field": "line_key", "precision_threshold": 10_000}}


class BeaconTerm(NamedTuple):
    """One Beacon filter as the index reads it: ``selection`` in the facet named ``facet``, or
    the exact values of a field of ``BEACON_FIELDS``; ``negate`` for the ``!`` operator."""

    facet: str
    selection: Selection
    negate: bool = False


def beacon_clause(term: BeaconTerm, today: dt.date) -> dict[str, Any]:
    """The engine filter of one term; a field term with no values matches nothing."""
    if term.facet in BEACON_FIELDS:
        clause = {"terms": {BEACON_FIELDS[term.facet]: list(term.selection.values)}}
    else:
        clause = FACETS_BY_NAME[term.facet].clause(term.selection, today)
    return {"bool": {"must_not": [clause]}} if term.negate else clause


def beacon_query(terms: list[BeaconTerm], today: dt.date) -> dict[str, Any]:
    """Cell-line records matching every term (Beacon filters are AND-ed)."""
    filters = [{"term": {"kind": "cell_line"}}, *(beacon_clause(t, today) for t in terms)]
    return {"bool": {"filter": filters}}


def build_beacon_count(entry: str, terms: list[BeaconTerm], today: dt.date) -> dict[str, Any]:
    """How many biosamples (records) or individuals (distinct lines: exact up to 10,000,
    then within about 1%) match; no hits."""
    body: dict[str, Any] = {"size": 0, "query": beacon_query(terms, today)}
    if entry == "individual":
        body.update(track_total_hits=False, aggs={"individuals": _INDIVIDUALS})
    else:
        body["track_total_hits"] = True
    return body


def read_beacon_count(entry: str, resp: Mapping[str, Any]) -> int:
    """The count of a ``build_beacon_count`` or ``build_beacon_records`` answer."""
    if entry == "individual":
        return int(resp.get("aggregations", {}).get("individuals", {}).get("value", 0))
    return int(resp.get("hits", {}).get("total", {}).get("value", 0))


def build_beacon_records(
    entry: str, terms: list[BeaconTerm], today: dt.date, offset: int, size: int
) -> dict[str, Any]:
    """One page of matching biosamples (by uid) or individuals (by line key, each with the
    records of its line, by uid), with the count of all of them."""
    query = beacon_query(terms, today)
    if entry == "individual":
        return {
            "query": query,
            "from": offset,
            "size": size,
            "sort": [{"line_key": "asc"}],
            "collapse": {
                "field": "line_key",
                "inner_hits": {
                    "name": "records",
                    "size": BEACON_LINE_RECORDS,
                    "sort": [{"uid": "asc"}],
                    "_source": BEACON_SOURCE,
                },
            },
            "_source": ["line_key"],
            "track_total_hits": False,
            "aggs": {"individuals": _INDIVIDUALS},
        }
    return {
        "query": query,
        "from": offset,
        "size": size,
        "sort": [{"uid": "asc"}],
        "_source": BEACON_SOURCE,
        "track_total_hits": True,
    }


def read_beacon_records(
    entry: str, resp: Mapping[str, Any]
) -> tuple[int, list[list[dict[str, Any]]]]:
    """The count and the page of a ``build_beacon_records`` answer: the records of each
    result (one for a biosample, those of its line for an individual)."""
    groups = []
    for hit in resp.get("hits", {}).get("hits", []):
        if entry == "individual":
            inner = hit.get("inner_hits", {}).get("records", {}).get("hits", {}).get("hits", [])
            groups.append([h["_source"] for h in inner])
        else:
            groups.append([hit["_source"]])
    return read_beacon_count(entry, resp), groups


def build_beacon_filtering_values() -> dict[str, Any]:
    """The values cell lines hold in each facet of ``BEACON_OPEN_FACETS`` (diseases: every
    node of their hierarchy), in order."""
    aggs = {}
    for name in BEACON_OPEN_FACETS:
        facet = FACETS_BY_NAME[name]
        field = getattr(facet, "nodes_field", "") or getattr(facet, "field", "")
        size = 10_000 if name == "disease" else 1_000
        aggs[name] = {"terms": {"field": field, "size": size, "order": {"_key": "asc"}}}
    return {
        "size": 0,
        "track_total_hits": False,
        "query": {"term": {"kind": "cell_line"}},
        "aggs": aggs,
    }


def read_beacon_filtering_values(resp: Mapping[str, Any]) -> dict[str, list[str]]:
    aggs = resp.get("aggregations", {})
    return {
        name: [str(b["key"]) for b in aggs.get(name, {}).get("buckets", [])]
        for name in BEACON_OPEN_FACETS
    }
