"""The node's access-request inbox: receive parts, apply every transition, report to the portal.

Everything that changes a part happens in one transaction with the event that records it and
the outbox message that reports it to the portal, so the portal hears of each change exactly
once, in order, even if it is down when the change happens. Events leave the node built
through the portal's own schema (``EventSchema``): one the portal would refuse raises
ValidationError in that transaction, and nothing is stored or queued.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from federation.database import new_id, utcnow
from federation.mail import email_payload
from federation.node.inbox import stock
from federation.node.inbox.models import InboxEvent, InboxPart
from federation.node.inbox.terms import approval_text
from federation.node.store import CatalogueStore
from federation.outbox import Outbox, as_aware
from federation.protocol import content_hash
from schemas.access import EventSchema, PartSchema, to_wire
from schemas.lifecycle import INITIAL, Actor, TransitionRefused, check

INBOX_KEY = "cellfed.inbox"
"""The app extension that holds the node's Inbox."""


class PartNotAccepted(ValueError):
    """The part cannot be accepted as sent (HTTP 422); the message names what is wrong."""


class PartConflict(ValueError):
    """A part with this id exists with different content (HTTP 409)."""


class PartNotFound(LookupError):
    """No such part, or not one the caller may see (HTTP 404 either way)."""


@dataclass(frozen=True)
class Acting:
    """Who acts on a part: their role in the lifecycle, name and subject for the audit trail."""

    actor: Actor
    name: str
    sub: str | None = None


def event_wire(event: InboxEvent) -> dict[str, Any]:
    """The event as the portal reads it (EventSchema); ValidationError if it would refuse it."""
    at = as_aware(event.at)
    if at is None:
        raise ValueError(f"inbox event {event.id} has no time")
    return to_wire(
        EventSchema(),
        {
            "id": event.id,
            "part_id": event.part_id,
            "seq": event.seq,
            "type": event.type,
            "actor": event.actor,
            "actor_name": event.actor_name,
            "actor_sub": event.actor_sub,
            "at": at.isoformat(),
            "state": event.state,
            "text": event.text,
            "conditions": list(event.conditions or []),
        },
    )


def part_wire(part: InboxPart) -> dict[str, Any]:
    return {"id": part.id, "state": part.state, "seq": part.seq}


class Inbox:
    def __init__(
        self,
        store: CatalogueStore,
        node_id: str,
        node_name: str,
        outbox: Outbox,
        *,
        contact_email: str | None = None,
        node_url: str | None = None,
        consent_override_allowed: bool = False,
    ) -> None:
        self.consent_override_allowed = consent_override_allowed  # CONSENT_OVERRIDE_ALLOWED
        self.store = store
        stock.install(store)  # published lots show what approvals hold
        self.sessions = store.sessions
        self.node_id = node_id
        self.node_name = node_name
        self.outbox = outbox
        self.contact_email = contact_email
        self.node_url = node_url
        # What a relayed action also records, by type, in its transaction (agreements.py
        # keeps the researcher's evidence this way); a hook refuses with TransitionRefused.
        self.relay_hooks: dict[str, Callable[[Session, InboxPart, dict[str, Any]], None]] = {}

    # -- from the portal ---------------------------------------------------------------
    def receive(self, data: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]], bool]:
        """Store a delivered part (validated with PartSchema) once; a repeat is answered with
        the part as stored. Returns (part, its events, whether it was new)."""
        canonical = PartSchema().dump(data)
        digest = content_hash(canonical)
        if data["node_id"] != self.node_id:
            raise PartNotAccepted(f"this is node {self.node_id!r}, not {data['node_id']!r}")
        with self.sessions.begin() as session:
            existing = session.get(InboxPart, data["id"])
            if existing is not None:
                if existing.content_hash != digest:
                    raise PartConflict(
                        f"part {data['id']} was delivered before with different content"
                    )
                return part_wire(existing), [event_wire(e) for e in existing.events], False
            self._check_items(data)
            part = InboxPart(
                id=data["id"],
                request_id=data["request_id"],
                biobank_id=data["biobank_id"],
                state=INITIAL.value,
                seq=0,
                content_hash=digest,
                payload=canonical,
            )
            session.add(part)
            event = self._append(
                session, part, "receive", Acting(Actor.NODE, self.node_name), origin="node"
            )
            self._notify_contact(
                session,
                f"New access request for {data['biobank_name']}: {data['project']['title']}",
                f"{data['researcher']['name']} asks for {len(data['items'])} item(s) of "
                f"{data['biobank_name']}.\n\n{self._link(part.id)}",
            )
            return part_wire(part), [event_wire(event)], True

    def _check_items(self, data: dict[str, Any]) -> None:
        """Never trust the wire: every item must be ours, current, and the part's biobank's."""
        problems = []
        if self.store.get("biobank", data["biobank_id"]) is None:
            problems.append(f"biobank {data['biobank_id']!r} is not in this node's catalogue")
        for i, item in enumerate(data["items"]):
            record = self.store.get(item["kind"], item["id"])
            if record is None:
                problems.append(
                    f"items[{i}]: {item['kind']} {item['id']!r} is not in the catalogue"
                )
            elif record.get("biobank") != data["biobank_id"]:
                problems.append(
                    f"items[{i}]: {item['kind']} {item['id']!r} belongs to biobank "
                    f"{record.get('biobank')!r}, not {data['biobank_id']!r}"
                )
        if problems:
            raise PartNotAccepted("; ".join(problems))

    def relay(self, part_id: str, action: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Apply a researcher's action relayed by the portal (ActionSchema). Idempotent by the
        action's id: a repeat returns the event it made. Raises TransitionRefused."""
        with self.sessions.begin() as session:
            done = session.get(InboxEvent, action["id"])
            if done is not None:
                if done.part_id != part_id:
                    raise PartConflict(f"action {action['id']} belongs to another part")
                return event_wire(done), False
            part = session.get(InboxPart, part_id)
            if part is None:
                raise PartNotFound(f"no part {part_id} at this node")
            event = self._append(
                session,
                part,
                action["type"],
                Acting(Actor.RESEARCHER, action["actor_name"], action["actor_sub"]),
                text=action.get("text"),
                origin="portal",
                event_id=action["id"],
            )
            part.needs_attention = True
            hook = self.relay_hooks.get(action["type"])
            if hook is not None:
                hook(session, part, action)
            released = action["type"] == "withdraw" and stock.release_part(
                self.store, session, part.id
            )
            title = part.payload["project"]["title"]
            what = {"withdraw": "withdrew", "provide_info": "answered", "message": "wrote"}
            what |= {"confirm_receipt": "confirmed receipt", "evidence": "sent evidence"}
            self._notify_contact(
                session,
                f"{action['actor_name']} {what[action['type']]}: {title}",
                f"{action.get('text') or ''}\n\n{self._link(part.id)}".strip(),
            )
            wire = event_wire(event)
        if released:
            self.store.notify()
        return wire, True

    # -- from the node's admins --------------------------------------------------------
    def decide(
        self,
        part_id: str,
        biobanks: Collection[str],
        acting: Acting,
        event_type: str,
        text: str | None = None,
        conditions: Collection[str] = (),
        override_reason: str | None = None,
    ) -> dict[str, Any]:
        """An admin's decision or message on a part of one of ``biobanks``; reported to the
        portal through the outbox in the same transaction. Raises TransitionRefused."""
        if event_type == "approve":  # terms that match: checked on the node's own records
            payload = self.part(part_id, biobanks).payload
            text = approval_text(
                self.store, payload, text, override_reason, self.consent_override_allowed
            )
        with self.sessions.begin() as session:
            part = self._visible(session, part_id, biobanks)
            if event_type == "fulfil" and stock.active_holds(session, part.id):
                # Held vials leave through a shipment, which lowers the stock for good.
                raise TransitionRefused("this part holds vials: record the shipment instead")
            event = self._append(
                session, part, event_type, acting, text=text, conditions=conditions, origin="node"
            )
            part.needs_attention = False
            wire = event_wire(event)
            self.outbox.enqueue(session, "event", "portal", wire, key=part.id)
        self.outbox.wake()
        return wire

    def parts(self, biobanks: Collection[str], state: str | None = None) -> list[InboxPart]:
        with self.sessions() as session:
            query = (
                select(InboxPart)
                .where(InboxPart.biobank_id.in_(list(biobanks)))
                .order_by(InboxPart.needs_attention.desc(), InboxPart.updated_at.desc())
            )
            if state:
                query = query.where(InboxPart.state == state)
            return list(session.execute(query).scalars())

    def part(self, part_id: str, biobanks: Collection[str]) -> InboxPart:
        with self.sessions() as session:
            part = self._visible(session, part_id, biobanks)
            session.expunge(part)
            return part

    def _visible(self, session: Session, part_id: str, biobanks: Collection[str]) -> InboxPart:
        part = session.execute(
            select(InboxPart).options(selectinload(InboxPart.events)).where(InboxPart.id == part_id)
        ).scalar_one_or_none()
        # Someone else's part reads exactly like a missing one: ids are not enumerable.
        if part is None or part.biobank_id not in biobanks:
            raise PartNotFound(f"there is no request part {part_id} in your biobanks' inbox")
        return part

    # -- shared ------------------------------------------------------------------------
    def _append(
        self,
        session: Session,
        part: InboxPart,
        event_type: str,
        acting: Acting,
        *,
        text: str | None = None,
        conditions: Collection[str] = (),
        origin: str,
        event_id: str | None = None,
    ) -> InboxEvent:
        state = check(part.state, event_type, acting.actor, text, tuple(conditions))
        part.seq += 1
        part.state = state.value
        part.updated_at = utcnow()
        event = InboxEvent(
            id=event_id or new_id(),
            part_id=part.id,
            seq=part.seq,
            type=event_type,
            actor=acting.actor.value,
            actor_name=acting.name,
            actor_sub=acting.sub,
            at=utcnow(),
            state=state.value,
            text=(text or "").strip() or None,
            conditions=sorted(conditions),
            origin=origin,
        )
        session.add(event)
        part.events.append(event)
        session.flush()
        return event

    def _link(self, part_id: str) -> str:
        return f"{self.node_url.rstrip('/')}/inbox/{part_id}" if self.node_url else ""

    def _notify_contact(self, session: Session, subject: str, body: str) -> None:
        if self.contact_email and "email" in self.outbox.senders:
            self.outbox.enqueue(
                session,
                "email",
                self.contact_email,
                email_payload(self.contact_email, subject, body),
            )


def inbox_of(app: Flask) -> Inbox:
    return app.extensions[INBOX_KEY]


def current_inbox() -> Inbox:
    """The inbox of the node app handling this request."""
    return inbox_of(current_app)
