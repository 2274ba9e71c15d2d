"""Search over the federated catalogue: runs the pure queries, adds each node's freshness,
the sources of each line, labels for facet values and help when nothing matches.

Every request body sent to the engine is built in ``search.queries``; here are the calls,
the caching, and the engine's errors as ``SearchUnavailable`` (503) or ``SearchRejected``
(400), which the portal app answers once for every view.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
import time
from collections.abc import Iterator
from typing import Any

from flask import current_app

from portal.line_sources import LineSources, index_version
from portal.lineage import relations
from schemas.provenance import related_lines
from search.aliases import catalogue_alias
from search.code_words import bare_codes, read_code_checks, unknown_codes, with_code_checks
from search.donors import (
    build_several_line_donors,
    donors_phrase,
    read_donors,
    read_several_line_donors,
)
from search.engine import SearchEngine
from search.facets import FACETS_BY_NAME
from search.health import node_health
from search.identifiers import recognise, tokens
from search.queries import (
    SOURCE_FIELDS,
    SearchParams,
    build_biobank_line_count,
    build_collection_line_count,
    build_collections_of,
    build_export,
    build_help,
    build_identify,
    build_labels,
    build_search,
    build_sources,
    build_suggest,
    read_facets,
    read_identify,
    read_relax,
    read_suggestion,
    read_totals,
)
from search.query_strings import query_string
from search.relations import (
    build_lines_named,
    build_lines_naming,
    build_same_donor,
    read_relatives,
)
from search.resource_queries import parse_variant
from search.understanding import KIND_FACETS, Understanding, names, understand

LABELS_TTL = 60.0  # seconds network names and disease labels may be cached
UID = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}:(network|biobank|collection|cell_line):.{1,128}$"
)

log = logging.getLogger(__name__)

SEARCH_KEY = "cellfed.search"
"""The app extension that holds the portal's CatalogueSearch."""


class SearchUnavailable(RuntimeError):
    """The engine cannot answer right now."""


class SearchRejected(ValueError):
    """The engine refused to run a search built from valid parameters (e.g. too complex)."""


class CatalogueSearch:
    def __init__(
        self, engine: SearchEngine, prefix: str, state_ttl: float = 5.0, sources_ttl: float = 60.0
    ) -> None:
        self.engine = engine
        self.state_ttl = state_ttl  # seconds the nodes' sync states are kept (SEARCH_STATE_TTL)
        self.prefix = prefix
        self.alias = catalogue_alias(prefix)
        self._states: tuple[float, dict[str, dict[str, Any]]] = (0.0, {})
        self._labels: tuple[float, dict[str, str]] = (0.0, {})
        # The value names the words of a query are read against, per kind of record: built
        # from the labels once per refresh, not once per search.
        self._name_tables: tuple[dict[str, str], dict[str, dict[str, Any]]] = ({}, {})
        self._several: tuple[float, tuple[str, ...]] = (-state_ttl - 1, ())
        self._line_sources = LineSources(ttl=sources_ttl)  # SEARCH_SOURCES_TTL

    # -- engine calls, with errors translated ------------------------------------------
    def _search(self, body: dict[str, Any], index: str | None = None) -> dict[str, Any] | None:
        """Run a search; None when the index does not exist yet."""
        errors = self.engine.errors
        try:
            return self.engine.search(index or self.alias, body)
        except errors.NotFoundError:
            return None
        except errors.RequestError as exc:
            log.warning("the engine refused a search: %s", exc)
            raise SearchRejected(
                "the search engine could not run this search; try fewer words or filters"
            ) from exc
        except errors.TransportError as exc:  # connection errors and timeouts included
            log.warning("the engine failed a search: %s", exc)
            raise SearchUnavailable("the search engine is not reachable right now") from exc

    def _msearch(self, *bodies: dict[str, Any]) -> list[dict[str, Any]]:
        """Run searches in one round trip; an empty answer each when there is no index yet."""
        try:
            answers = self.engine.msearch(self.alias, list(bodies))
        except self.engine.errors.NotFoundError:
            return [{} for _ in bodies]
        except self.engine.errors.TransportError as exc:
            log.warning("the engine failed a search: %s", exc)
            raise SearchUnavailable("the search engine is not reachable right now") from exc
        out = []
        for answer in answers:
            status = answer.get("status", 200) if "error" in answer else 200
            if status == 404:
                answer = {}
            elif status == 400:
                log.warning("the engine refused a search: %s", answer["error"])
                raise SearchRejected(
                    "the search engine could not run this search; try fewer words or filters"
                )
            elif status != 200:
                log.warning("the engine failed a search: %s", answer["error"])
                raise SearchUnavailable("the search engine could not answer right now")
            out.append(answer)
        return out

    def _get(self, doc_id: str) -> dict[str, Any] | None:
        try:
            return self.engine.get(self.alias, doc_id)
        except self.engine.errors.NotFoundError:
            return None  # no index yet
        except self.engine.errors.TransportError as exc:
            log.warning("the engine failed a get: %s", exc)
            raise SearchUnavailable("the search engine is not reachable right now") from exc

    # -- cached context ---------------------------------------------------------------
    def node_states(self) -> dict[str, dict[str, Any]]:
        """Each node's sync health (cursor, lag, last success, data as of), briefly cached."""
        fetched, states = self._states
        if time.monotonic() - fetched > self.state_ttl:
            try:
                states = node_health(self.engine, self.prefix)
            except self.engine.errors.TransportError as exc:
                raise SearchUnavailable("the search engine is not reachable right now") from exc
            self._states = (time.monotonic(), states)
        return states

    def labels(self) -> dict[str, str]:
        """Names of networks and labels of disease codes, as the nodes publish them."""
        fetched, labels = self._labels
        if time.monotonic() - fetched > LABELS_TTL:
            resp = self._search(build_labels()) or {}
            labels = {}
            for bucket in resp.get("aggregations", {}).get("diseases", {}).get("buckets", []):
                code, _, label = bucket["key"].partition("|")
                labels.setdefault(code, label)
            for hit in resp.get("hits", {}).get("hits", []):
                labels.setdefault(hit["_source"]["local_id"], hit["_source"]["name"])
            for bucket in resp.get("aggregations", {}).get("resources", {}).get("buckets", []):
                ref = parse_variant(bucket["key"])  # research resources, by acronym or name
                labels.setdefault(ref["id"], ref["acronym"] or ref["name"])
            self._labels = (time.monotonic(), labels)
        return labels

    def name_table(self, kind: str) -> dict[str, tuple[str, set[str]]]:
        """Folded value names -> (facet, values) understood when searching ``kind``."""
        labels = self.labels()
        built_from, tables = self._name_tables
        if built_from is not labels:  # (the tables of other labels are never used)
            tables = {}
            self._name_tables = (labels, tables)
        table = tables.get(kind)
        if table is None:
            table = names(labels)
            facets = KIND_FACETS.get(kind)
            if facets is not None:
                table = {k: v for k, v in table.items() if v[0] in facets}
            tables[kind] = table
        return table

    # -- search -----------------------------------------------------------------------
    def search(self, params: SearchParams, today: dt.date | None = None) -> dict[str, Any]:
        today = today or dt.date.today()
        labels = self.labels()
        understanding, run = self._understood(params)
        counts, found = self._msearch(*build_search(run, today))
        fallback = None
        if _may_fall_back(run) and not read_totals(counts.get("aggregations", {}))[0]:
            # Nothing matches every word: say so, and show what matches any of them.
            any_word = dataclasses.replace(run, any_word=True)
            counts_any, found_any = self._msearch(*build_search(any_word, today))
            if read_totals(counts_any.get("aggregations", {}))[0]:
                run, counts, found = any_word, counts_any, found_any
                fallback = {
                    "label": "No result matches all the words; showing results that match "
                    "any of them.",
                    "words": [t.text for t in tokens(run.q)],
                }
        if "collection" in params.selections:
            # Record pages link to a collection's lines by its uid; show its name instead.
            labels = {**labels, **self._names(list(params.selections["collection"].values))}
        aggs = counts.get("aggregations", {})
        total, lines = read_totals(aggs)
        donors = read_donors(aggs) if params.grouped else None
        states = self.node_states()
        hits = [self._hit(h, states) for h in found.get("hits", {}).get("hits", [])]
        if params.grouped:
            self._add_sources(hits, states)
        result: dict[str, Any] = {
            "total": total,
            "lines": lines,
            "donors": donors,
            "donors_phrase": donors_phrase(lines, donors) if donors else None,
            "page": params.page,
            "size": params.size,
            "pages": max(1, -(-lines // params.size)),
            "sort": params.sort,
            "hits": hits,
            # The panel ticks the URL's filters; words read as filters are the chips below.
            "facets": read_facets(aggs, params, labels),
            "selected": [
                {
                    "facet": name,
                    "label": FACETS_BY_NAME[name].label,
                    "selection": FACETS_BY_NAME[name].describe(sel, labels),
                    "query": query_string(params.args(drop=name)),
                }
                for name, sel in params.selections.items()
            ],
            "understood": [
                {
                    "facet": f.facet,
                    "label": FACETS_BY_NAME[f.facet].label,
                    "selection": FACETS_BY_NAME[f.facet].describe(run.selections[f.facet], labels),
                    "words": f.words,
                    # Searching the word instead: the same search with the words quoted.
                    "query": query_string(params.args(q=understanding.literal(f))),
                }
                for f in understanding.filters
            ],
            "fallback": fallback,
            "help": None,
            "did_you_mean": None,
        }
        if total == 0 and (params.q or params.selections):
            # (with the donor keys the search ran with: "donor with several lines" needs them)
            with_keys = dataclasses.replace(params, donor_keys=run.donor_keys)
            result["help"] = self._help(with_keys, today, aggs, labels)
        elif run.q and hits and not any(h["highlight"] for h in hits):
            # Only typo tolerance found the words left (not those read as filters): suggest.
            resp = self._search(build_suggest(params.q)) or {}
            suggestion = read_suggestion(params.q, resp.get("suggest", {}))
            if suggestion:
                result["did_you_mean"] = {
                    "text": suggestion,
                    "query": query_string(params.args(q=suggestion)),
                }
        return result

    def _understood(self, params: SearchParams) -> tuple[Understanding, SearchParams]:
        """The parameters the engine runs: words naming facet values become filters
        (search/understanding.py), and identifiers and code-like words are resolved to the
        registry ids of their lines (search/identifiers.py), with one filter-only request,
        sent before the words are read (a record's identifier is never read as a code)."""
        table = self.name_table(params.kind)
        found, taken, unambiguous = self._identify(params.q, table)
        understanding = understand(
            params.q,
            selections=params.selections,
            table=table,
            taken=taken,
            unambiguous=unambiguous,
        )
        run = understanding.apply(params)
        if found is not None:
            run = dataclasses.replace(
                run, also=read_identify(run.q, found), relatives=read_relatives(found)
            )
        run = dataclasses.replace(run, donor_keys=self.several_line_donors())
        return understanding, run

    def _identify(
        self, q: str, table: dict[str, tuple[str, set[str]]]
    ) -> tuple[dict[str, Any] | None, set[str], set[str]]:
        """One filter-only request for the query's identifiers and code-like words (None when
        it has none), before its words are read: the words that are records' identifiers or
        synonyms stay words, and bare codes (``G20``) are read only when unambiguous
        (search/code_words.py)."""
        body = build_identify(q)
        bare = bare_codes([t.text for t in tokens(q) if not t.quoted], table)
        if body is None and not bare:
            return None, set(), set()
        answer = self._search(with_code_checks(body, bare)) or {}
        taken = {word.lower() for word in read_identify(q, answer)}
        unambiguous = set(bare) - taken - read_code_checks(bare, answer)
        return (answer if body is not None else None), taken, unambiguous

    def several_line_donors(self) -> tuple[str, ...]:
        """Donor keys with several lines in the alliance (search/donors.py), briefly cached
        like the nodes' states: one aggregation over the catalogue."""
        fetched, keys = self._several
        if time.monotonic() - fetched > self.state_ttl:
            keys = read_several_line_donors(self._search(build_several_line_donors()) or {})
            self._several = (time.monotonic(), keys)
        return keys

    def _help(
        self, params: SearchParams, today: dt.date, aggs: dict[str, Any], labels: dict[str, str]
    ) -> dict[str, Any]:
        resp = self._search(build_help(params, today)) or {}
        suggestion = read_suggestion(params.q, resp.get("suggest", {})) if params.q else None
        relax = read_relax(aggs, params, labels)
        for r in relax:
            r["query"] = query_string(r.pop("args"))
        return {
            "did_you_mean": suggestion,
            "did_you_mean_query": query_string(params.args(q=suggestion)) if suggestion else None,
            "without_words": resp.get("hits", {}).get("total", {}).get("value", 0)
            if params.q
            else None,
            "without_words_query": query_string(params.args(q="")) if params.q else None,
            "relax": relax,
            # (every facet's codes, as searching lines reads them: a cell-type id is no
            # unknown code when searching collections)
            "unknown_codes": unknown_codes(
                [t.text for t in tokens(params.q) if not t.quoted], self.name_table("cell_line")
            ),
        }

    def _add_sources(self, hits: list[dict[str, Any]], states: dict[str, Any]) -> None:
        """List every biobank that holds each hit's line (matched by any registry id); kept
        between searches until the index changes (portal/line_sources.py)."""
        by_id = self._line_sources.lookup(
            (i for h in hits for i in h.get("line_ids", [])),
            index_version(states),
            self._fetch_sources,
        )
        for hit in hits:
            sources = {s["uid"]: s for i in hit.get("line_ids", []) for s in by_id[i]}
            sources.setdefault(hit["uid"], {k: hit[k] for k in SOURCE_FIELDS if k in hit})
            hit["sources"] = [
                {**s, "data_as_of": states.get(s["node_id"], {}).get("data_as_of")}
                for s in sorted(sources.values(), key=_source_order)
            ]

    def _fetch_sources(self, ids: list[str]) -> list[dict[str, Any]]:
        return self._sources(build_sources(ids))

    @staticmethod
    def _hit(hit: dict[str, Any], states: dict[str, dict[str, Any]]) -> dict[str, Any]:
        src = hit["_source"]
        src.pop("record", None)
        src["highlight"] = hit.get("highlight", {})
        src["data_as_of"] = states.get(src["node_id"], {}).get("data_as_of")
        src["summary"] = {"description": src["description"]} if src.get("description") else {}
        return src

    # -- export -----------------------------------------------------------------------
    def export(
        self, params: SearchParams, limit: int, today: dt.date | None = None, page: int = 500
    ) -> tuple[int, Iterator[dict[str, Any]]]:
        """The number of matching records and an iterator over at most ``limit`` of them.

        The first page is fetched now, so an engine error is raised before a response
        starts streaming; later pages follow with search_after.
        """
        today = today or dt.date.today()
        size = min(page, limit)
        # The records the search page shows: the same words read the same way.
        params = self._understood(params)[1]
        first = self._search(build_export(params, today, size)) or {}
        total = first.get("hits", {}).get("total", {}).get("value", 0)
        if not total and _may_fall_back(params):
            params = dataclasses.replace(params, any_word=True)
            first = self._search(build_export(params, today, size)) or {}
            total = first.get("hits", {}).get("total", {}).get("value", 0)

        def records() -> Iterator[dict[str, Any]]:
            states = self.node_states()
            resp, sent = first, 0
            while True:
                hits = resp.get("hits", {}).get("hits", [])
                for hit in hits:
                    if sent >= limit:
                        return
                    doc = hit["_source"]
                    doc["data_as_of"] = states.get(doc["node_id"], {}).get("data_as_of")
                    sent += 1
                    yield doc
                if len(hits) < size or sent >= limit:
                    return
                resp = self._search(build_export(params, today, size, hits[-1]["sort"])) or {}

        return total, records()

    # -- records ----------------------------------------------------------------------
    def record(self, uid: str) -> dict[str, Any] | None:
        if not UID.match(uid):
            return None
        doc = self._get(uid)
        if doc is None:
            return None
        doc.pop("all_text", None)
        doc["data_as_of"] = self.node_states().get(doc["node_id"], {}).get("data_as_of")
        return doc

    def related(self, doc: dict[str, Any]) -> dict[str, Any]:
        """What a record page shows beside the record: other sources of a line, the lines
        of a collection, the collections of a biobank."""
        kind, node = doc["kind"], doc["node_id"]
        out: dict[str, Any] = {}
        if kind == "cell_line" and doc.get("line_ids"):
            resp = self._search(build_sources(doc["line_ids"], limit=100)) or {}
            states = self.node_states()
            out["sources"] = [h["_source"] for h in resp.get("hits", {}).get("hits", [])]
            for s in out["sources"]:
                s["data_as_of"] = states.get(s["node_id"], {}).get("data_as_of")
        if kind in ("cell_line", "collection") and doc.get("biobank_id"):
            biobank = self._get(f"{node}:biobank:{doc['biobank_id']}")
            out["biobank"] = biobank.get("record") if biobank else None
        if kind == "cell_line" and doc.get("collection_uid"):
            collection = self._get(doc["collection_uid"])
            out["collection"] = collection.get("record") if collection else None
        if kind == "collection":
            out["lines"] = self._count(build_collection_line_count(doc["uid"]))
        if kind == "biobank":
            resp = self._search(build_collections_of(node, doc["local_id"])) or {}
            out["collections"] = [h["_source"] for h in resp.get("hits", {}).get("hits", [])]
            out["lines"] = self._count(build_biobank_line_count(node, doc["local_id"]))
        if doc.get("networks"):
            labels = self.labels()
            out["networks"] = [{"id": n, "name": labels.get(n, n)} for n in doc["networks"]]
        if kind == "cell_line":
            out.update(self._lineage(doc))
        return out

    def _lineage(self, doc: dict[str, Any]) -> dict[str, Any]:
        """The donor's other lines, and the line's relations from both ends (lineage.py)."""
        hits = self._sources
        out: dict[str, Any] = {"same_donor": [], "relations": []}
        if doc.get("donor_key"):
            out["same_donor"] = hits(build_same_donor(doc["donor_key"], doc["line_key"]))
        named = [r["line"] for r in related_lines(doc.get("record", {}))]
        found = hits(build_lines_named(named)) if named else []
        naming = hits(build_lines_naming(doc.get("identifiers", []), doc["uid"]))
        out["relations"] = relations(doc, found, naming)
        return out

    def _sources(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        return [h["_source"] for h in (self._search(body) or {}).get("hits", {}).get("hits", [])]

    def _names(self, uids: list[str]) -> dict[str, str]:
        try:
            docs = self.engine.mget(self.alias, uids)
        except self.engine.errors.TransportError:
            return {}  # a label is not worth failing a search for
        return {doc_id: doc["name"] for doc_id, doc in docs.items()}

    def _count(self, body: dict[str, Any]) -> int:
        """The total hits of a counting request (no index yet counts as none)."""
        resp = self._search(body) or {}
        return resp.get("hits", {}).get("total", {}).get("value", 0)


def _source_order(source: dict[str, Any]) -> tuple[bool, str, str]:
    """As the engine sorted them: by biobank name (none last), then uid."""
    name = source.get("biobank_name")
    return name is None, name or "", source["uid"]


def _may_fall_back(run: SearchParams) -> bool:
    """Several words and no identifier: when nothing matches all, any word may."""
    return len(tokens(run.q)) > 1 and not run.also and not recognise(run.q)[0]


def current_search() -> CatalogueSearch:
    """The catalogue search of the portal app handling this request."""
    return current_app.extensions[SEARCH_KEY]
