"""A transactional outbox: messages written in the same transaction as the change they
announce, then delivered by a loop with retries.

* **At least once, in order per key.** A message is sent until its sender reports success,
  with exponential backoff between attempts; a later message with the same ``key`` (a part
  id) waits until the earlier ones are done, so a withdrawal never overtakes the part it
  withdraws. Receivers make delivery idempotent by the ids inside the payload, which turns
  at-least-once into exactly-once effects.
* **Several workers are safe.** A worker claims a message with a conditional UPDATE (a lease);
  if it dies, the lease runs out and another worker takes the message over.
* **Permanent refusals stop.** A sender raises :class:`Refused` when retrying cannot help
  (the receiver rejected the content); the message is kept, marked failed, with the reason.

Both the portal and the nodes use it: each declares its table with :class:`OutboxMixin`.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String, Text, and_, exists, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Mapped, Session, aliased, mapped_column, sessionmaker

from federation.database import utcnow

log = logging.getLogger(__name__)

LEASE = dt.timedelta(seconds=60)


class OutboxMixin:
    """The columns of an outbox table; declare ``class X(OutboxMixin, Base)`` with a name."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    key: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    target: Mapped[str] = mapped_column(String(320))
    payload: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True, index=True
    )
    failed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)

    @property
    def status(self) -> str:
        if self.delivered_at:
            return "delivered"
        if self.failed_at:
            return "failed"
        return "retrying" if self.attempts else "pending"


class Retry(Exception):
    """Try again later (the receiver is down, busy, or answered 5xx)."""


class Refused(Exception):
    """Do not try again: the receiver rejected the message for good. The message says why."""


class Held(Exception):
    """Not sent: the receiver fetches it (a push-mode node's mailbox) and acknowledges it,
    which marks it delivered. The message stays open, looked at again only after HOLD."""


HOLD = dt.timedelta(hours=1)  # a held message is re-offered to its sender this rarely

Sender = Callable[[OutboxMixin], None]


@dataclass
class PassReport:
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def attempted(self) -> int:
        return self.delivered + self.retried + self.failed


def as_aware(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands datetimes back naive; they were written as UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


class Outbox:
    def __init__(
        self,
        model: type[OutboxMixin],
        sessions: sessionmaker[Session],
        senders: Mapping[str, Sender],
        *,
        max_backoff: float = 300,
        base_backoff: float = 2,
        on_failed: Callable[[OutboxMixin, str], None] | None = None,
    ) -> None:
        self.model = model
        self.sessions = sessions
        self.senders = dict(senders)
        self.max_backoff = max_backoff
        self.base_backoff = base_backoff
        self.on_failed = on_failed
        self._wake = threading.Event()
        self.on_wake: list[Callable[[], None]] = []  # also told (the portal's mailbox waiters)

    def register(self, kind: str, sender: Sender) -> None:
        """Add a sender (one that needs the outbox itself can be registered after it)."""
        self.senders[kind] = sender

    # -- writing -----------------------------------------------------------------------
    def enqueue(
        self,
        session: Session,
        kind: str,
        target: str,
        payload: dict[str, Any],
        key: str | None = None,
    ) -> OutboxMixin:
        """Add a message inside the caller's transaction (it is sent only if that commits)."""
        if kind not in self.senders:
            raise ValueError(f"no sender for outbox messages of kind {kind!r}")
        message = self.model(kind=kind, key=key, target=target, payload=payload)  # type: ignore[call-arg]
        session.add(message)
        return message

    def wake(self) -> None:
        """Ask the delivery loop to run a pass now rather than at its next tick."""
        self._wake.set()
        for listener in self.on_wake:
            listener()

    # -- delivering --------------------------------------------------------------------
    def due(self, session: Session, now: dt.datetime, limit: int = 50) -> list[int]:
        """Ids of messages to try now: open, due, not leased, and first in line for their key."""
        m = self.model
        earlier = aliased(m)
        blocked = exists().where(
            and_(
                earlier.key == m.key,
                earlier.id < m.id,
                earlier.delivered_at.is_(None),
                earlier.failed_at.is_(None),
            )
        )
        query = (
            select(m.id)
            .where(
                m.delivered_at.is_(None),
                m.failed_at.is_(None),
                m.next_attempt_at <= now,
                (m.lease_until.is_(None)) | (m.lease_until < now),
                (m.key.is_(None)) | ~blocked,
            )
            .order_by(m.id)
            .limit(limit)
        )
        return list(session.execute(query).scalars())

    def _claim(self, message_id: int, now: dt.datetime) -> dt.datetime | None:
        """Lease a due message to this worker; the lease's end, or None if another has it.

        The lease runs from the later of ``now`` and the wall clock: a pass slowed by
        unreachable receivers must not hand out leases that have already run out, or a
        second worker would send the same message again."""
        m = self.model
        lease = max(now, utcnow()) + LEASE
        with self.sessions.begin() as session:
            result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
                update(m)
                .where(
                    m.id == message_id,
                    m.delivered_at.is_(None),
                    m.failed_at.is_(None),
                    (m.lease_until.is_(None)) | (m.lease_until < now),
                )
                .values(lease_until=lease, attempts=m.attempts + 1)
            )
            return lease if result.rowcount == 1 else None

    def backoff(self, attempts: int) -> dt.timedelta:
        seconds = min(self.max_backoff, self.base_backoff * 2 ** max(0, attempts - 1))
        return dt.timedelta(seconds=seconds * random.uniform(0.8, 1.0))

    def run_once(self, now: dt.datetime | None = None) -> PassReport:
        """One pass over the due messages. ``now`` lets tests step time instead of waiting."""
        now = now or utcnow()
        report = PassReport()
        with self.sessions() as session:
            ids = self.due(session, now)
        for message_id in ids:
            lease = self._claim(message_id, now)
            if lease is None:
                continue  # another worker has it
            with self.sessions() as session:
                message = session.get(self.model, message_id)
                if message is None:
                    continue  # purged since it was listed
                session.expunge(message)
            outcome, error = "delivered", None
            try:
                self.senders[message.kind](message)
            except Refused as exc:
                outcome, error = "failed", str(exc) or "refused"
            except Held as exc:
                outcome, error = "held", str(exc) or "held"
            except Retry as exc:
                outcome, error = "retry", str(exc) or "retry"
            except Exception as exc:  # a bug or an unexpected answer: keep the message
                log.exception("outbox %s #%s: sender failed", message.kind, message_id)
                outcome, error = "retry", f"{type(exc).__name__}: {exc}"
            self._settle(message, outcome, error, now, lease)
            if outcome == "delivered":
                report.delivered += 1
            elif outcome == "held":
                pass  # waiting to be fetched: neither a retry nor an error
            elif outcome == "failed":
                report.failed += 1
                report.errors.append(f"{message.kind} #{message_id}: {error}")
                if self.on_failed is not None:
                    self.on_failed(message, error or "")
            else:
                report.retried += 1
                report.errors.append(f"{message.kind} #{message_id}: {error}")
        return report

    def _settle(
        self,
        message: OutboxMixin,
        outcome: str,
        error: str | None,
        now: dt.datetime,
        lease: dt.datetime,
    ) -> None:
        """Record the outcome, only while this worker still holds its lease (a worker that
        took the message over after the lease ran out owns it now)."""
        values: dict[str, Any] = {"lease_until": None, "last_error": error}
        if outcome == "delivered":
            values["delivered_at"] = utcnow()
        elif outcome == "failed":
            values["failed_at"] = utcnow()
        elif outcome == "held":
            values["next_attempt_at"] = now + HOLD
        else:
            values["next_attempt_at"] = now + self.backoff(message.attempts + 1)
        with self.sessions.begin() as session:
            session.execute(
                update(self.model)
                .where(self.model.id == message.id, self.model.lease_until == lease)
                .values(**values)
            )

    def run_forever(self, stop: threading.Event, interval: float) -> None:
        """Passes every ``interval`` seconds (or sooner when woken) until ``stop`` is set."""
        while not stop.is_set():
            try:
                self.run_once()
            except Exception:  # the database hiccuped: log, keep the loop alive
                log.exception("outbox pass failed")
            self._wake.wait(interval)
            self._wake.clear()

    def retry_now(self, message_id: int) -> bool:
        """Make a waiting or failed message due at once (an operator's "retry")."""
        with self.sessions.begin() as session:
            result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
                update(self.model)
                .where(self.model.id == message_id, self.model.delivered_at.is_(None))
                .values(next_attempt_at=utcnow(), failed_at=None)
            )
        self.wake()
        return result.rowcount == 1

    def pending(self, session: Session, limit: int = 200) -> list[OutboxMixin]:
        """Undelivered messages, oldest first (for the operators' page)."""
        m = self.model
        return list(
            session.execute(select(m).where(m.delivered_at.is_(None)).order_by(m.id).limit(limit))
            .scalars()
            .all()
        )
