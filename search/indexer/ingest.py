"""Push mode at the indexer: a member node sends its feed pages, nobody connects to it.

A pushed page goes through the same code path as a pulled one (``Indexer.apply_page``:
validate every entry, quarantine the bad ones, bulk with external versions, then move the
cursor), so the guarantees are the same. What differs is who decides where to read from:
:func:`judge` compares the page with the indexer's durable cursor and store epoch and says

* ``apply``: the page starts at or before the cursor and reaches beyond it (an overlap is
  harmless: external versions keep the newest);
* ``ack``: the page ends at or before the cursor (a duplicate or a late one): acknowledged
  without effect;
* ``gap``: the page starts beyond the cursor: refused with the cursor to resend from;
* ``resync``: a new store epoch (a restore) or a snapshot this process lost track of:
  refused, resend everything from 0.

A page from 0 marked ``snapshot`` is a full resend: what it and the pages after it list is
remembered (64-bit keys, as in a pulled resync) and the last page reconciles the index
(deletes what the snapshot no longer lists). That memory lives in this process; a marker in
the state index says a snapshot is open, so an indexer restarted mid-snapshot asks for it
again instead of finishing without reconciling.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from marshmallow import ValidationError

from federation.client import FeedPage
from federation.http import schema_problems
from federation.registry import Member
from schemas import FeedPageSchema
from search.indexer.sync import Indexer, SyncReport, ends_feed, utcnow_iso

APPLY, ACK, GAP, RESYNC = "apply", "ack", "gap", "resync"


class PushRefused(ValueError):
    """A push this indexer will not take; ``status`` is the HTTP status, the message ours."""

    def __init__(self, status: int, error: str, detail: str, expected: int | None = None):
        super().__init__(detail)
        self.status = status
        self.error = error
        self.expected = expected

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.error, "detail": str(self)}
        if self.expected is not None:
            body["expected_after"] = self.expected
        return body


@dataclass(frozen=True)
class State:
    """The indexer's durable view of one node: cursor, version base, store epoch, and
    whether a snapshot is open (and whether this process remembers what it listed)."""

    cursor: int
    base: int
    epoch: int | None
    snapshot_open: bool = False
    remembered: bool = False
    elsewhere: bool = False  # this process follows a snapshot of it in another index


@dataclass(frozen=True)
class Decision:
    action: str
    expected: int  # the cursor the node should push after next
    base: int = 0  # the version base to index with
    opens_snapshot: bool = False
    why: str = ""


def judge(state: State, after: int, next_cursor: int, epoch: int | None, snapshot: bool):
    """What to do with a pushed page (pure; see the module docstring)."""
    new_epoch = None not in (state.epoch, epoch) and epoch != state.epoch
    if new_epoch and not (snapshot and after == 0):
        why = "the node's store has a new epoch (restored): push everything again from 0"
        return Decision(RESYNC, 0, why=why)
    if snapshot and after == 0:
        # A restored store numbers from 1 again: lift the base above every version used.
        base = state.base + state.cursor if new_epoch else state.base
        return Decision(APPLY, next_cursor, base, opens_snapshot=True)
    if snapshot and state.elsewhere:
        # Opened in the index a rebuild replaced: what it listed is not this index's to
        # reconcile with (a carried cursor skips the pages it would need).
        why = "the snapshot began in an index since replaced: push everything again from 0"
        return Decision(RESYNC, 0, why=why)
    if next_cursor <= state.cursor:
        return Decision(ACK, state.cursor, state.base, why="already indexed")
    if after > state.cursor:
        why = f"the indexer has changes up to {state.cursor}; push after {state.cursor}"
        return Decision(GAP, state.cursor, why=why)
    if state.snapshot_open and not state.remembered:
        why = "the indexer restarted during a snapshot: push everything again from 0"
        return Decision(RESYNC, 0, why=why)
    return Decision(APPLY, next_cursor, state.base)


def read_page(node_id: str, body: Any) -> FeedPage:
    """A pushed body as a feed page, or a 400 that says what is wrong and where."""
    if not isinstance(body, dict):
        raise PushRefused(400, "bad_page", "send a feed page as a JSON object")
    schema = FeedPageSchema()
    try:
        page = schema.load(body)
    except ValidationError as exc:
        problems = "; ".join(schema_problems(exc.messages, schema)) or "not valid"
        raise PushRefused(400, "bad_page", f"not a feed page: {problems}") from None
    if page["node_id"] != node_id:
        raise PushRefused(400, "bad_page", f"the page's node_id is not {node_id!r}")
    if page["next_cursor"] < page["after"]:
        raise PushRefused(400, "bad_page", "next_cursor is below after")
    if page["latest_seq"] < page["next_cursor"]:
        raise PushRefused(400, "bad_page", "latest_seq is below next_cursor")
    return FeedPage(**page)


def push_state_id(index: str, node_id: str) -> str:
    return f"push:{index}:{node_id}"


def snapshot_open(marker: dict[str, Any] | None) -> bool:
    """Whether a snapshot marker (the state document at :func:`push_state_id`) says open."""
    return bool(marker and marker.get("snapshot_open"))


class Ingest:
    """Takes pushed pages for the push-mode members of ``indexer``; one page at a time per
    node (a lock each), so two pushes of one node never interleave."""

    def __init__(self, indexer: Indexer) -> None:
        self.indexer = indexer
        self._locks = {m.id: threading.Lock() for m in indexer.members if m.pushes}
        # Open snapshots this process follows, by (index, node): a rebuild's swap may come
        # between two pages of one, and a seen-set is only good for the index it was made in.
        self._seen: dict[tuple[str, str], set[int] | None] = {}

    def member(self, node_id: str) -> Member:
        found = next((m for m in self.indexer.members if m.id == node_id), None)
        if found is None:
            raise PushRefused(404, "not_found", f"{node_id!r} is not a member of this alliance")
        if not found.pushes:
            raise PushRefused(409, "pull_mode", f"{node_id!r} is registered in pull mode")
        return found

    def state(self, index: str, node_id: str) -> State:
        cursor, base, epoch = self.indexer.state(index, node_id)
        marker = self.indexer.engine.get(self.indexer.state_index, push_state_id(index, node_id))
        elsewhere = any(i != index and n == node_id for i, n in self._seen)
        return State(
            cursor, base, epoch, snapshot_open(marker), (index, node_id) in self._seen, elsewhere
        )

    def where(self, node_id: str) -> dict[str, Any]:
        """Where the node should push from: the durable cursor and the epoch it belongs to."""
        self.member(node_id)
        index = self.indexer._live_index()
        state = self.state(index, node_id)
        return {"node_id": node_id, "cursor": state.cursor, "epoch": state.epoch}

    def push(self, node_id: str, body: Any, snapshot: bool) -> dict[str, Any]:
        member = self.member(node_id)
        page = read_page(node_id, body)
        with self._locks[member.id]:
            return self._take(member, page, snapshot)

    def _take(self, member: Member, page: FeedPage, snapshot: bool) -> dict[str, Any]:
        index = self.indexer._live_index()
        state = self.state(index, member.id)
        decision = judge(state, page.after, page.next_cursor, page.epoch, snapshot)
        if state.elsewhere:  # that index is gone from the alias: forget what it listed
            self._seen = {k: v for k, v in self._seen.items() if k[0] == index or k[1] != member.id}
        if decision.action in (GAP, RESYNC):
            error = "cursor_gap" if decision.action == GAP else "resync_required"
            raise PushRefused(409, error, decision.why, decision.expected)
        report = SyncReport(member.id, index=index, cursor_before=state.cursor)
        report.cursor_after, report.latest_seq = state.cursor, page.latest_seq
        final = ends_feed(page)
        if decision.action == APPLY:
            self._apply(member.id, index, page, decision, report)
        elif final and page.next_cursor == state.cursor > 0:
            # Nothing to index, but the node says the cursor is its end: verify reads that.
            self.indexer.save_cursor(
                index, member.id, state.cursor, page.latest_seq, state.base, state.epoch, True
            )
        if final and (index, member.id) in self._seen and page.next_cursor >= state.cursor:
            self._finish_snapshot(member.id, index, report)
        self.indexer.record_health(report, mode="push", last_push=utcnow_iso())
        return {
            "node_id": member.id,
            "status": "applied" if decision.action == APPLY else "already_indexed",
            "cursor": report.cursor_after,
            "indexed": report.indexed,
            "deleted": report.deleted,
            "quarantined": len(report.quarantined),
            "reconciled": report.reconciled,
        }

    def _apply(
        self, node_id: str, index: str, page: FeedPage, decision: Decision, report: SyncReport
    ) -> None:
        engine = self.indexer.engine
        if decision.opens_snapshot:
            report.resynced = True
            # As when pulling from 0: an index without this node's documents has nothing
            # to reconcile, so memory stays flat on a first push.
            has_docs = engine.count(index, {"query": {"term": {"node_id": node_id}}})
            self._seen[index, node_id] = set() if has_docs else None
            self._mark(index, node_id, True)
        self.indexer.apply_page(
            node_id, index, page, decision.base, report, self._seen.get((index, node_id))
        )
        engine.refresh(index)

    def _finish_snapshot(self, node_id: str, index: str, report: SyncReport) -> None:
        """Drop what the snapshot no longer listed, then close it."""
        seen = self._seen[index, node_id]
        if seen is not None:
            self.indexer.reconcile(node_id, index, seen, report)
            self.indexer.engine.refresh(index)
        del self._seen[index, node_id]
        self._mark(index, node_id, False)

    def _mark(self, index: str, node_id: str, open_: bool) -> None:
        self.indexer.engine.put(
            self.indexer.state_index,
            push_state_id(index, node_id),
            {"type": "push", "node_id": node_id, "index": index, "snapshot_open": open_},
        )
