"""The central indexer: pull each member node's change feed into the search engine.

Per node: read its cursor, pull pages after it, validate every entry (bad ones are
quarantined and reported, never block the rest), denormalise, bulk-index into the concrete
index behind the alias with external versioning on the node's sequence (so replays can
never overwrite newer data), and advance the cursor only after the engine acknowledged the
bulk. Cursors are kept per concrete index, so a rebuild into a new index runs beside the
live sync. A node that answers "resync required" is read again from 0 and reconciled: what
its snapshot no longer lists is removed. A node that is down or answers garbage is
reported; the other nodes go on.

What is stored in a node's health (``last_error``, the quarantine reasons) is published on
the portal's /federation page, /api/v1/nodes and the metrics, so it is made of our words and
safe facts only: the feed client's messages (see federation/client.py), schema paths our
schemas know (federation.http.schema_problems), ids that match the id pattern, error types of
the engine. Never text a node sent, nor the engine's echo of it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import requests
from marshmallow import Schema, ValidationError

from federation.client import FeedClient, FeedError, FeedPage, ResyncRequired
from federation.http import FEED_MAX_BYTES, identifier, safe_session, schema_problems
from federation.protocol import content_hash
from federation.registry import Member
from federation.tokens import ClientCredentials, TokenUnavailable
from schemas import (
    KINDS,
    READABLE_SCHEMA_VERSIONS,
    FeedEntrySchema,
    per_thread,
    schema_for,
)
from schemas.fastload import fast_load
from search.aliases import catalogue_alias, ensure_indices, state_index, write_index
from search.engine import SearchEngine
from search.health import ERROR_FORMAT
from search.indexer.documents import to_document, uid

QUARANTINE_KEPT = 200
ID_MAX = 255  # the id pattern's own bound (schemas.validators.LOCAL_ID)


def ends_feed(page: FeedPage) -> bool:
    """The end of the feed as it stands: the last page, or an empty one (the feed's
    latest_seq may count a change whose row was purged, so has_more can stay true)."""
    return not page.has_more or page.next_cursor == page.after


def derive(
    node_id: str, kind: str, record: dict[str, Any], context: dict[str, Any], **facts: Any
) -> dict[str, Any]:
    """A record's document, with the biobank and collection records it names from
    ``context`` (a pulled or pushed page's, or a rebuild's carry, push_carry.py)."""
    return to_document(
        node_id,
        kind,
        record,
        **facts,
        biobank=context.get(uid(node_id, "biobank", record.get("biobank", ""))),
        collection=context.get(uid(node_id, "collection", record.get("collection", ""))),
    )


class SyncError(RuntimeError):
    """The engine did not take a bulk; the cursor stays where it was."""


@dataclass
class Quarantined:
    """An entry that was not indexed. ``kind`` and ``id`` are the entry's own only when they
    are a known kind and a well-formed id (else None); ``reason`` is our text."""

    kind: str | None
    id: str | None
    seq: int | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "seq": self.seq, "reason": self.reason}


@dataclass
class SyncReport:
    node_id: str
    index: str = ""
    ok: bool = True
    error: str | None = None
    pulled: int = 0
    indexed: int = 0
    deleted: int = 0
    stale: int = 0
    resynced: bool = False
    reconciled: int = 0
    quarantined: list[Quarantined] = field(default_factory=list)
    cursor_before: int = 0
    cursor_after: int = 0
    latest_seq: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        if not self.ok:
            return f"{self.node_id}: FAILED ({self.error}); cursor stays at {self.cursor_after}"
        extra = f", resynced and removed {self.reconciled}" if self.resynced else ""
        return (
            f"{self.node_id}: {self.pulled} changes, {self.indexed} indexed, {self.deleted} "
            f"deleted, {len(self.quarantined)} quarantined{extra}, cursor {self.cursor_before}"
            f"->{self.cursor_after} ({self.seconds:.2f}s)"
        )


def utcnow_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


NodeTokens = Callable[[Member, bool], str]
"""A bearer token for reading one node's feed; True asks for a fresh one (after a 401)."""


def node_tokens(credentials: ClientCredentials, scope_pattern: str) -> NodeTokens:
    """Tokens of the indexer's client, each minted for one node (scope ``node-<id>``), so a
    node that is handed one cannot replay it at another."""

    def token(member: Member, fresh: bool) -> str:
        scope = scope_pattern.format(node_id=member.id)
        if fresh:
            credentials.invalidate(scope)
        try:
            return credentials.token(scope)
        except TokenUnavailable as exc:  # its message is ours (federation/tokens.py)
            raise FeedError(f"no token to read {member.id}: {exc}") from None

    return token


def _load(schema: Schema, data: Any) -> dict[str, Any]:
    """Load with the fast path for valid data; marshmallow has the last word otherwise."""
    loaded = fast_load(schema, data)
    return loaded if loaded is not None else schema.load(data)


# What the engine answers for a document its mapping cannot take (an integer beyond 64 bits
# the schemas let through): the node's record is wrong, so it is quarantined like one the
# schemas refuse (its last good version stays) and the node's other records go on.
DOCUMENT_REFUSALS = frozenset(
    {"mapper_parsing_exception", "document_parsing_exception", "illegal_argument_exception"}
)


def _refusals(
    errors: list[dict[str, Any]], indexed: dict[str, tuple[str, str, int]]
) -> tuple[list[Quarantined], list[dict[str, Any]]]:
    """The bulk errors that are documents of ``indexed`` the engine cannot hold, as
    quarantined entries; and the other errors."""
    refused: list[Quarantined] = []
    rest: list[dict[str, Any]] = []
    for error in errors:
        detail = error.get("error")
        kind = detail.get("type") if isinstance(detail, dict) else None
        entry = indexed.get(error.get("_id", ""))
        if entry is None or error.get("status") != 400 or kind not in DOCUMENT_REFUSALS:
            rest.append(error)
            continue
        reason = f"the search engine cannot hold the record ({kind})"
        refused.append(Quarantined(entry[0], entry[1], entry[2], reason))
    return refused, rest


def _key(doc_id: str) -> int:
    """A 64-bit digest of a document id: a resync remembers a million ids in a few MB."""
    return int.from_bytes(hashlib.blake2b(doc_id.encode(), digest_size=8).digest(), "big")


def cursor_id(index: str, node_id: str) -> str:
    return f"cursor:{index}:{node_id}"


def _problems(exc: ValidationError, schema: Schema) -> str:
    """A quarantine reason: our messages at the paths our schema knows (see
    federation.http.schema_problems); a field the node made up is counted, not named."""
    return "; ".join(schema_problems(exc.messages, schema)) or "not valid"


def _engine_error(exc: Exception) -> str:
    """The engine failure in safe terms: the client's exception class, the HTTP status and
    the engine's error type. Not its reason text, which can quote a document."""
    status = getattr(exc, "status_code", None)
    kind = identifier(getattr(exc, "error", None))
    facts = [exc.__class__.__name__]
    if isinstance(status, int):
        facts.append(f"HTTP {status}")
    if kind:
        facts.append(kind)
    return ", ".join(facts)


class Indexer:
    def __init__(
        self,
        engine: SearchEngine,
        members: list[Member],
        prefix: str,
        page_size: int = 1000,
        timeout: float = 10,
        session: requests.Session | None = None,
        token: NodeTokens | None = None,
        now: Callable[[], str] = utcnow_iso,
        replicas: int = 0,
        max_bytes: int = FEED_MAX_BYTES,
    ) -> None:
        self.engine = engine
        self.members = members
        self.prefix = prefix
        self.alias = catalogue_alias(prefix)
        self.state_index = state_index(prefix)
        self.page_size = page_size
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.session = safe_session(session, timeout=timeout, max_bytes=max_bytes)
        self.token = token
        self.now = now
        self.replicas = replicas

    @classmethod
    def from_config(cls, config: dict[str, Any], members: list[Member]) -> Indexer:
        token = None
        if config.get("INDEXER_CLIENT_SECRET"):
            token = node_tokens(
                ClientCredentials(
                    config["INDEXER_CLIENT_ID"],
                    config["INDEXER_CLIENT_SECRET"],
                    issuer=config["OIDC_ISSUER"],
                    timeout=config["SYNC_TIMEOUT"],
                ),
                config["NODE_TOKEN_SCOPE"],
            )
        return cls(
            SearchEngine.from_config(config),
            members,
            config["INDEX_PREFIX"],
            page_size=config["SYNC_PAGE_SIZE"],
            timeout=config["SYNC_TIMEOUT"],
            token=token,
            replicas=config["INDEX_REPLICAS"],
            max_bytes=config.get("SYNC_MAX_BYTES") or FEED_MAX_BYTES,
        )

    def prepare(self) -> None:
        ensure_indices(self.engine, self.prefix, self.replicas)

    # -- state -------------------------------------------------------------------------
    def cursor(self, index: str, node_id: str) -> tuple[int, int]:
        """(cursor, version base) of a node in an index.

        Engine versions are ``base + sequence``; the base grows when a node's store was
        reset, so its new, lower sequence numbers still win over what was indexed before.
        """
        cursor, base, _ = self.state(index, node_id)
        return cursor, base

    def state(self, index: str, node_id: str) -> tuple[int, int, int | None]:
        """(cursor, version base, the store epoch the cursor belongs to) of a node."""
        doc = self.engine.get(self.state_index, cursor_id(index, node_id))
        if not doc:
            return 0, 0, None
        try:
            epoch = doc.get("epoch")
            return (
                int(doc["cursor"]),
                int(doc.get("version_base", 0)),
                epoch if isinstance(epoch, int) else None,
            )
        except (KeyError, TypeError, ValueError):
            raise SyncError(
                f"the saved cursor of {node_id} in {self.state_index} is unreadable; delete "
                f"document {cursor_id(index, node_id)!r} there to read the node again from 0"
            ) from None

    def save_cursor(
        self,
        index: str,
        node_id: str,
        cursor: int,
        latest_seq: int,
        version_base: int = 0,
        epoch: int | None = None,
        at_end: bool = False,
    ) -> None:
        """``at_end``: the page ended the feed as it stood (latest_seq may count a purged
        change, so only the node's page can say so; verify reads it, push_audit.py)."""
        self.engine.put(
            self.state_index,
            cursor_id(index, node_id),
            {
                "type": "cursor",
                "index": index,
                "node_id": node_id,
                "cursor": cursor,
                "latest_seq": latest_seq,
                "version_base": version_base,
                "epoch": epoch,
                "at_end": at_end,
                "saved": self.now(),
            },
        )

    def health(self, node_id: str) -> dict[str, Any]:
        return self.engine.get(self.state_index, node_id) or {"type": "node", "node_id": node_id}

    def _save_health(self, health: dict[str, Any]) -> None:
        self.engine.put(self.state_index, health["node_id"], health)

    # -- sync --------------------------------------------------------------------------
    def sync_all(self) -> list[SyncReport]:
        self.prepare()
        return [self.sync_node(member) for member in self.members if not member.pushes]

    def sync_node(self, member: Member, index: str | None = None) -> SyncReport:
        """Bring ``index`` (default: the live one) up to date with one node's feed."""
        started = time.monotonic()
        live = index is None
        report = SyncReport(member.id, index=index or "")
        mint = self.token
        token = (lambda fresh: mint(member, fresh)) if mint else None
        client = FeedClient(
            member, self.session, self.timeout, token=token, max_bytes=self.max_bytes
        )
        try:
            target = index or self._live_index()
            report.index = target
            cursor, base, epoch = self.state(target, member.id)
            report.cursor_before = report.cursor_after = cursor
            try:
                self._pull(client, member, target, cursor, base, report, epoch)
            except ResyncRequired as exc:
                report.resynced = True
                if exc.reset:
                    base += cursor  # above every version this node was indexed with
                self._pull(client, member, target, 0, base, report)
        except (FeedError, SyncError) as exc:
            report.ok, report.error = False, str(exc)
        except self.engine.errors.TransportError as exc:
            report.ok, report.error = False, f"search engine error: {_engine_error(exc)}"
        report.seconds = time.monotonic() - started
        if live:
            self._record_health(report)
        return report

    def _live_index(self) -> str:
        target = write_index(self.engine, self.prefix)
        if target is None:
            self.prepare()
            target = write_index(self.engine, self.prefix)
        if target is None:
            raise RuntimeError(f"no write index behind {self.prefix!r} after preparing it")
        return target

    def _pull(
        self,
        client: FeedClient,
        member: Member,
        target: str,
        start: int,
        base: int,
        report: SyncReport,
        epoch: int | None = None,
    ) -> None:
        # Reading from 0 is a full snapshot: remember what it lists, to drop what it doesn't.
        # An index without documents of this node has nothing to reconcile (a first sync or
        # a rebuild), so memory stays flat however large the node is.
        seen: set[int] | None = None
        if start == 0 and self.engine.count(target, {"query": {"term": {"node_id": member.id}}}):
            seen = set()
        for page in client.pages(start, self.page_size):
            if start and None not in (epoch, page.epoch) and page.epoch != epoch:
                # Restored from a backup: its numbers started over, whatever the cursor says.
                raise ResyncRequired("the node's store was restored (a new epoch)", reset=True)
            self.apply_page(member.id, target, page, base, report, seen)
        if seen is not None:
            version = base + max(report.latest_seq, report.cursor_after)
            report.reconciled = self._reconcile(member.id, target, seen, version)
        if report.pulled or report.reconciled:
            self.engine.refresh(target)

    def apply_page(
        self,
        node_id: str,
        target: str,
        page: FeedPage,
        base: int,
        report: SyncReport,
        seen: set[int] | None,
    ) -> None:
        """Index one feed page, then move the cursor: the one path of a pulled page and of a
        pushed one (search/indexer/ingest.py)."""
        self._apply_page(node_id, target, page, base, report, seen)
        # The engine has acknowledged every write of this page: now the cursor moves.
        self.save_cursor(
            target, node_id, page.next_cursor, page.latest_seq, base, page.epoch, ends_feed(page)
        )
        report.cursor_after, report.latest_seq = page.next_cursor, page.latest_seq

    def reconcile(self, node_id: str, target: str, seen: set[int], report: SyncReport) -> None:
        """After a full snapshot: drop what it no longer listed (pull and push alike)."""
        _, base = self.cursor(target, node_id)
        version = base + max(report.latest_seq, report.cursor_after)
        report.reconciled = self._reconcile(node_id, target, seen, version)

    def record_health(self, report: SyncReport, **extra: Any) -> None:
        """Save a live sync's outcome as the node's health, with ``extra`` fields (a push
        mode node's ``mode`` and ``last_push``)."""
        self._record_health(report, extra)

    def _record_health(self, report: SyncReport, extra: dict[str, Any] | None = None) -> None:
        try:
            health = self.health(report.node_id)
            if health.get("error_format") != ERROR_FORMAT:
                # Written by an older indexer, whose texts could be a node's: not kept.
                health.pop("last_error", None)
                health.pop("quarantined", None)
            health.update(
                type="node",
                last_attempt=self.now(),
                index=report.index,
                error_format=ERROR_FORMAT,
            )
            if report.ok:
                health.update(
                    last_success=self.now(),
                    data_as_of=self.now(),
                    last_error=None,
                    failures=0,
                    cursor=report.cursor_after,
                    latest_seq=report.latest_seq,
                )
            else:
                health.update(last_error=report.error, failures=health.get("failures", 0) + 1)
            if report.resynced:
                health["last_resync"] = self.now()
            health.update(extra or {})
            health["quarantined"] = (
                [q.as_dict() for q in report.quarantined] + health.get("quarantined", [])
            )[:QUARANTINE_KEPT]
            self._save_health(health)
            self.engine.refresh(self.state_index)  # "data as of" is searchable at once
        except self.engine.errors.TransportError:
            pass  # the engine is down: the cursors saved with each acknowledged page stand

    def _apply_page(
        self,
        node_id: str,
        target: str,
        page: FeedPage,
        base: int,
        report: SyncReport,
        seen: set[int] | None,
    ) -> None:
        report.pulled += len(page.entries)
        entries = []
        indexed: dict[str, tuple[str, str, int]] = {}
        for raw in page.entries:
            entry, problem = self._check_entry(raw)
            if problem is not None:
                report.quarantined.append(problem)
                if seen is not None and problem.kind and problem.id:
                    seen.add(
                        _key(uid(node_id, problem.kind, problem.id))
                    )  # keeps its last good one
            elif entry is not None:
                entries.append(entry)
        context = self._context(node_id, target, entries)
        actions = []
        for entry in entries:
            doc_id = uid(node_id, entry["kind"], entry["id"])
            action = {
                "_index": target,
                "_id": doc_id,
                "version": base + entry["seq"],
                "version_type": "external",
            }
            if entry["op"] == "delete":
                action["_op_type"] = "delete"
                actions.append(action)
                report.deleted += 1
                continue
            if seen is not None:
                seen.add(_key(doc_id))
            doc = derive(
                node_id,
                entry["kind"],
                entry["record"],
                context,
                seq=entry["seq"],
                content_hash=entry["hash"],
                schema_version=entry["schema_version"],
                modified=entry["modified"].isoformat(),
            )
            action.update(_op_type="index", _source=doc)  # no copy of the document
            actions.append(action)
            indexed[doc_id] = (entry["kind"], entry["id"], entry["seq"])
            report.indexed += 1
        self._bulk(actions, report, indexed)

    def _bulk(
        self,
        actions: list[dict[str, Any]],
        report: SyncReport,
        indexed: dict[str, tuple[str, str, int]] | None = None,
    ) -> None:
        """Send ``actions``; a document of ``indexed`` (id -> kind, local id, seq) that the
        engine cannot hold is quarantined, any other refusal stops the sync."""
        result = self.engine.bulk(actions)
        report.stale += result.stale
        refused, errors = _refusals(result.errors, indexed or {})
        report.quarantined.extend(refused)
        report.indexed -= len(refused)
        if errors:
            # The engine's reason may quote the document ("Preview of field's value: ..."),
            # i.e. the node's text: keep the id and the error type only.
            first = errors[0]
            error = first.get("error")
            kind = error.get("type") if isinstance(error, dict) else None
            raise SyncError(
                f"the engine refused {len(errors)} of {len(actions)} writes; first: "
                f"{identifier(first.get('_id'), 600) or 'a document'} "
                f"({identifier(kind) or 'unknown error'})"
            )

    def _reconcile(self, node_id: str, target: str, seen: set[int], version: int) -> int:
        """Delete the node's documents that its full snapshot no longer lists."""
        stale = [
            d
            for d in self.engine.scan_ids(target, {"term": {"node_id": node_id}})
            if _key(d) not in seen
        ]
        actions = [
            {
                "_op_type": "delete",
                "_index": target,
                "_id": doc_id,
                "version": max(version, 1),
                "version_type": "external_gte",
            }
            for doc_id in stale
        ]
        if actions:
            self._bulk(actions, SyncReport(node_id))
        return len(actions)

    def _check_entry(self, raw: Any) -> tuple[dict[str, Any] | None, Quarantined | None]:
        """Validate an entry and its record; a problem quarantines this entry only."""
        hint = raw if isinstance(raw, dict) else {}
        seq = hint.get("seq") if type(hint.get("seq")) is int else None
        kind = hint.get("kind") if isinstance(hint.get("kind"), str) else None
        kind = kind if kind in KINDS else None
        rid = identifier(hint.get("id"), ID_MAX)
        schema: Schema = per_thread(FeedEntrySchema)
        try:
            entry = _load(schema, raw if isinstance(raw, dict) else {})
        except ValidationError as exc:
            return None, Quarantined(kind, rid, seq, _problems(exc, schema))
        if entry["schema_version"] not in READABLE_SCHEMA_VERSIONS:
            known = ", ".join(sorted(READABLE_SCHEMA_VERSIONS))
            version = identifier(entry["schema_version"], 20)
            named = f"schema version {version!r}" if version else "its schema version"
            reason = f"{named} is not one this indexer reads ({known})"
            return None, Quarantined(kind, rid, seq, reason)
        if entry["op"] == "delete":
            return entry, None
        if content_hash(entry["record"]) != entry["hash"]:
            return None, Quarantined(kind, rid, seq, "content hash does not match the record")
        schema = schema_for(entry["kind"])
        try:
            record = _load(schema, entry["record"])
        except ValidationError as exc:
            return None, Quarantined(kind, rid, seq, _problems(exc, schema))
        if record["id"] != entry["id"]:
            return None, Quarantined(kind, rid, seq, "record id differs from the entry's id")
        return entry, None

    def _context(
        self, node_id: str, target: str, entries: Iterable[dict[str, Any]]
    ) -> dict[str, Any]:
        """Biobank and collection records the page's records embed: from the page, else the
        index (the feed sends a biobank before anything that names it)."""
        context: dict[str, Any] = {}
        wanted: set[str] = set()
        for entry in entries:
            record = entry.get("record") or {}
            if entry["op"] == "upsert" and entry["kind"] in ("biobank", "collection"):
                context[uid(node_id, entry["kind"], entry["id"])] = record
            for ref in ("biobank", "collection"):
                if isinstance(record.get(ref), str):
                    wanted.add(uid(node_id, ref, record[ref]))
        missing = sorted(wanted - set(context))
        for doc_id, doc in self.engine.mget(target, missing).items():
            if not isinstance(doc.get("record"), dict):  # not a document this indexer wrote
                name = identifier(doc_id, 600) or "a document"
                raise SyncError(f"{name} of {node_id} keeps no record to embed")
            context[doc_id] = doc["record"]
        return context
