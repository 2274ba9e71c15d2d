"""The node's catalogue store: writes that number every change, and the feed that reads them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import create_engine, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from federation.node.models import Base, Counter, Record, utcnow
from federation.protocol import content_hash, tombstone_hash
from schemas import KINDS, SCHEMA_VERSION, schema_for

SEQUENCE = "changes"
HORIZON = "purged"  # the highest sequence of a tombstone purged so far


@dataclass
class WriteSummary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0


class NotFound(LookupError):
    pass


class InUse(ValueError):
    """A record cannot be withdrawn while others still reference it."""


DEPENDENTS: dict[str, tuple[str, ...]] = {
    "biobank": ("collection", "cell_line"),
    "collection": ("cell_line",),
}
"""Which kinds embed which (through a field named after the kind they reference)."""


class CatalogueStore:
    """All reads and writes of one node's catalogue. Writes happen in one transaction each."""

    def __init__(self, database_url: str) -> None:
        kwargs: dict[str, Any] = {}
        if database_url.startswith("sqlite"):
            # Served from several threads; SQLite serialises the writes itself.
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        self.engine: Engine = create_engine(database_url, **kwargs)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.listeners: list[Callable[[], None]] = []  # called after each committed change

    def _changed(self) -> None:
        for listener in self.listeners:
            listener()

    def create_schema(self) -> None:
        Base.metadata.create_all(self.engine)
        with self.sessions.begin() as session:
            for name in (SEQUENCE, HORIZON):
                if session.get(Counter, name) is None:
                    session.add(Counter(name=name, value=0))

    def dispose(self) -> None:
        self.engine.dispose()

    # -- writes ------------------------------------------------------------------------
    @staticmethod
    def _next_seq(session: Session) -> int:
        session.execute(
            update(Counter).where(Counter.name == SEQUENCE).values(value=Counter.value + 1)
        )
        return session.execute(select(Counter.value).where(Counter.name == SEQUENCE)).scalar_one()

    def write(self, records: Iterable[tuple[str, dict[str, Any]]]) -> WriteSummary:
        """Upsert validated records ``(kind, record)`` in one transaction.

        Unchanged records (same hash) get no new sequence number, so re-importing a file
        adds nothing to the feed.
        """
        summary = WriteSummary()
        with self.sessions.begin() as session:
            for kind, record in records:
                canonical = schema_for(kind).dump(record)
                digest = content_hash(canonical)
                row = session.execute(
                    select(Record).where(Record.kind == kind, Record.local_id == record["id"])
                ).scalar_one_or_none()
                if row is not None and not row.deleted and row.content_hash == digest:
                    summary.unchanged += 1
                    continue
                seq = self._next_seq(session)
                is_update = row is not None
                if row is None:
                    row = Record(kind=kind, local_id=record["id"])
                    summary.created += 1
                else:
                    summary.updated += 1
                row.payload = canonical
                row.content_hash = digest
                row.deleted = False
                row.schema_version = SCHEMA_VERSION
                row.modified = utcnow()
                row.seq = seq
                session.add(row)
                session.flush()
                if is_update and kind in DEPENDENTS:
                    self._republish_dependents(session, kind, record["id"])
        if summary.created or summary.updated:
            self._changed()
        return summary

    def _republish_dependents(self, session: Session, kind: str, local_id: str) -> None:
        """Give records that embed this one (a line shows its biobank's name and
        accreditation) a new sequence number, so the index refreshes them too."""
        rows = session.execute(
            select(Record).where(Record.kind.in_(DEPENDENTS[kind]), Record.deleted.is_(False))
        ).scalars()
        order = list(KINDS)  # collections before the lines that name them
        for row in sorted(rows, key=lambda r: (order.index(r.kind), r.seq)):
            if row.payload.get(kind) == local_id:
                row.seq = self._next_seq(session)
                row.modified = utcnow()
                session.flush()

    def delete(self, kind: str, local_id: str) -> None:
        """Withdraw a record: it becomes a tombstone with a new sequence number."""
        with self.sessions.begin() as session:
            row = session.execute(
                select(Record).where(Record.kind == kind, Record.local_id == local_id)
            ).scalar_one_or_none()
            if row is None or row.deleted:
                raise NotFound(f"no {kind} with id {local_id!r}")
            users = [
                f"{r.kind} {r.local_id}"
                for r in session.execute(
                    select(Record).where(
                        Record.kind.in_(DEPENDENTS.get(kind, ())), Record.deleted.is_(False)
                    )
                ).scalars()
                if r.payload.get(kind) == local_id
            ]
            if users:
                raise InUse(
                    f"{kind} {local_id!r} is still referenced by {', '.join(users[:5])}"
                    + (f" and {len(users) - 5} more" if len(users) > 5 else "")
                )
            row.deleted = True
            row.payload = None
            row.content_hash = tombstone_hash(kind, local_id)
            row.modified = utcnow()
            row.seq = self._next_seq(session)
        self._changed()

    # -- reads -------------------------------------------------------------------------
    def purge_tombstones(self, before: dt.datetime) -> int:
        """Forget tombstones older than ``before``; returns how many.

        A harvester whose cursor is below the purged horizon can no longer learn those
        deletions from the feed, so the feed tells it to resynchronise instead.
        """
        with self.sessions.begin() as session:
            rows = (
                session.execute(
                    select(Record).where(Record.deleted.is_(True), Record.modified < before)
                )
                .scalars()
                .all()
            )
            if not rows:
                return 0
            horizon = max(row.seq for row in rows)
            for row in rows:
                session.delete(row)
            session.execute(
                update(Counter)
                .where(Counter.name == HORIZON, Counter.value < horizon)
                .values(value=horizon)
            )
            return len(rows)

    def horizon(self) -> int:
        """Cursors below this (other than 0, a full read) may have missed purged deletions."""
        with self.sessions() as session:
            counter = session.get(Counter, HORIZON)
            return counter.value if counter else 0

    def latest_seq(self) -> int:
        with self.sessions() as session:
            return session.get(Counter, SEQUENCE).value

    def counts(self) -> dict[str, int]:
        with self.sessions() as session:
            rows = session.execute(
                select(Record.kind, func.count())
                .where(Record.deleted.is_(False))
                .group_by(Record.kind)
            ).all()
        counts = {kind: 0 for kind in KINDS}
        counts.update({kind: n for kind, n in rows})
        return counts

    def get(self, kind: str, local_id: str) -> dict[str, Any] | None:
        with self.sessions() as session:
            row = session.execute(
                select(Record).where(
                    Record.kind == kind, Record.local_id == local_id, Record.deleted.is_(False)
                )
            ).scalar_one_or_none()
            return row.payload if row else None

    def existing_ids(self, kind: str) -> set[str]:
        with self.sessions() as session:
            return set(
                session.execute(
                    select(Record.local_id).where(Record.kind == kind, Record.deleted.is_(False))
                ).scalars()
            )

    def changes(self, after: int, limit: int) -> list[dict[str, Any]]:
        """Feed entries with a sequence above ``after``, in sequence order."""
        with self.sessions() as session:
            rows = session.execute(
                select(Record).where(Record.seq > after).order_by(Record.seq).limit(limit)
            ).scalars()
            return [_entry(row) for row in rows]


def _entry(row: Record) -> dict[str, Any]:
    modified = row.modified if row.modified.tzinfo else row.modified.replace(tzinfo=dt.UTC)
    return {
        "seq": row.seq,
        "kind": row.kind,
        "id": row.local_id,
        "op": "delete" if row.deleted else "upsert",
        "schema_version": row.schema_version,
        "hash": row.content_hash,
        "modified": modified.isoformat(),
        "record": row.payload,
    }
