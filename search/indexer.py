"""The central indexer: pull each member node's change feed into the search engine.

Per node: read its cursor from the state index, pull pages after it, validate every entry
(bad ones are quarantined and reported, never block the rest), denormalise, bulk-index with
external versioning on the node's sequence (so replays can never overwrite newer data), and
advance the cursor only after the engine acknowledged the bulk. A node that is down or
answers garbage is reported and skipped; the other nodes go on.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import requests
from marshmallow import ValidationError

from federation.client import FeedClient, FeedError, FeedPage
from federation.protocol import content_hash
from federation.registry import Member
from schemas import READABLE_SCHEMA_VERSIONS, FeedEntrySchema, format_errors, schema_for
from search.documents import to_document, uid
from search.engine import SearchEngine
from search.index import catalogue_alias, ensure_indices, state_index

QUARANTINE_KEPT = 200


class SyncError(RuntimeError):
    """The engine did not take a bulk; the cursor stays where it was."""


@dataclass
class Quarantined:
    kind: str | None
    id: str | None
    seq: int | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "seq": self.seq, "reason": self.reason}


@dataclass
class SyncReport:
    node_id: str
    ok: bool = True
    error: str | None = None
    pulled: int = 0
    indexed: int = 0
    deleted: int = 0
    stale: int = 0
    quarantined: list[Quarantined] = field(default_factory=list)
    cursor_before: int = 0
    cursor_after: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        if not self.ok:
            return f"{self.node_id}: FAILED ({self.error}); cursor stays at {self.cursor_after}"
        return (
            f"{self.node_id}: {self.pulled} changes, {self.indexed} indexed, {self.deleted} "
            f"deleted, {len(self.quarantined)} quarantined, cursor {self.cursor_before}"
            f"->{self.cursor_after} ({self.seconds:.2f}s)"
        )


def utcnow_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class Indexer:
    def __init__(
        self,
        engine: SearchEngine,
        members: list[Member],
        prefix: str,
        page_size: int = 1000,
        timeout: float = 10,
        session: requests.Session | None = None,
        now: Callable[[], str] = utcnow_iso,
    ) -> None:
        self.engine = engine
        self.members = members
        self.prefix = prefix
        self.alias = catalogue_alias(prefix)
        self.state_index = state_index(prefix)
        self.page_size = page_size
        self.timeout = timeout
        self.session = session or requests.Session()
        self.now = now

    @classmethod
    def from_config(cls, config: dict[str, Any], members: list[Member]) -> Indexer:
        return cls(
            SearchEngine.from_config(config),
            members,
            config["INDEX_PREFIX"],
            page_size=config["SYNC_PAGE_SIZE"],
            timeout=config["SYNC_TIMEOUT"],
        )

    def prepare(self) -> None:
        ensure_indices(self.engine, self.prefix)

    # -- state -------------------------------------------------------------------------
    def state(self, node_id: str) -> dict[str, Any]:
        return self.engine.get(self.state_index, node_id) or {"node_id": node_id, "cursor": 0}

    def _save_state(self, state: dict[str, Any]) -> None:
        self.engine.put(self.state_index, state["node_id"], state)

    # -- sync --------------------------------------------------------------------------
    def sync_all(self) -> list[SyncReport]:
        self.prepare()
        return [self.sync_node(member) for member in self.members]

    def sync_node(self, member: Member) -> SyncReport:
        started = time.monotonic()
        state = self.state(member.id)
        state["last_attempt"] = self.now()
        report = SyncReport(member.id, cursor_before=state["cursor"], cursor_after=state["cursor"])
        client = FeedClient(member, self.session, self.timeout)
        try:
            for page in client.pages(state["cursor"], self.page_size):
                self._apply_page(member.id, page, report)
                # The engine has acknowledged every write of this page: now the cursor moves.
                state["cursor"] = report.cursor_after = page.next_cursor
                state["latest_seq"] = page.latest_seq
                state["quarantined"] = (
                    [q.as_dict() for q in report.quarantined] + state.get("quarantined", [])
                )[:QUARANTINE_KEPT]
                self._save_state(state)
        except (FeedError, SyncError) as exc:
            report.ok, report.error = False, str(exc)
        except self.engine.errors.TransportError as exc:
            report.ok, report.error = False, f"search engine error: {exc}"
        if report.ok:
            state["last_success"] = state["data_as_of"] = self.now()
            state["last_error"] = None
        else:
            state["last_error"] = report.error
        report.seconds = time.monotonic() - started
        # If the engine is down this fails too; the cursor saved with the last good page stands.
        with contextlib.suppress(self.engine.errors.TransportError):
            self._save_state(state)
            # Make the changes and the node's new "data as of" searchable now, not in a second.
            self.engine.refresh(
                f"{self.alias},{self.state_index}" if report.pulled else self.state_index
            )
        return report

    def _apply_page(self, node_id: str, page: FeedPage, report: SyncReport) -> None:
        report.pulled += len(page.entries)
        entries = []
        for raw in page.entries:
            entry, problem = self._check_entry(raw)
            if problem:
                report.quarantined.append(problem)
            else:
                entries.append(entry)
        context = self._context(node_id, entries)
        actions = []
        for entry in entries:
            doc_id = uid(node_id, entry["kind"], entry["id"])
            base = {
                "_index": self.alias,
                "_id": doc_id,
                "version": entry["seq"],
                "version_type": "external",
            }
            if entry["op"] == "delete":
                actions.append({**base, "_op_type": "delete"})
                report.deleted += 1
                continue
            record = entry["record"]
            doc = to_document(
                node_id,
                entry["kind"],
                record,
                seq=entry["seq"],
                content_hash=entry["hash"],
                schema_version=entry["schema_version"],
                modified=entry["modified"].isoformat(),
                biobank=context.get(uid(node_id, "biobank", record.get("biobank", ""))),
                collection=context.get(uid(node_id, "collection", record.get("collection", ""))),
            )
            actions.append({**base, "_op_type": "index", "_source": doc})
            report.indexed += 1
        result = self.engine.bulk(actions)
        report.stale += result.stale
        if result.errors:
            first = result.errors[0]
            raise SyncError(
                f"the engine refused {len(result.errors)} of {len(actions)} writes; first: "
                f"{first.get('_id')}: {first.get('error')}"
            )

    def _check_entry(self, raw: Any) -> tuple[dict[str, Any] | None, Quarantined | None]:
        """Validate an entry and its record; a problem quarantines this entry only."""
        hint = raw if isinstance(raw, dict) else {}
        seq = hint.get("seq") if isinstance(hint.get("seq"), int) else None
        kind, rid = hint.get("kind"), hint.get("id")
        try:
            entry = FeedEntrySchema().load(raw if isinstance(raw, dict) else {})
        except ValidationError as exc:
            return None, Quarantined(kind, rid, seq, "; ".join(format_errors(exc.messages)))
        if entry["schema_version"] not in READABLE_SCHEMA_VERSIONS:
            known = ", ".join(sorted(READABLE_SCHEMA_VERSIONS))
            return None, Quarantined(
                kind,
                rid,
                seq,
                f"schema version {entry['schema_version']!r} is not one this "
                f"indexer reads ({known})",
            )
        if entry["op"] == "delete":
            return entry, None
        if content_hash(entry["record"]) != entry["hash"]:
            return None, Quarantined(kind, rid, seq, "content hash does not match the record")
        try:
            record = schema_for(entry["kind"]).load(entry["record"])
        except ValidationError as exc:
            return None, Quarantined(kind, rid, seq, "; ".join(format_errors(exc.messages)))
        if record["id"] != entry["id"]:
            return None, Quarantined(kind, rid, seq, "record id differs from the entry's id")
        return entry, None

    def _context(self, node_id: str, entries: Iterable[dict[str, Any]]) -> dict[str, Any]:
        """Biobank and collection records the page's records embed: from the page, else the
        index (the feed sends a biobank before anything that names it)."""
        context: dict[str, Any] = {}
        wanted: set[str] = set()
        for entry in entries:
            record = entry.get("record") or {}
            if entry["op"] == "upsert" and entry["kind"] in ("biobank", "collection"):
                context[uid(node_id, entry["kind"], entry["id"])] = record
            for ref in ("biobank", "collection"):
                if record.get(ref):
                    wanted.add(uid(node_id, ref, record[ref]))
        missing = sorted(wanted - set(context))
        for doc_id, doc in self.engine.mget(self.alias, missing).items():
            context[doc_id] = doc["record"]
        return context


def watch(
    indexer: Indexer,
    interval: float,
    stop: Callable[[], bool],
    report: Callable[[SyncReport], None] = lambda r: None,
) -> None:
    """Sync every node, then again every ``interval`` seconds, until ``stop()`` is true."""
    indexer.prepare()
    while not stop():
        for member in indexer.members:
            report(indexer.sync_node(member))
        deadline = time.monotonic() + interval
        while time.monotonic() < deadline and not stop():
            time.sleep(0.1)
