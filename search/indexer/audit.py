"""Compare the index with the nodes: same records, same content, nothing more.

Reads each node's full feed (a snapshot) and the index's documents for that node, and
lists what is missing, extra or different. The indexer's promise is that, once it has
caught up, all three lists are empty.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import requests

from federation.client import FeedClient, TokenSource
from federation.registry import Member
from search.aliases import catalogue_alias
from search.engine import SearchEngine
from search.indexer.documents import uid


@dataclass
class AuditReport:
    node_id: str
    at_node: int = 0
    in_index: int = 0
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    different: list[str] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        return not (self.missing or self.extra or self.different)

    def summary(self) -> str:
        state = (
            "exact"
            if self.exact
            else (
                f"{len(self.missing)} missing, {len(self.extra)} extra, "
                f"{len(self.different)} different"
            )
        )
        return (
            f"{self.node_id}: {self.at_node} records at the node, {self.in_index} indexed: {state}"
        )


def node_snapshot(client: FeedClient, page_size: int = 1000) -> dict[str, str]:
    """uid -> content hash of every live record the node publishes."""
    live: dict[str, str] = {}
    for page in client.pages(0, page_size):
        for entry in page.entries:
            key = uid(client.member.id, entry["kind"], entry["id"])
            if entry["op"] == "upsert":
                live[key] = entry["hash"]
            else:
                live.pop(key, None)
    return live


def index_snapshot(engine: SearchEngine, prefix: str, node_id: str) -> dict[str, str]:
    """uid -> content hash of every document of the node in the live index."""
    body: dict[str, Any] = {
        "query": {"term": {"node_id": node_id}},
        "size": 5000,
        "_source": ["content_hash"],
        "sort": [{"uid": "asc"}],
    }
    found: dict[str, str] = {}
    while True:
        hits = engine.search(catalogue_alias(prefix), body)["hits"]["hits"]
        found.update({h["_id"]: h["_source"]["content_hash"] for h in hits})
        if len(hits) < body["size"]:
            return found
        body["search_after"] = hits[-1]["sort"]


def audit(
    engine: SearchEngine,
    prefix: str,
    members: list[Member],
    session: requests.Session | None = None,
    token: TokenSource | None = None,
) -> list[AuditReport]:
    session = session or requests.Session()
    engine.refresh(catalogue_alias(prefix))
    reports = []
    for member in members:
        at_node = node_snapshot(FeedClient(member, session, token=token))
        indexed = index_snapshot(engine, prefix, member.id)
        reports.append(
            AuditReport(
                member.id,
                at_node=len(at_node),
                in_index=len(indexed),
                missing=sorted(set(at_node) - set(indexed)),
                extra=sorted(set(indexed) - set(at_node)),
                different=sorted(
                    k for k in set(at_node) & set(indexed) if at_node[k] != indexed[k]
                ),
            )
        )
    return reports
