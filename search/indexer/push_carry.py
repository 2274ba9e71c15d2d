"""A rebuild carries each push-mode node into the new index, so its lines never leave search.

The indexer cannot read a push-mode node: the node sends what the indexer asks for, on its
next pass. So, before the swap, the rebuild copies the node's documents from the live index
into the new one, each with its engine version (``version_type=external``: version base +
the node's sequence), and gives the new index the node's cursor as it was when the copy
began. A push that lands in the live index during the copy, or after it and before the swap,
lies beyond that cursor, so after the swap the node's next page is refused as a gap with the
cursor to resend from (search/indexer/ingest.py), and the node sends those changes again:
upserts and withdrawals alike (the feed keeps a withdrawal as a tombstone), and external
versions make every repeat harmless.

Why a copy rather than writing pushes into both indexes during a rebuild: the rebuild runs in
another process than the service that takes pushes, so both would have to agree (through the
state index) on when double writes begin and end, and a push taken just before they agreed
would still miss the new index. The copy needs nothing from the service; the cursor protocol
that already exists brings the new index up to date.

Each document is derived again by this code (``to_document`` over the record it keeps, with
the biobank and collection records of the live index), not copied byte for byte: a rebuild
is how a new mapping or new derived fields arrive, and a byte copy would keep a push-mode
node's documents as the old code made them while its cursor says they are current.

When a snapshot of the node is open, or its store epoch or version base moved during the
copy (a restored store), the new index gets cursor 0 with the latest base and epoch: the
node's next pass is then a full snapshot, which reconciles whatever the copy carried.
Quarantined entries are not documents, so nothing of them is copied; the node's health (one
document per node, not per index) and its quarantine list stay as they are.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from search.indexer.documents import to_document, uid
from search.indexer.ingest import push_state_id
from search.indexer.sync import Indexer, SyncError, cursor_id

BATCH = 1000


@dataclass
class Carried:
    """What a rebuild carried of one push-mode node: its documents, and the cursor the new
    index starts from (0: the node's next pass is a full snapshot)."""

    node_id: str
    documents: int = 0
    cursor: int = 0

    def summary(self) -> str:
        return f"{self.node_id} (push): {self.documents} documents carried, cursor {self.cursor}"


def carry_push_nodes(indexer: Indexer, live: str | None, new: str) -> list[Carried]:
    """Copy every push-mode member's documents and cursor from ``live`` into ``new``."""
    if live is None:
        return []
    return [carry_node(indexer, m.id, live, new) for m in indexer.members if m.pushes]


def carry_node(indexer: Indexer, node_id: str, live: str, new: str) -> Carried:
    engine = indexer.engine
    saved = engine.get(indexer.state_index, cursor_id(live, node_id))  # a realtime get
    before = indexer.state(live, node_id)
    opened = _snapshot_open(indexer, live, node_id)
    # A pushed page's cursor is saved after the engine acknowledged its writes but before
    # the index is refreshed: refresh, so the copy sees every write the cursor counts.
    engine.refresh(live)
    carried = Carried(node_id, documents=_copy(indexer, node_id, live, new))
    if saved is None:
        return carried  # never pushed: its first pass starts from 0, as before
    cursor, base, epoch = indexer.state(live, node_id)
    steady = not (opened or _snapshot_open(indexer, live, node_id)) and before[1:] == (base, epoch)
    carried.cursor = before[0] if steady else 0
    latest = saved.get("latest_seq")
    indexer.save_cursor(
        new, node_id, carried.cursor, latest if isinstance(latest, int) else cursor, base, epoch
    )
    return carried


def _snapshot_open(indexer: Indexer, index: str, node_id: str) -> bool:
    marker = indexer.engine.get(indexer.state_index, push_state_id(index, node_id))
    return bool(marker and marker.get("snapshot_open"))


def _copy(indexer: Indexer, node_id: str, live: str, new: str) -> int:
    copied = 0
    for hits in _batches(indexer, node_id, live):
        context = _context(indexer, node_id, live, [h["_source"] for h in hits])
        actions = [
            {
                "_op_type": "index",
                "_index": new,
                "_id": hit["_id"],
                "version": hit["_version"],  # base + sequence, as the live index holds it
                "version_type": "external",
                "_source": _derive(node_id, hit["_source"], context),
            }
            for hit in hits
        ]
        result = indexer.engine.bulk(actions)
        if result.errors:
            raise SyncError(
                f"the engine refused {len(result.errors)} of {len(actions)} carried documents "
                f"of {node_id}"
            )
        copied += len(actions)
    return copied


def _batches(indexer: Indexer, node_id: str, index: str) -> Iterator[list[dict[str, Any]]]:
    """The node's documents with their versions, a batch at a time, in ``uid`` order. Not a
    point-in-time view: a document written meanwhile is a change beyond the saved cursor,
    which the node sends again after the swap."""
    body: dict[str, Any] = {
        "query": {"term": {"node_id": node_id}},
        "size": BATCH,
        "version": True,
        "sort": [{"uid": "asc"}],
    }
    while True:
        hits = indexer.engine.search(index, body)["hits"]["hits"]
        if hits:
            yield hits
        if len(hits) < BATCH:
            return
        body["search_after"] = hits[-1]["sort"]


def _context(
    indexer: Indexer, node_id: str, index: str, docs: list[dict[str, Any]]
) -> dict[str, Any]:
    """The biobank and collection records the batch's records embed, from the live index."""
    wanted = {
        uid(node_id, ref, doc["record"][ref])
        for doc in docs
        for ref in ("biobank", "collection")
        if isinstance(doc["record"].get(ref), str)
    }
    found = indexer.engine.mget(index, sorted(wanted))
    return {doc_id: doc["record"] for doc_id, doc in found.items()}


def _derive(node_id: str, doc: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    record = doc["record"]
    return to_document(
        node_id,
        doc["kind"],
        record,
        seq=doc["seq"],
        content_hash=doc["content_hash"],
        schema_version=doc["schema_version"],
        modified=doc["modified"],
        biobank=context.get(uid(node_id, "biobank", record.get("biobank", ""))),
        collection=context.get(uid(node_id, "collection", record.get("collection", ""))),
    )
