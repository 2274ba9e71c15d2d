"""One thin layer over an Elasticsearch-API engine, and the one place that builds its client.

OpenSearch (opensearch-py) is the reference engine; Elasticsearch 7.x is reached with
elasticsearch-py 7.13, the last release without the product check that refuses other builds.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from search.json_codec import codec

ENGINES = ("opensearch", "elasticsearch7")


class EngineError(RuntimeError):
    """The engine refused a request or could not be reached; the message says which."""


@dataclass
class BulkResult:
    ok: int = 0
    stale: int = 0  # version conflicts: the engine already holds this or a newer version
    errors: list[dict[str, Any]] = field(default_factory=list)


def _modules(kind: str) -> tuple[type, ModuleType, ModuleType]:
    if kind == "opensearch":
        import opensearchpy
        from opensearchpy import exceptions, helpers

        return opensearchpy.OpenSearch, helpers, exceptions
    if kind == "elasticsearch7":
        import elasticsearch
        from elasticsearch import exceptions as es_exceptions
        from elasticsearch import helpers as es_helpers

        return elasticsearch.Elasticsearch, es_helpers, es_exceptions
    raise ValueError(f"SEARCH_ENGINE must be one of {', '.join(ENGINES)}, not {kind!r}")


class SearchEngine:
    """What the indexer and the portal need from the engine, and nothing more."""

    def __init__(self, url: str, kind: str = "opensearch", timeout: float = 30) -> None:
        client_class, self._helpers, self.errors = _modules(kind)
        self.kind = kind
        self.url = url
        # Several comma-separated URLs: the client spreads requests and skips dead nodes.
        hosts = [u.strip() for u in url.split(",") if u.strip()]
        self.client = client_class(
            hosts=hosts, timeout=timeout, max_retries=3, retry_on_timeout=True, **codec(kind)
        )

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SearchEngine:
        return cls(config["SEARCH_URL"], config["SEARCH_ENGINE"], config["SEARCH_TIMEOUT"])

    # -- cluster -------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        try:
            return self.client.info()
        except self.errors.TransportError as exc:
            raise EngineError(f"search engine at {self.url} did not answer: {exc}") from exc

    def ping(self) -> bool:
        return bool(self.client.ping())

    # -- indices and aliases -------------------------------------------------------------
    def index_exists(self, name: str) -> bool:
        return bool(self.client.indices.exists(index=name))

    def create_index(self, name: str, body: Mapping[str, Any]) -> None:
        self.client.indices.create(index=name, body=dict(body))

    def delete_index(self, name: str) -> None:
        self.client.indices.delete(index=name, ignore_unavailable=True)

    def alias_targets(self, alias: str) -> list[str]:
        try:
            return sorted(self.client.indices.get_alias(name=alias))
        except self.errors.NotFoundError:
            return []

    def update_aliases(self, actions: list[dict[str, Any]]) -> None:
        self.client.indices.update_aliases(body={"actions": actions})

    def refresh(self, index: str) -> None:
        self.client.indices.refresh(index=index)

    # -- documents -----------------------------------------------------------------------
    def bulk(self, actions: Iterable[dict[str, Any]], chunk_size: int = 500) -> BulkResult:
        """Send actions; version conflicts count as stale (already applied), not as errors."""
        result = BulkResult()
        stream: Iterator[tuple[bool, dict[str, Any]]] = self._helpers.streaming_bulk(
            self.client,
            actions,
            chunk_size=chunk_size,
            max_chunk_bytes=5 * 1024 * 1024,
            raise_on_error=False,
            raise_on_exception=True,
        )
        for ok, item in stream:
            if ok:
                result.ok += 1
                continue
            detail = next(iter(item.values()))
            if detail.get("status") == 409:
                result.stale += 1
            elif detail.get("status") == 404 and next(iter(item)) == "delete":
                result.ok += 1  # deleting what was never indexed: already as wanted
            else:
                result.errors.append(detail)
        return result

    def get(self, index: str, doc_id: str) -> dict[str, Any] | None:
        try:
            return self.client.get(index=index, id=doc_id)["_source"]
        except self.errors.NotFoundError:
            return None

    def put(self, index: str, doc_id: str, doc: Mapping[str, Any], refresh: bool = False) -> None:
        self.client.index(
            index=index, id=doc_id, body=dict(doc), refresh="wait_for" if refresh else "false"
        )

    def mget(self, index: str, ids: list[str]) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        docs = self.client.mget(index=index, body={"ids": ids})["docs"]
        return {d["_id"]: d["_source"] for d in docs if d.get("found")}

    def scan_ids(
        self, index: str, query: Mapping[str, Any], sort_field: str = "uid", batch: int = 5000
    ) -> Iterator[str]:
        """Every matching document id, in ``sort_field`` order, a page at a time."""
        body: dict[str, Any] = {
            "query": dict(query),
            "size": batch,
            "_source": False,
            "sort": [{sort_field: "asc"}],
        }
        while True:
            hits = self.client.search(index=index, body=body)["hits"]["hits"]
            yield from (hit["_id"] for hit in hits)
            if len(hits) < batch:
                return
            body["search_after"] = hits[-1]["sort"]

    def search(self, index: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return self.client.search(index=index, body=dict(body))

    def msearch(self, index: str, bodies: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Several searches in one round trip; each answer is a response, or a dict with
        ``error`` and ``status`` (per-search failures do not raise)."""
        lines: list[dict[str, Any]] = []
        for body in bodies:
            lines += [{"index": index}, dict(body)]
        return self.client.msearch(body=lines)["responses"]

    def count(self, index: str, body: Mapping[str, Any] | None = None) -> int:
        return int(self.client.count(index=index, body=dict(body or {}))["count"])
