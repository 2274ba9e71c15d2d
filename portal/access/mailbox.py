"""The portal's mailbox for push-mode members: what the broker would send them waits here.

A push-mode node (federation/registry.py, ``mode = "push"``) accepts no connections, so the
broker's senders (broker.py, collaborators.py) do not call it: :class:`MailboxSenders` holds
each of its messages in the outbox table (``Held``), and the node long-polls
``GET /api/v1/nodes/<node>/mailbox`` (mailbox_api.py) and acknowledges what it stored
durably. Only an acknowledgement marks a message delivered, so delivery is at least once;
the node applies each message as its access API would (idempotent by content hash, event id,
whole list), and the events it reports with the ack are mirrored as a direct answer would be.

Waiting: a poll re-reads the table every ``MAILBOX_POLL_INTERVAL`` seconds and also wakes at
once when this process's outbox is woken (a new message was committed here). With several
portal processes, a message written by another process is seen at the next re-read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from federation.database import utcnow
from federation.outbox import Held, Outbox, OutboxMixin
from federation.registry import Member
from portal.access.models import PortalOutbox
from portal.access.service import AccessService, ForgedEvent, RequestNotFound

KINDS = ("deliver_part", "action", "co_applicants")  # what the broker sends a node
BATCH = 50  # messages a poll hands out at most


class NotInMailbox(LookupError):
    """An acknowledged id is not an open message of this node's (HTTP 404)."""


@dataclass(frozen=True)
class Ack:
    """One acknowledged message: the node's events it made, or why it refused it for good."""

    id: int
    events: tuple[dict[str, Any], ...] = ()
    refused: str | None = None


def part_of(message: OutboxMixin) -> str:
    """The part a message is about (deliver_part carries the part, the others its id)."""
    payload = message.payload
    return str(payload["id"] if message.kind == "deliver_part" else payload["part_id"])


def body_of(message: OutboxMixin) -> dict[str, Any]:
    """What the node's access API would have received as the request body."""
    return message.payload["action"] if message.kind == "action" else message.payload


def message_wire(message: OutboxMixin) -> dict[str, Any]:
    """A mailbox message as the node reads it (portal/access/openapi.json, MailboxMessage)."""
    return {
        "id": message.id,
        "kind": message.kind,
        "part_id": part_of(message),
        "body": body_of(message),
        "created_at": message.created_at.isoformat(),
    }


class MailboxSenders:
    """Wraps the broker's senders: a push-mode member's messages are held for its mailbox."""

    def __init__(self, members: Callable[[], list[Member]]) -> None:
        self.members = members

    def wrap(self, sender: Callable[[OutboxMixin], None]) -> Callable[[OutboxMixin], None]:
        def send(message: OutboxMixin) -> None:
            member = next((m for m in self.members() if m.id == message.target), None)
            if member is not None and member.pushes:
                raise Held(f"waiting in node {member.id}'s mailbox (push mode)")
            sender(message)

        return send


class Mailbox:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        outbox: Outbox,
        service: AccessService,
        poll_interval: float = 1.0,
    ) -> None:
        self.sessions = sessions
        self.outbox = outbox
        self.service = service
        self.poll_interval = poll_interval
        self._changed = threading.Condition()
        outbox.on_wake.append(self.notify)

    def notify(self) -> None:
        """A message may have been written: let waiting polls look again now."""
        with self._changed:
            self._changed.notify_all()

    def open_messages(self, node_id: str, after: int, limit: int = BATCH) -> list[OutboxMixin]:
        m = PortalOutbox
        with self.sessions() as session:
            rows = session.execute(
                select(m)
                .where(
                    m.target == node_id,
                    m.kind.in_(KINDS),
                    m.id > after,
                    m.delivered_at.is_(None),
                    m.failed_at.is_(None),
                )
                .order_by(m.id)
                .limit(limit)
            ).scalars()
            return list(rows)

    def poll(self, node_id: str, after: int, wait: float) -> list[OutboxMixin]:
        """The node's open messages after ``after``, waiting up to ``wait`` seconds for one."""
        deadline = time.monotonic() + wait
        while True:
            found = self.open_messages(node_id, after)
            left = deadline - time.monotonic()
            if found or left <= 0:
                return found
            with self._changed:
                self._changed.wait(min(self.poll_interval, left))

    def ack(self, node_id: str, acks: list[Ack]) -> int:
        """Mark the node's messages delivered (or failed, when it refused one), after
        mirroring the events it reports. Every id is checked before anything is stored;
        a repeated ack of a delivered message is harmless. Returns how many were new."""
        with self.sessions() as session:
            rows = {a.id: session.get(PortalOutbox, a.id) for a in acks}
            for row in rows.values():
                if row is not None:
                    session.expunge(row)
        strangers = [i for i, r in rows.items() if r is None or r.target != node_id]
        strangers += [i for i, r in rows.items() if r is not None and r.kind not in KINDS]
        if strangers:
            shown = ", ".join(str(i) for i in sorted(set(strangers)))
            raise NotInMailbox(f"no message {shown} in node {node_id}'s mailbox")
        new = 0
        for item in acks:
            message = rows[item.id]
            assert message is not None  # checked above
            if message.delivered_at is not None or message.failed_at is not None:
                continue  # acknowledged before: the node's answer was lost
            new += self._settle(node_id, message, item)
        return new

    def _settle(self, node_id: str, message: OutboxMixin, item: Ack) -> int:
        reason = f"node {node_id} refused it: {item.refused}" if item.refused else None
        if reason is None and item.events:
            try:
                self.service.apply_events(node_id, part_of(message), list(item.events))
            except (RequestNotFound, ForgedEvent) as exc:
                reason = str(exc)
        column = "failed_at" if reason is not None else "delivered_at"
        with self.sessions.begin() as session:
            row = session.get(PortalOutbox, message.id, with_for_update=True)
            if row is None or row.delivered_at is not None or row.failed_at is not None:
                return 0
            setattr(row, column, utcnow())
            row.last_error = reason
            row.lease_until = None
        if reason is not None:
            self.service.delivery_failed(message, reason)
        return 1
