"""One page of the node's change feed as data, every record parsed and published under the
facts policy (no count below k leaves the node). The publish API (pull mode) and the pusher
(push mode) send the same page made from the records' stored texts instead
(federation/node/feed_body.py, byte for byte this page's canonical JSON; tests check), so
this is the reference, and what tests and tools read."""

from __future__ import annotations

from typing import Any

from federation.node.privacy import FactsPolicy, publishable_entry
from federation.node.store import CatalogueStore


def feed_page(
    store: CatalogueStore, node_id: str, after: int, limit: int, policy: FactsPolicy
) -> dict[str, Any]:
    """The changes after ``after`` (at most ``limit``), each published under ``policy``."""
    latest = store.latest_seq()  # before the changes: a page never claims more than it read
    entries = [publishable_entry(e, policy) for e in store.changes(after, limit)]
    return page_of(store, node_id, after, latest, entries)


def page_of(
    store: CatalogueStore, node_id: str, after: int, latest: int, entries: list[dict[str, Any]]
) -> dict[str, Any]:
    """A feed page around its entries (both ways of making one share it)."""
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
