"""The node's catalogue store: writes that number every change, and the feed that reads them.

A withdrawn record is a tombstone that keeps its content for a restore. The database
column (``deleted``) and the feed's op (``"delete"``) keep their older names: renaming them
would be a migration and a protocol change.

Withdrawals stick: only :meth:`CatalogueStore.restore` brings a withdrawn record back. A
write (an import, a save) that names a withdrawn record as published is refused whole
(:class:`StillWithdrawn`, nothing written), and one that names it withdrawn again leaves it
as it is, its kept content untouched. A write that withdraws a biobank or collection gets
the same check as :meth:`CatalogueStore.withdraw`: refused (:class:`InUse`) while a record
that stays published still names it.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from flask import Flask, current_app
from sqlalchemy import func, select, tuple_, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from federation.database import database_engine, utcnow
from federation.node.migrate import upgrade
from federation.node.models import Counter, Record
from federation.protocol import canonical_form, canonical_hash, canonical_json, tombstone_hash
from schemas import KINDS, SCHEMA_VERSION, schema_for

STORE_KEY = "cellfed.store"
"""The app extension that holds the node's CatalogueStore."""

SEQUENCE = "changes"
HORIZON = "purged"  # the highest sequence of a tombstone purged so far
# Which life of the store this is: drawn at random when the store is made, drawn again when
# it is restored from a backup, so harvesters know its sequence numbers started over.
EPOCH = "epoch"


@dataclass
class WriteSummary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    withdrawn: int = 0


class RecordNotFound(LookupError):
    """No such record in the catalogue: none live to withdraw, or none withdrawn to restore."""


class InUse(ValueError):
    """A record cannot be withdrawn while others still reference it."""


WITHDRAWN_HERE = "withdrawn at this node; restore it first to change it"
"""Why a write may not name a withdrawn record as published (the importer says it too)."""


class StillWithdrawn(ValueError):
    """A write named records that are withdrawn at this node as published; nothing was
    written. ``keys``: their (kind, id)."""

    def __init__(self, keys: list[tuple[str, str]]) -> None:
        self.keys = keys
        named = ", ".join(f"{kind} {local_id!r}" for kind, local_id in keys[:5])
        more = f" and {len(keys) - 5} more" if len(keys) > 5 else ""
        super().__init__(f"{named}{more}: {WITHDRAWN_HERE}")


class MissingReference(ValueError):
    """A withdrawn record cannot be restored while a record it names (its biobank, its
    collection, a network) is missing or withdrawn: that one has to come back first."""


DEPENDENTS: dict[str, tuple[str, ...]] = {
    "biobank": ("collection", "cell_line"),
    "collection": ("cell_line",),
}
"""Which kinds embed which (through a field named after the kind they reference)."""

REFERENCES: dict[str, tuple[tuple[str, str], ...]] = {
    "biobank": (("networks", "network"),),
    "collection": (("biobank", "biobank"), ("parent", "collection"), ("networks", "network")),
    "cell_line": (("biobank", "biobank"), ("collection", "collection")),
}
"""Per kind: (field, kind it names). A field may hold one id or a list of ids."""


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _in_use(kind: str, local_id: str, users: list[str]) -> InUse:
    return InUse(
        f"{kind} {local_id!r} is still referenced by {', '.join(users[:5])}"
        + (f" and {len(users) - 5} more" if len(users) > 5 else "")
    )


class RecordReader(Protocol):
    """The read an export makes: a :class:`CatalogueStore`, or the part of one a person may
    see (federation.node.authz.ScopedCatalogue)."""

    def records(self, kind: str, withdrawn: bool = False) -> list[dict[str, Any]]: ...


class CatalogueStore:
    """All reads and writes of one node's catalogue. Writes happen in one transaction each."""

    def __init__(self, database_url: str) -> None:
        self.engine: Engine = database_engine(database_url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.listeners: list[Callable[[], None]] = []  # called after each committed change
        # Called on each record before it is stored, in the write's transaction: the lot
        # holds (federation/node/inbox/holds.py) set each lot's ``vials_held`` this way, so
        # a re-import cannot publish stock that is promised to someone.
        self.adjusters: list[Callable[[Session, str, dict[str, Any]], dict[str, Any]]] = []

    def _changed(self) -> None:
        for listener in self.listeners:
            listener()

    def create_schema(self) -> None:
        """Migrate the database to the current schema (Alembic) and seed the counter."""
        upgrade(self.engine)
        with self.sessions.begin() as session:
            for name in (SEQUENCE, HORIZON):
                if session.get(Counter, name) is None:
                    session.add(Counter(name=name, value=0))
            if session.get(Counter, EPOCH) is None:
                session.add(Counter(name=EPOCH, value=_new_epoch()))

    def renew_epoch(self) -> int:
        """Start a new life of the store (after a restore): its feed then tells harvesters to
        read it again from 0, even once new changes pass the cursors they hold."""
        epoch = _new_epoch()
        with self.sessions.begin() as session:
            counter = session.get(Counter, EPOCH)
            if counter is None:
                session.add(Counter(name=EPOCH, value=epoch))
            else:
                counter.value = epoch
        return epoch

    def epoch(self) -> int | None:
        with self.sessions() as session:
            counter = session.get(Counter, EPOCH)
            return counter.value if counter else None

    def dispose(self) -> None:
        self.engine.dispose()

    # -- writes ------------------------------------------------------------------------
    def write(
        self,
        records: Iterable[tuple[str, dict[str, Any]]],
        withdrawn: Collection[tuple[str, str]] = (),
    ) -> WriteSummary:
        """Upsert validated records ``(kind, record)`` in one transaction.

        Unchanged records (same hash) get no new sequence number, so re-importing a file
        adds nothing to the feed. Records named in ``withdrawn`` (``(kind, id)``) are stored
        withdrawn: a tombstone in the feed, their content kept aside for a restore.

        A record withdrawn at this node stays withdrawn: named in ``withdrawn`` again it is
        unchanged (its kept content too); named as published, the whole write is refused
        (:class:`StillWithdrawn`). Withdrawing a biobank or collection that a record staying
        published still names refuses the whole write too (:class:`InUse`).
        """
        summary = WriteSummary()
        changed: dict[str, set[str]] = {}
        schemas = {kind: schema_for(kind) for kind in KINDS}
        records = list(records)
        with self.sessions.begin() as session:
            rows = self._rows(session, {(kind, record["id"]) for kind, record in records})
            held = {key for key, row in rows.items() if row.deleted}
            blocked = [
                (kind, record["id"])
                for kind, record in records
                if (kind, record["id"]) in held and (kind, record["id"]) not in withdrawn
            ]
            if blocked:
                raise StillWithdrawn(blocked)
            self._check_withdrawals(session, records, withdrawn, held)
            pending: list[tuple[Record, dict[str, Any], bytes, str | None]] = []
            for kind, record in records:
                key = (kind, record["id"])
                if key in held:  # withdrawn here and again: as it is, kept content too
                    summary.unchanged += 1
                    continue
                canonical = schemas[kind].dump(record)
                for adjust in self.adjusters:
                    canonical = adjust(session, kind, canonical)
                text, digest_of_text = canonical_form(canonical)
                digest: str | None = digest_of_text
                row = rows.get(key)
                if key in withdrawn:
                    summary.withdrawn += 1
                    digest = None  # a tombstone
                elif row is not None and row.content_hash == digest:
                    summary.unchanged += 1
                    continue
                elif row is None:
                    summary.created += 1
                else:
                    summary.updated += 1
                    changed.setdefault(kind, set()).add(record["id"])
                if row is None:
                    row = rows[key] = Record(kind=kind, local_id=record["id"])
                pending.append((row, canonical, text, digest))
            seq = self._reserve(session, len(pending))
            for row, canonical, text, digest in pending:
                seq += 1
                if digest is None:
                    self._tombstone(row, canonical, seq)
                else:
                    self._publish(row, canonical, (text, digest), seq)
            session.add_all(row for row, *_ in pending)  # new rows join once complete
            session.flush()
            for kind in (k for k in KINDS if k in DEPENDENTS and k in changed):
                self._republish_dependents(session, kind, changed[kind])
        if pending:
            self._changed()
        return summary

    @staticmethod
    def _check_withdrawals(
        session: Session,
        records: list[tuple[str, dict[str, Any]]],
        withdrawn: Collection[tuple[str, str]],
        held: set[tuple[str, str]],
    ) -> None:
        """InUse if this write withdraws a biobank or collection that a record published
        after it (stored and not in the write, or in the write and not withdrawn) names."""
        targets: dict[str, set[str]] = {}
        for kind, record in records:
            key = (kind, record["id"])
            if kind in DEPENDENTS and key in withdrawn and key not in held:
                targets.setdefault(kind, set()).add(record["id"])
        if not targets:
            return
        kinds = {d for kind in targets for d in DEPENDENTS[kind]}
        after = {
            (r.kind, r.local_id): r.payload
            for r in session.execute(
                select(Record).where(Record.kind.in_(kinds), Record.deleted.is_(False))
            ).scalars()
        }
        for kind, record in records:
            key = (kind, record["id"])
            if kind in kinds:
                if key in withdrawn:
                    after.pop(key, None)
                else:
                    after[key] = record
        users: dict[tuple[str, str], list[str]] = {}
        for (kind, local_id), payload in sorted(after.items()):
            for target, ids in targets.items():
                named = (payload or {}).get(target)
                if kind in DEPENDENTS[target] and named in ids:
                    users.setdefault((target, named), []).append(f"{kind} {local_id}")
        if users:
            (target, local_id), names = min(users.items())
            raise _in_use(target, local_id, names)

    @staticmethod
    def _rows(session: Session, keys: set[tuple[str, str]]) -> dict[tuple[str, str], Record]:
        """The stored rows of these (kind, id) keys: looked up one by one for a few, read in
        one pass for an import."""
        found: Iterable[Record]
        if len(keys) > 500:
            found = session.execute(select(Record)).scalars()
        else:
            found = (
                session.execute(
                    select(Record).where(tuple_(Record.kind, Record.local_id).in_(keys))
                ).scalars()
                if keys
                else []
            )
        return {(r.kind, r.local_id): r for r in found}

    @staticmethod
    def _reserve(session: Session, n: int) -> int:
        """Take ``n`` sequence numbers at once; returns the one before the first."""
        if n == 0:
            return 0
        session.execute(
            update(Counter).where(Counter.name == SEQUENCE).values(value=Counter.value + n)
        )
        last = session.execute(select(Counter.value).where(Counter.name == SEQUENCE)).scalar_one()
        return last - n

    @staticmethod
    def _publish(row: Record, canonical: dict, form: tuple[bytes, str], seq: int) -> None:
        """``form``: the record's canonical text and hash (federation.protocol.canonical_form),
        stored together so the feed can send the text as it is."""
        row.payload = canonical
        row.withdrawn_payload = None
        row.canonical = form[0].decode()
        row.content_hash = form[1]
        row.deleted = False
        row.schema_version = SCHEMA_VERSION
        row.modified = utcnow()
        row.seq = seq

    @staticmethod
    def _tombstone(row: Record, content: dict | None, seq: int) -> None:
        row.withdrawn_payload = content
        row.deleted = True
        row.payload = None
        row.canonical = None
        row.content_hash = tombstone_hash(row.kind, row.local_id)
        row.schema_version = SCHEMA_VERSION
        row.modified = utcnow()
        row.seq = seq

    def _republish_dependents(self, session: Session, kind: str, local_ids: set[str]) -> None:
        """Give records that embed these (a line shows its biobank's name and accreditation)
        a new sequence number, so the index refreshes them too."""
        rows = session.execute(
            select(Record).where(Record.kind.in_(DEPENDENTS[kind]), Record.deleted.is_(False))
        ).scalars()
        order = list(KINDS)  # collections before the lines that name them
        embedding = [r for r in rows if (r.payload or {}).get(kind) in local_ids]
        seq = self._reserve(session, len(embedding))
        for row in sorted(embedding, key=lambda r: (order.index(r.kind), r.seq)):
            seq += 1
            row.seq = seq
            row.modified = utcnow()
        session.flush()

    def republish(
        self, session: Session, kind: str, local_id: str, change: Callable[[dict], dict]
    ) -> bool:
        """Rewrite one published record inside the caller's transaction (the lot holds and
        shipments do, so the feed carries the new stock); a new change is numbered only if
        the content changed. False if there is no such published record. The caller calls
        :meth:`notify` after its commit."""
        row = session.execute(
            select(Record)
            .where(Record.kind == kind, Record.local_id == local_id)
            .execution_options(populate_existing=True)
        ).scalar_one_or_none()
        if row is None or row.deleted or row.payload is None:
            return False
        schema = schema_for(kind)  # stored payloads are dumped: load to dump again
        canonical = schema.dump(schema.load(change(dict(row.payload))))
        for adjust in self.adjusters:
            canonical = adjust(session, kind, canonical)
        form = canonical_form(canonical)
        if form[1] == row.content_hash:
            return False
        self._publish(row, canonical, form, self._reserve(session, 1) + 1)
        session.flush()
        return True

    def notify(self) -> None:
        """Tell the listeners (the feed's waiters) that a change was committed."""
        self._changed()

    def withdraw(self, kind: str, local_id: str) -> None:
        """Withdraw a record: it becomes a tombstone with a new sequence number."""
        with self.sessions.begin() as session:
            row = session.execute(
                select(Record).where(Record.kind == kind, Record.local_id == local_id)
            ).scalar_one_or_none()
            if row is None or row.deleted:
                raise RecordNotFound(f"no {kind} with id {local_id!r}")
            users = [
                f"{r.kind} {r.local_id}"
                for r in session.execute(
                    select(Record).where(
                        Record.kind.in_(DEPENDENTS.get(kind, ())), Record.deleted.is_(False)
                    )
                ).scalars()
                if (r.payload or {}).get(kind) == local_id
            ]
            if users:
                raise _in_use(kind, local_id, users)
            self._tombstone(row, row.payload, self._reserve(session, 1) + 1)
        self._changed()

    def restore(self, kind: str, local_id: str) -> None:
        """Bring a withdrawn record back as it was, with a new sequence number; refused
        (MissingReference) if it names a record that is not (or no longer) in the catalogue."""
        with self.sessions.begin() as session:
            row = session.execute(
                select(Record).where(Record.kind == kind, Record.local_id == local_id)
            ).scalar_one_or_none()
            if row is None or not row.deleted or row.withdrawn_payload is None:
                raise RecordNotFound(f"no withdrawn {kind} with id {local_id!r}")
            record = schema_for(kind).load(row.withdrawn_payload)
            missing = [
                f"{ref} {target!r}"
                for field_name, ref in REFERENCES.get(kind, ())
                for target in _as_list(record.get(field_name))
                if not self._live(session, ref, target)
            ]
            if missing:
                raise MissingReference(
                    f"{kind} {local_id!r} names {', '.join(missing)}, which is not in the "
                    "catalogue: restore or import that first"
                )
            canonical = schema_for(kind).dump(record)
            self._publish(row, canonical, canonical_form(canonical), self._reserve(session, 1) + 1)
        self._changed()

    def purge_tombstones(self, before: dt.datetime) -> int:
        """Forget withdrawals older than ``before`` (their content too); returns how many.

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

    @staticmethod
    def _live(session: Session, kind: str, local_id: str) -> bool:
        return (
            session.execute(
                select(Record.pk).where(
                    Record.kind == kind, Record.local_id == local_id, Record.deleted.is_(False)
                )
            ).first()
            is not None
        )

    # -- reads -------------------------------------------------------------------------
    def latest_seq(self) -> int:
        with self.sessions() as session:
            counter = session.get(Counter, SEQUENCE)
            if counter is None:
                raise RuntimeError("the store has no change counter: create_schema() first")
            return counter.value

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

    def get_many(self, kind: str, local_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The current records of ``kind`` among ``local_ids``, by id, in one query (a part's
        page reads its 50 items' records this way, not one query each)."""
        wanted = sorted(set(local_ids))
        if not wanted:
            return {}
        with self.sessions() as session:
            rows = session.execute(
                select(Record.local_id, Record.payload).where(
                    Record.kind == kind, Record.local_id.in_(wanted), Record.deleted.is_(False)
                )
            ).all()
        return {local_id: payload for local_id, payload in rows}

    def withdrawn(self, kind: str, local_id: str) -> dict[str, Any] | None:
        """The content a withdrawal put aside, if this record is withdrawn."""
        with self.sessions() as session:
            row = session.execute(
                select(Record).where(
                    Record.kind == kind, Record.local_id == local_id, Record.deleted.is_(True)
                )
            ).scalar_one_or_none()
            return row.withdrawn_payload if row else None

    def records(self, kind: str, withdrawn: bool = False) -> list[dict[str, Any]]:
        """Every current record of a kind (or every withdrawn one's kept content), by id."""
        with self.sessions() as session:
            rows = session.execute(
                select(Record)
                .where(Record.kind == kind, Record.deleted.is_(withdrawn))
                .order_by(Record.local_id)
            ).scalars()
            # A row holds one of the two (published: payload; withdrawn: the kept content),
            # and a tombstone whose content is gone has neither.
            return [
                content
                for r in rows
                if (content := r.withdrawn_payload if withdrawn else r.payload)
            ]

    def withdrawn_counts(self) -> dict[str, int]:
        with self.sessions() as session:
            rows = session.execute(
                select(Record.kind, func.count())
                .where(Record.deleted.is_(True), Record.withdrawn_payload.is_not(None))
                .group_by(Record.kind)
            ).all()
        counts = {kind: 0 for kind in KINDS}
        counts.update({kind: n for kind, n in rows})
        return counts

    def existing_ids(self, kind: str) -> set[str]:
        """The ids of the published records of a kind."""
        with self.sessions() as session:
            return set(
                session.execute(
                    select(Record.local_id).where(Record.kind == kind, Record.deleted.is_(False))
                ).scalars()
            )

    def withdrawn_ids(self, kind: str) -> set[str]:
        """The ids of the withdrawn records of a kind (tombstones, kept content or not)."""
        with self.sessions() as session:
            return set(
                session.execute(
                    select(Record.local_id).where(Record.kind == kind, Record.deleted.is_(True))
                ).scalars()
            )

    def dependents(self, kind: str, local_ids: Collection[str]) -> dict[str, list[tuple[str, str]]]:
        """Per id of ``kind`` (a biobank or collection): the published records that name it,
        ``(kind, id)`` each, the ones :meth:`withdraw` would be refused for."""
        if kind not in DEPENDENTS or not local_ids:
            return {}
        wanted = set(local_ids)
        found: dict[str, list[tuple[str, str]]] = {}
        with self.sessions() as session:
            rows = session.execute(
                select(Record)
                .where(Record.kind.in_(DEPENDENTS[kind]), Record.deleted.is_(False))
                .order_by(Record.kind, Record.local_id)
            ).scalars()
            for row in rows:
                named = (row.payload or {}).get(kind)
                if named in wanted:
                    found.setdefault(named, []).append((row.kind, row.local_id))
        return found

    def changes(self, after: int, limit: int) -> list[dict[str, Any]]:
        """Feed entries with a sequence above ``after``, in sequence order."""
        with self.sessions() as session:
            rows = session.execute(
                select(Record).where(Record.seq > after).order_by(Record.seq).limit(limit)
            ).scalars()
            return [_entry(row) for row in rows]

    def stored_changes(self, after: int, limit: int) -> list[tuple[dict[str, Any], str | None]]:
        """Feed entries after ``after`` as :meth:`changes`, but without their records: each
        comes with its record's stored canonical text (None for a tombstone), which a feed
        page sends as it is (federation/node/feed_body.py). No record is parsed."""
        columns = [getattr(Record, name) for name in _ENVELOPE_COLUMNS]
        with self.sessions() as session:
            rows = session.execute(
                select(Record.pk, Record.canonical, *columns)
                .where(Record.seq > after)
                .order_by(Record.seq)
                .limit(limit)
            ).all()
            # A text that is not of the stored hash (written before 0008 and not backfilled,
            # or by anything that changed the payload alone) is not sent: the payload is.
            texts = {r.pk: r.canonical for r in rows if not r.deleted and _text_matches(r)}
            missing = [r.pk for r in rows if not r.deleted and r.pk not in texts]
            if missing:
                found = select(Record.pk, Record.payload).where(Record.pk.in_(missing))
                texts.update((pk, canonical_json(p).decode()) for pk, p in session.execute(found))
        return [(_envelope(r), None if r.deleted else texts[r.pk]) for r in rows]


_ENVELOPE_COLUMNS: tuple[str, ...] = ("seq", "kind", "local_id", "deleted", "schema_version")
_ENVELOPE_COLUMNS += ("content_hash", "modified")


def _text_matches(row: Any) -> bool:
    """Whether a row's stored canonical text is the one its content hash is of."""
    return row.canonical is not None and canonical_hash(row.canonical.encode()) == row.content_hash


def _envelope(row: Any) -> dict[str, Any]:
    """A feed entry without its record, from a Record or a row of its columns."""
    modified = row.modified if row.modified.tzinfo else row.modified.replace(tzinfo=dt.UTC)
    return {
        "seq": row.seq,
        "kind": row.kind,
        "id": row.local_id,
        "op": "delete" if row.deleted else "upsert",
        "schema_version": row.schema_version,
        "hash": row.content_hash,
        "modified": modified.isoformat(),
    }


def _entry(row: Record) -> dict[str, Any]:
    return {**_envelope(row), "record": row.payload}


def _new_epoch() -> int:
    return secrets.randbelow(2**31 - 2) + 1  # fits the counter column on every database


def store_of(app: Flask) -> CatalogueStore:
    """The store of a node app, outside a request (the CLI, the demo, tests)."""
    return app.extensions[STORE_KEY]


def current_store() -> CatalogueStore:
    """The store of the node app handling this request."""
    return store_of(current_app)
