"""Search over the federated catalogue: runs the pure queries, adds each node's freshness."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from search.engine import SearchEngine
from search.health import node_health
from search.index import catalogue_alias
from search.queries import SearchParams, build_search, read_facets

STATE_TTL = 5.0  # seconds a node's "data as of" may be cached between searches


class SearchUnavailable(RuntimeError):
    """The engine cannot answer right now."""


class CatalogueSearch:
    def __init__(self, engine: SearchEngine, prefix: str) -> None:
        self.engine = engine
        self.prefix = prefix
        self.alias = catalogue_alias(prefix)
        self._states: tuple[float, dict[str, dict[str, Any]]] = (0.0, {})

    def node_states(self) -> dict[str, dict[str, Any]]:
        """Each node's sync health (cursor, lag, last success, data as of), briefly cached."""
        fetched, states = self._states
        if time.monotonic() - fetched > STATE_TTL:
            states = node_health(self.engine, self.prefix)
            self._states = (time.monotonic(), states)
        return states

    def search(self, params: SearchParams, today: dt.date | None = None) -> dict[str, Any]:
        body = build_search(params, today or dt.date.today())
        try:
            resp = self.engine.search(self.alias, body)
        except self.engine.errors.NotFoundError:
            return {
                "total": 0,
                "page": params.page,
                "size": params.size,
                "hits": [],
                "facets": read_facets({}, params),
            }
        except (self.engine.errors.ConnectionError, self.engine.errors.ConnectionTimeout) as exc:
            raise SearchUnavailable("the search engine is not reachable") from exc
        states = self.node_states()
        hits = [self._hit(h, states) for h in resp["hits"]["hits"]]
        return {
            "total": resp["hits"]["total"]["value"],
            "page": params.page,
            "size": params.size,
            "hits": hits,
            "facets": read_facets(resp.get("aggregations", {}), params),
        }

    def record(self, uid: str) -> dict[str, Any] | None:
        doc = self.engine.get(self.alias, uid)
        if doc is None:
            return None
        doc.pop("all_text", None)
        doc["data_as_of"] = self.node_states().get(doc["node_id"], {}).get("data_as_of")
        return doc

    @staticmethod
    def _hit(hit: dict[str, Any], states: dict[str, dict[str, Any]]) -> dict[str, Any]:
        src = hit["_source"]
        record = src.pop("record", {})
        src["highlight"] = hit.get("highlight", {})
        src["data_as_of"] = states.get(src["node_id"], {}).get("data_as_of")
        src["summary"] = {k: record.get(k) for k in ("description",) if record.get(k)}
        return src
