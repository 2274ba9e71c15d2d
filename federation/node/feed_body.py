"""A feed page's body, made from the records' stored canonical texts.

:func:`federation.node.feed.feed_page` builds the page as data (each record parsed from the
store); serialising that again costs more CPU per record than anything else the node does
for a harvest. Here each record's text, the very bytes its hash is of, is spliced into the
body as it is (orjson.Fragment), so a record is neither parsed nor serialised; only what the
facts policy changes (federation/node/privacy.py ``publishable_stored``) is made again. The
body is byte for byte the canonical JSON of what ``feed_page`` returns (tests check).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from federation.node.feed import page_of
from federation.node.privacy import FactsPolicy, publishable_stored
from federation.node.store import CatalogueStore


@dataclass(frozen=True)
class FeedBody:
    """A serialised feed page and the facts its sender needs about it."""

    body: bytes
    after: int
    next_cursor: int
    has_more: bool
    entries: int


def _entry(envelope: dict[str, Any], text: str | None, policy: FactsPolicy) -> dict[str, Any]:
    if text is None:
        return {**envelope, "record": None}  # a tombstone
    published, digest = publishable_stored(envelope["kind"], text, envelope["hash"], policy)
    return {**envelope, "hash": digest, "record": orjson.Fragment(published)}


def feed_page_body(
    store: CatalogueStore, node_id: str, after: int, limit: int, policy: FactsPolicy
) -> FeedBody:
    """The changes after ``after`` (at most ``limit``), each published under ``policy``."""
    latest = store.latest_seq()
    entries = [_entry(e, text, policy) for e, text in store.stored_changes(after, limit)]
    page = page_of(store, node_id, after, latest, entries)
    body = orjson.dumps(page, option=orjson.OPT_SORT_KEYS)
    return FeedBody(body, after, page["next_cursor"], page["has_more"], len(entries))
