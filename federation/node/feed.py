"""One page of the node's change feed, as it leaves the node: the publish API serves it (pull
mode) and the pusher sends it (push mode). Both go through here so that the facts policy
applies to every page whichever way it travels: no count below k leaves the node."""

from __future__ import annotations

from typing import Any

from federation.node.privacy import FactsPolicy, publishable_entry
from federation.node.store import CatalogueStore


def feed_page(
    store: CatalogueStore, node_id: str, after: int, limit: int, policy: FactsPolicy
) -> dict[str, Any]:
    """The changes after ``after`` (at most ``limit``), each published under ``policy``."""
    latest = store.latest_seq()
    entries = [publishable_entry(e, policy) for e in store.changes(after, limit)]
    next_cursor = entries[-1]["seq"] if entries else max(after, 0)
    return {
        "node_id": node_id,
        "after": after,
        "next_cursor": next_cursor,
        "latest_seq": latest,
        "epoch": store.epoch(),
        "has_more": next_cursor < latest,
        "entries": entries,
    }
