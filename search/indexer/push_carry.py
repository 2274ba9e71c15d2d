"""A rebuild carries each push-mode node into the new index, so its lines never leave search.

The indexer cannot read a push-mode node: the node sends what the indexer asks for, on its
next pass. So, before the swap, the rebuild copies the node's documents from the live index
into the new one, each with its engine version (``version_type=external``: version base +
the node's sequence), and gives the new index the node's cursor as it was when the copy
began. A push that lands in the live index during the copy, or after it and before the swap,
lies beyond that cursor, so after the swap the node learns that cursor (each pass asks where
to push from; a page of a pass that spans the swap is refused as a gap with the cursor to
resend from, search/indexer/ingest.py) and sends those changes again: upserts and
withdrawals alike (the feed keeps a withdrawal as a tombstone), and external
versions make every repeat harmless.

Just before the swap, the documents the node pushed since the copy began (a sequence above
the carried cursor) are copied once more, so a line it changed during the rebuild is found
changed the moment the alias moves; the cursor stays where the copy began, because the index
keeps no tombstones: a withdrawal reaches the new index with the node's next pass.

Why a copy rather than writing pushes into both indexes during a rebuild: the rebuild runs in
another process than the service that takes pushes, so both would have to agree (through the
state index) on when double writes begin and end, and a push taken just before they agreed
would still miss the new index. The copy needs nothing from the service; the cursor protocol
that already exists brings the new index up to date.

Each document is derived again by this code (``to_document`` over the record it keeps, with
the biobank and collection records of the live index), not copied byte for byte: a rebuild
is how a new mapping or new derived fields arrive, and a byte copy would keep a push-mode
node's documents as the old code made them while its cursor says they are current.

When a snapshot of the node is open, or its store epoch or version base moves between the
start of the copy and the swap (a restored store), the new index gets cursor 0 with the
latest base and epoch: the node's next pass is then a full snapshot, which reconciles
whatever the copy carried.
Quarantined entries are not documents, so nothing of them is copied; the node's health (one
document per node, not per index) and its quarantine list stay as they are.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from federation.http import identifier
from search.aliases import write_index
from search.indexer.ingest import push_state_id, snapshot_open
from search.indexer.sync import Indexer, SyncError, cursor_id, derive

BATCH = 1000
FACTS = ("seq", "content_hash", "schema_version", "modified")  # of the entry it came from
KEPT = ("kind", "record", *FACTS)


@dataclass
class Carried:
    """What a rebuild carried of one push-mode node: its documents, and the cursor (with the
    version base and store epoch it belongs to) the new index starts from; cursor 0 makes
    the node's next pass a full snapshot."""

    node_id: str
    documents: int = 0
    cursor: int = 0
    base: int = 0
    epoch: int | None = None
    caught_up: int = 0  # documents copied again just before the swap
    live: str = ""  # the index the copy came from (the swap must replace that one)

    def summary(self) -> str:
        return (
            f"{self.node_id} (push): {self.documents} documents carried, {self.caught_up} "
            f"copied again before the swap, cursor {self.cursor}"
        )


def carry_push_nodes(indexer: Indexer, live: str | None, new: str) -> list[Carried]:
    """Copy every push-mode member's documents and cursor from ``live`` into ``new``."""
    if live is None:
        return []
    return [carry_node(indexer, m.id, live, new) for m in indexer.members if m.pushes]


def carry_node(indexer: Indexer, node_id: str, live: str, new: str) -> Carried:
    cursor, base, epoch = indexer.state(live, node_id)  # a realtime get
    if _snapshot_open(indexer, live, node_id):
        cursor = 0  # what it sent so far may be reconciled away: it sends it all again
    # A pushed page's cursor is saved after the engine acknowledged its writes but before
    # the index is refreshed: refresh, so the copy sees every write the cursor counts.
    indexer.engine.refresh(live)
    copied = _copy(indexer, node_id, live, new)
    carried = Carried(node_id, copied, cursor, base, epoch, live=live)
    if (cursor, base, epoch) != (0, 0, None):  # else it never pushed: no cursor is the same
        _save(indexer, live, new, carried)  # with cursor 0 too: its base orders what follows
    settle(indexer, live, new, carried)
    return carried


def settle_push_nodes(indexer: Indexer, new: str, carried: list[Carried]) -> None:
    """Just before the swap, from the index the copies came from: if the alias has moved
    meanwhile (another rebuild swapped), what was carried is not the live index's."""
    live = write_index(indexer.engine, indexer.prefix)
    for node in carried:
        if node.live != live:
            raise SyncError(
                f"the live index moved from {node.live} to {live} while {node.node_id} was "
                "carried (another rebuild?)"
            )
    if live is None:
        return
    indexer.engine.refresh(live)
    for node in carried:
        settle(indexer, live, new, node)
        if node.cursor:
            # What it pushed since the copy began, copied again: found at once after the
            # swap. Its cursor stays, so its next pass still re-sends it, withdrawals too.
            node.caught_up = _copy(indexer, node.node_id, live, new, after=node.cursor)
            _save(indexer, live, new, node)  # its latest sequence now: verify says behind
    indexer.engine.refresh(new)  # searchable the moment the alias points at it


def settle(indexer: Indexer, live: str, new: str, carried: Carried) -> None:
    """After the copy, and again just before the swap: if the node's store was restored
    (a new epoch, a lifted version base) or a snapshot began since the copy began, the copy
    may hold versions above what the carried cursor can order, so the new index gets cursor
    0 with the live index's base and epoch, and the node's next pass is a full snapshot."""
    _, base, epoch = indexer.state(live, carried.node_id)
    moved = (base, epoch) != (carried.base, carried.epoch)
    if moved or _snapshot_open(indexer, live, carried.node_id):
        carried.cursor, carried.base, carried.epoch = 0, base, epoch
        _save(indexer, live, new, carried)


def _save(indexer: Indexer, live: str, new: str, carried: Carried) -> None:
    saved = indexer.engine.get(indexer.state_index, cursor_id(live, carried.node_id)) or {}
    latest = saved.get("latest_seq")  # what the node last said it has, for verify and health
    # Its last page ended its feed, at the cursor carried: verify may pass at once.
    at_end = saved.get("at_end") is True and saved.get("cursor") == carried.cursor > 0
    indexer.save_cursor(
        new,
        carried.node_id,
        carried.cursor,
        latest if isinstance(latest, int) else carried.cursor,
        carried.base,
        carried.epoch,
        at_end,
    )


def _snapshot_open(indexer: Indexer, index: str, node_id: str) -> bool:
    return snapshot_open(indexer.engine.get(indexer.state_index, push_state_id(index, node_id)))


def _copy(indexer: Indexer, node_id: str, live: str, new: str, after: int = 0) -> int:
    """Copy the node's documents (those of a sequence above ``after``), derived again."""
    copied = 0
    for hits in _batches(indexer, node_id, live, after):
        context = _context(indexer, node_id, live, [h["_source"] for h in hits])
        actions = [
            {
                "_op_type": "index",
                "_index": new,
                "_id": hit["_id"],
                "version": hit["_version"],  # base + sequence, as the live index holds it
                "version_type": "external",
                "_source": _derive(node_id, hit, context),
            }
            for hit in hits
        ]
        result = indexer.engine.bulk(actions)
        if result.errors:
            raise SyncError(
                f"the engine refused {len(result.errors)} of {len(actions)} carried documents "
                f"of {node_id}"
            )
        copied += len(actions) - result.stale  # a stale one: the new index has it, newer
    return copied


def _batches(
    indexer: Indexer, node_id: str, index: str, after: int
) -> Iterator[list[dict[str, Any]]]:
    """The node's documents with their versions, a batch at a time, in ``uid`` order. Not a
    point-in-time view: a document written meanwhile is a change beyond the saved cursor,
    which the node sends again after the swap."""
    body: dict[str, Any] = {
        "query": {"bool": {"filter": [{"term": {"node_id": node_id}}]}},
        "size": BATCH,
        "version": True,
        "_source": list(KEPT),  # what the document is derived from; the rest is made again
        "sort": [{"uid": "asc"}],
    }
    if after:  # a catch-up: only what came later (the full copy takes every document)
        body["query"]["bool"]["filter"].append({"range": {"seq": {"gt": after}}})
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
    """The biobank and collection records the batch's records embed: from the batch, else
    the live index, as a page's are (``Indexer._context``)."""
    entries = [
        {
            "op": "upsert",
            "kind": d.get("kind"),
            "id": str(d["record"].get("id")),
            "record": d["record"],
        }
        for d in docs
        if isinstance(d.get("record"), dict)  # else _derive stops the rebuild, naming it
    ]
    return indexer._context(node_id, index, entries)


def _derive(node_id: str, hit: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    doc = hit["_source"]
    try:
        kind, record = doc["kind"], dict(doc["record"])
        kept = {k: doc[k] for k in FACTS}
    except (KeyError, TypeError, ValueError):
        # Not a document this indexer wrote: the rebuild stops, the live index stays.
        name = identifier(hit.get("_id"), 600) or "a document"
        raise SyncError(f"{name} of {node_id} keeps no record to derive it from") from None
    try:
        return derive(node_id, kind, record, context, **kept)
    except KeyError as exc:  # a record this code's to_document cannot read
        name = identifier(hit.get("_id"), 600) or "a document"
        raise SyncError(f"{name} of {node_id} lacks {identifier(str(exc), 80)}") from None
