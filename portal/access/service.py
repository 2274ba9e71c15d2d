"""Access requests at the portal: submit, follow, act; mirror what the nodes decide.

Every object is reached through its owner: a researcher's requests by their (iss, sub), a
node's parts by the node's client id. Anything else reads as "not found", so ids cannot be
probed. Writes that must reach a node go through the outbox in the same transaction, as
payloads built through the node's own schemas (``schemas.access.to_wire``): one the node
would refuse is :class:`SubmissionInvalid` here, naming the field in the researcher's words
(:func:`wire_problems`), and nothing is stored or queued.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, selectinload, sessionmaker

from federation.database import new_id, utcnow
from federation.mail import email_payload
from federation.outbox import Outbox, OutboxMixin
from federation.registry import Member
from federation.web.login import User
from portal.access import cart_stock
from portal.access.attachments import AttachmentStore, CheckedFile
from portal.access.biobank_documents import DocumentRejected, keep_document
from portal.access.membership import member_part, readable_by, shares_news
from portal.access.models import (
    AccessRequest,
    Attachment,
    Notification,
    PartEvent,
    PortalOutbox,
    RequestPart,
)
from portal.access.terms import reference_problems
from portal.service import SearchUnavailable
from schemas.access import (
    REQUESTABLE_KINDS,
    RESEARCHER_EVENTS,
    ActionSchema,
    PartSchema,
    ProjectSchema,
    to_wire,
)
from schemas.errors import error_items, format_errors
from schemas.lifecycle import INITIAL, Actor, State, TransitionRefused, check

RESEARCHER_NEWS = {
    "receive": "{biobank} received your request “{title}” and is reviewing it.",
    "request_info": "{biobank} asks for more information on “{title}”.",
    "approve": "{biobank} approved your request “{title}”.",
    "reject": "{biobank} rejected your request “{title}”.",
    "fulfil": "{biobank} has sent the material for “{title}”.",
    "ship": "{biobank} has shipped the material for “{title}”: please confirm its receipt.",
    "release": "{biobank}: vials held for “{title}” were released.",
    "evidence": "{biobank} added evidence for a condition of “{title}”.",
    "message": "{biobank} sent you a message about “{title}”.",
}


class RequestNotFound(LookupError):
    """No such request, part, attachment or event for this caller (also when it exists but
    is someone else's)."""


class ForgedEvent(ValueError):
    """A node reported something the portal knows did not happen."""


class SubmissionInvalid(ValueError):
    """A request or action refused before anything is stored; ``problems`` say why, one
    line each, in the researcher's words."""

    def __init__(self, problems: list[str]) -> None:
        problems = list(dict.fromkeys(problems))  # one line per problem, in order
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass
class CartLine:
    uid: str
    found: bool
    name: str = ""
    kind: str = ""
    local_id: str = ""
    node_id: str = ""
    biobank_id: str = ""
    biobank_name: str = ""
    lots: list[dict[str, Any]] = field(default_factory=list)  # the record's, as indexed
    amount: dict[str, Any] | None = None  # vials and lot asked for (cart_stock.py)


@dataclass
class CartGroup:
    node_id: str
    biobank_id: str
    biobank_name: str
    lines: list[CartLine] = field(default_factory=list)


class AccessService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        outbox: Outbox,
        files: AttachmentStore,
        lookup: Callable[[str], dict[str, Any] | None],
        members: Callable[[], list[Member]],
        portal_url: str = "",
    ) -> None:
        self.sessions = sessions
        self.outbox = outbox
        self.files = files
        self.lookup = lookup  # uid -> search document, or None
        self.members = members
        self.portal_url = portal_url.rstrip("/")
        self.document_max_bytes = 10 * 1024 * 1024  # a biobank's document (ATTACHMENT_MAX_BYTES)

    # -- the cart ----------------------------------------------------------------------
    def resolve(self, uids: Iterable[str]) -> list[CartLine]:
        lines = []
        for uid in uids:
            try:
                doc = self.lookup(uid)
            except Exception as exc:  # the engine's client has its own error classes
                raise SearchUnavailable("the catalogue cannot be read right now") from exc
            if doc is None or doc.get("kind") not in REQUESTABLE_KINDS:
                lines.append(CartLine(uid, False))
                continue
            lines.append(
                CartLine(
                    uid,
                    True,
                    doc.get("name", uid),
                    doc["kind"],
                    doc["local_id"],
                    doc["node_id"],
                    doc.get("biobank_id", ""),
                    doc.get("biobank_name") or doc.get("biobank_id", ""),
                    list((doc.get("record") or {}).get("lots", [])),
                )
            )
        return lines

    @staticmethod
    def group(lines: Iterable[CartLine]) -> list[CartGroup]:
        groups: dict[tuple[str, str], CartGroup] = {}
        for line in lines:
            if line.found:
                key = (line.node_id, line.biobank_id)
                groups.setdefault(key, CartGroup(*key, line.biobank_name)).lines.append(line)
        return sorted(groups.values(), key=lambda g: (g.biobank_name, g.node_id))

    # -- submitting --------------------------------------------------------------------
    def submit(
        self,
        user: User,
        project: dict[str, Any],
        uids: list[str],
        files: list[CheckedFile],
        amounts: Mapping[str, dict[str, Any]] | None = None,
    ) -> str:
        """Check everything first; then store the request, one part per biobank, and queue
        each part for its node, all in one transaction. Returns the request id. ``amounts``:
        vials (and a lot) per uid, checked against what the index shows available now."""
        problems: list[str] = []
        if not user.email:  # the biobanks decide on who asks: only a verified address (M6)
            problems.append(
                "your e-mail address is not verified at the identity provider, so biobanks "
                "could not reach you: ask its administrators to verify it, then log in again"
            )
        try:
            project = ProjectSchema().load(project)
        except ValidationError as exc:
            problems.extend(format_errors(exc.messages))
        else:  # a triggered jurisdiction rule's reference missing: refused, nothing stored
            problems.extend(reference_problems(self.lookup, uids, project))
        lines = self.resolve(uids)
        if not uids:
            problems.append("the cart is empty: add cell lines or collections first")
        problems.extend(
            f"{line.uid} is no longer in the catalogue: remove it from the cart"
            for line in lines
            if not line.found
        )
        for line in lines:
            line.amount = (amounts or {}).get(line.uid)
            if line.found:
                problems.extend(cart_stock.problems(line.uid, line.kind, line.lots, line.amount))
        members = {m.id: m for m in self.members()}
        groups = self.group(lines)
        problems.extend(
            f"{g.biobank_name} is held by node {g.node_id!r}, which is not an alliance member"
            for g in groups
            if g.node_id not in members
        )
        if problems:
            raise SubmissionInvalid(problems)

        # Every part as its node will read it, before anything is saved.
        request_id, now = new_id(), utcnow()
        refs = [(new_id(), f) for f in files]
        attachments = [_attachment_ref(attachment_id, f) for attachment_id, f in refs]
        parts: list[_Part] = []
        for group in groups:
            try:
                parts.append(_Part.build(request_id, user, project, group, attachments, now))
            except SubmissionInvalid as exc:
                problems.extend(exc.problems)
        if problems:
            raise SubmissionInvalid(problems)

        stored: list[str] = []
        try:
            saved = []
            for attachment_id, f in refs:
                stored_name = self.files.save(f.data)
                stored.append(stored_name)
                saved.append((attachment_id, stored_name, f))
            with self.sessions.begin() as session:
                self._store_request(session, user, request_id, project, parts, saved, now)
        except BaseException:
            for name in stored:  # nothing half-stored: the files go with the failed write
                self.files.delete(name)
            raise
        self.outbox.wake()
        return request_id

    def _store_request(
        self,
        session: Session,
        user: User,
        request_id: str,
        project: dict[str, Any],
        parts: list[_Part],
        saved: list[tuple[str, str, CheckedFile]],
        now: dt.datetime,
    ) -> None:
        session.add(
            AccessRequest(
                id=request_id,
                owner_iss=user.iss,
                owner_sub=user.sub,
                owner_name=user.name,
                owner_email=user.email,
                project=project,
                created_at=now,
            )
        )
        self._add_attachments(session, request_id, saved, now)
        for part in parts:
            self._add_part(session, user, request_id, part, now)
        self._notify(
            session,
            user.iss,
            user.sub,
            user.email,
            f"Your request “{project['title']}” was submitted to {len(parts)} biobank(s).",
            request_id,
        )

    @staticmethod
    def _add_attachments(
        session: Session,
        request_id: str,
        saved: list[tuple[str, str, CheckedFile]],
        now: dt.datetime,
    ) -> None:
        """Store the files' rows."""
        for attachment_id, stored_name, f in saved:
            session.add(
                Attachment(
                    id=attachment_id,
                    request_id=request_id,
                    filename=f.filename,
                    stored_name=stored_name,
                    content_type=f.content_type,
                    size=f.size,
                    sha256=f.sha256,
                    created_at=now,
                )
            )

    def _add_part(
        self, session: Session, user: User, request_id: str, part: _Part, now: dt.datetime
    ) -> None:
        """One biobank's part, its "submit" event, and its delivery to the node."""
        part_id, group = part.id, part.group
        session.add(
            RequestPart(
                id=part_id,
                request_id=request_id,
                node_id=group.node_id,
                biobank_id=group.biobank_id,
                biobank_name=group.biobank_name,
                state=INITIAL.value,
                items=part.items,
                updated_at=now,
            )
        )
        session.flush()
        session.add(
            PartEvent(
                id=new_id(),
                part_id=part_id,
                type="submit",
                actor=Actor.RESEARCHER.value,
                actor_name=user.name,
                actor_sub=user.sub,
                at=now,
                recorded_at=now,
                state=INITIAL.value,
            )
        )
        self.outbox.enqueue(session, "deliver_part", group.node_id, part.wire, key=part_id)

    # -- reading -----------------------------------------------------------------------
    def requests_of(self, user: User) -> list[AccessRequest]:
        with self.sessions() as session:
            query = (
                select(AccessRequest)
                .options(selectinload(AccessRequest.parts))
                .where(readable_by(user))  # owned, or as a co-applicant (membership.py)
                .order_by(AccessRequest.created_at.desc())
            )
            return list(session.execute(query).scalars())

    def request_of(self, user: User, request_id: str) -> AccessRequest:
        with self.sessions() as session:
            found = session.execute(
                select(AccessRequest)
                .options(
                    selectinload(AccessRequest.parts).selectinload(RequestPart.events),
                    selectinload(AccessRequest.attachments),
                )
                .where(AccessRequest.id == request_id, readable_by(user))
            ).scalar_one_or_none()
        if found is None:
            raise RequestNotFound(f"you have no request {request_id}")
        return found

    def attachment_of(self, user: User, request_id: str, attachment_id: str) -> Attachment:
        request = self.request_of(user, request_id)
        for attachment in request.attachments:
            if attachment.id == attachment_id:
                return attachment
        raise RequestNotFound("this request has no such attachment")

    def attachment_for_node(self, node_id: str, part_id: str, attachment_id: str) -> Attachment:
        with self.sessions() as session:
            found = session.execute(
                select(Attachment)
                .join(RequestPart, RequestPart.request_id == Attachment.request_id)
                .where(
                    RequestPart.id == part_id,
                    RequestPart.node_id == node_id,
                    Attachment.id == attachment_id,
                )
            ).scalar_one_or_none()
        if found is None:
            raise RequestNotFound("no such attachment for a part of this node")
        return found

    # -- the researcher acts -----------------------------------------------------------
    def act(self, user: User, request_id: str, part_id: str, event_type: str, text: str) -> None:
        """Withdraw, answer or write: checked here against the mirrored state, recorded as
        pending, and relayed to the node, which has the last word. An action the node would
        refuse (say, a name longer than it keeps) is :class:`SubmissionInvalid`."""
        with self.sessions.begin() as session:
            # the owner, or a co-applicant sending a message (membership.py; else OwnerOnly)
            part = member_part(session, user, request_id, part_id, event_type)
            if part is None:
                raise RequestNotFound(f"you have no request part {part_id}")
            self.relay_action(session, user, part, event_type, text)
        self.outbox.wake()

    def relay_action(
        self,
        session: Session,
        user: User,
        part: RequestPart,
        event_type: str,
        text: str,
        evidence: dict[str, Any] | None = None,
    ) -> None:
        """Record a researcher's action as pending and queue it for the node, in the caller's
        transaction (``act``; portal/access/sharing.py adds receipts and evidence)."""
        self._check_action(session, part, event_type, text)
        now, event_id = utcnow(), new_id()
        action = _action_payload(event_id, event_type, text, user, now, evidence)
        session.add(
            PartEvent(
                id=event_id,
                part_id=part.id,
                type=event_type,
                actor=Actor.RESEARCHER.value,
                actor_name=user.name,
                actor_sub=user.sub,
                at=now,
                recorded_at=now,
                text=(text or "").strip() or None,
                status="pending",
            )
        )
        self.outbox.enqueue(
            session, "action", part.node_id, {"part_id": part.id, "action": action}, key=part.id
        )

    @staticmethod
    def _check_action(session: Session, part: RequestPart, event_type: str, text: str) -> None:
        """Refuse what the node would refuse, and a second action while one is on its way
        (messages may pile up; they change no state)."""
        if event_type not in RESEARCHER_EVENTS:
            raise TransitionRefused(f"a researcher cannot {event_type.replace('_', ' ')}")
        pending = session.execute(
            select(func.count())
            .select_from(PartEvent)
            .where(
                PartEvent.part_id == part.id,
                PartEvent.status == "pending",
                PartEvent.type != "message",
            )
        ).scalar_one()
        if pending and event_type != "message":
            raise TransitionRefused(
                "your previous action on this part is still on its way to the biobank"
            )
        if part.delivery == "failed":
            raise TransitionRefused("this part could not be delivered to its biobank")
        check(part.state, event_type, Actor.RESEARCHER, text)

    # -- the nodes report --------------------------------------------------------------
    def node_part(self, node_id: str, part_id: str) -> RequestPart:
        with self.sessions() as session:
            part = session.get(RequestPart, part_id)
        if part is None or part.node_id != node_id:
            raise RequestNotFound(f"no part {part_id} for node {node_id}")
        return part

    def apply_events(self, node_id: str, part_id: str, events: list[dict[str, Any]]) -> int:
        """Mirror a node's events (idempotent by event id; the state follows the highest
        sequence number). Returns how many were new."""
        new = 0
        saved: list[str] = []  # documents stored with the events: deleted if nothing is kept
        try:
            with self.sessions.begin() as session:
                part = session.get(RequestPart, part_id, with_for_update=True)
                if part is None or part.node_id != node_id:
                    raise RequestNotFound(f"no part {part_id} for node {node_id}")
                request = _request_of(session, part)
                for event in sorted(events, key=lambda e: e["seq"]):
                    new += self._apply_one(session, part, request, event, saved)
                part.delivery = "delivered"
                part.delivery_error = None
        except BaseException:
            for stored_name in saved:
                self.files.delete(stored_name)
            raise
        return new

    def _apply_one(
        self,
        session: Session,
        part: RequestPart,
        request: AccessRequest,
        event: dict[str, Any],
        saved: list[str],
    ) -> int:
        row = session.get(PartEvent, event["id"])
        if row is not None and row.part_id != part.id:
            raise RequestNotFound(f"event {event['id']} belongs to another part")
        try:  # before the repeat check: the event may have come first without its document
            stored_name = keep_document(session, self.files, part, event, self.document_max_bytes)
        except DocumentRejected as exc:
            raise ForgedEvent(str(exc)) from exc
        saved.extend([stored_name] if stored_name else [])
        if row is not None and row.status == "confirmed":
            return 0
        if event["actor"] == Actor.RESEARCHER.value and (row is None or row.type != event["type"]):
            # A node confirms a researcher's action; it cannot invent one.
            raise ForgedEvent(f"event {event['id']} is no action the researcher took here")
        if row is None:
            row = PartEvent(id=event["id"], part_id=part.id, recorded_at=utcnow())
            session.add(row)
        row.seq = event["seq"]
        row.type = event["type"]
        row.actor = event["actor"]
        row.actor_name = event["actor_name"]
        row.actor_sub = event.get("actor_sub")
        row.at = event["at"]
        row.state = event["state"]
        row.text = event.get("text")
        row.conditions = list(event.get("conditions") or [])
        row.status, row.refusal = "confirmed", None
        if event["seq"] > part.node_seq:
            part.node_seq = event["seq"]
            part.state = event["state"]
            part.updated_at = utcnow()
        template = RESEARCHER_NEWS.get(event["type"])
        if template and event["actor"] != Actor.RESEARCHER.value:
            text = template.format(biobank=part.biobank_name, title=request.project["title"])
            if event.get("text"):
                text += f"\n\n{event['actor_name']} wrote: {event['text']}"
            self._notify(
                session,
                request.owner_iss,
                request.owner_sub,
                request.owner_email,
                text,
                request.id,
            )
        return 1

    def delivery_failed(self, message: OutboxMixin, reason: str) -> None:
        """The outbox gave up on a message: say so where the researcher will see it."""
        with self.sessions.begin() as session:
            if message.kind == "deliver_part":
                part = session.get(RequestPart, message.key)
                if part is None:
                    return
                part.delivery, part.delivery_error = "failed", reason
                request = _request_of(session, part)
                self._notify(
                    session,
                    request.owner_iss,
                    request.owner_sub,
                    request.owner_email,
                    f"Your request “{request.project['title']}” could not be delivered to "
                    f"{part.biobank_name}: {reason}",
                    request.id,
                )
            elif message.kind == "action":
                event = session.get(PartEvent, message.payload["action"]["id"])
                if event is None:
                    return
                event.status, event.refusal = "refused", reason
                part = _part_of(session, event)
                request = _request_of(session, part)
                self._notify(
                    session,
                    request.owner_iss,
                    request.owner_sub,
                    request.owner_email,
                    f"{part.biobank_name} did not accept your {event.type.replace('_', ' ')} "
                    f"on “{request.project['title']}”: {reason}",
                    request.id,
                )

    # -- the operators -----------------------------------------------------------------
    def deliveries(self, recent: int = 20) -> tuple[list[OutboxMixin], list[OutboxMixin]]:
        """The broker's messages still to deliver (oldest first), and the ``recent`` last
        delivered ones (newest first)."""
        with self.sessions() as session:
            waiting = self.outbox.pending(session)
            delivered = session.execute(
                select(PortalOutbox)
                .where(PortalOutbox.delivered_at.is_not(None))
                .order_by(PortalOutbox.id.desc())
                .limit(recent)
            ).scalars()
            return waiting, list(delivered)

    # -- notifications -----------------------------------------------------------------
    def _notify(
        self,
        session: Session,
        iss: str,
        sub: str,
        email: str | None,
        text: str,
        request_id: str | None,
    ) -> None:
        """Notify a user; the owner's news of a request goes to its co-applicants too."""
        self._notify_one(session, iss, sub, email, text, request_id)
        for co in shares_news(session, request_id, iss, sub):
            if co.user_iss and co.user_sub:
                self._notify_one(session, co.user_iss, co.user_sub, co.email, text, request_id)

    def _notify_one(
        self,
        session: Session,
        iss: str,
        sub: str,
        email: str | None,
        text: str,
        request_id: str | None,
    ) -> None:
        session.add(Notification(user_iss=iss, user_sub=sub, text=text, request_id=request_id))
        if email and "email" in self.outbox.senders:
            link = f"\n\n{self.portal_url}/requests/{request_id}" if request_id else ""
            subject = text.split("\n", 1)[0]
            self.outbox.enqueue(session, "email", email, email_payload(email, subject, text + link))

    def notifications(self, user: User, limit: int = 50) -> list[Notification]:
        with self.sessions() as session:
            return list(
                session.execute(
                    select(Notification)
                    .where(Notification.user_iss == user.iss, Notification.user_sub == user.sub)
                    .order_by(Notification.id.desc())
                    .limit(limit)
                ).scalars()
            )

    def unread(self, user: User) -> int:
        with self.sessions() as session:
            return session.execute(
                select(func.count())
                .select_from(Notification)
                .where(
                    Notification.user_iss == user.iss,
                    Notification.user_sub == user.sub,
                    Notification.read.is_(False),
                )
            ).scalar_one()

    def mark_read(self, user: User) -> None:
        with self.sessions.begin() as session:
            session.execute(
                update(Notification)
                .where(Notification.user_iss == user.iss, Notification.user_sub == user.sub)
                .values(read=True)
            )


def _request_of(session: Session, part: RequestPart) -> AccessRequest:
    """The request of a stored part (a part is only ever stored with its request)."""
    request = session.get(AccessRequest, part.request_id)
    if request is None:
        raise AssertionError(f"part {part.id} has no request {part.request_id} in the database")
    return request


def _part_of(session: Session, event: PartEvent) -> RequestPart:
    """The part of a stored event (an event is only ever stored for a part it has)."""
    part = session.get(RequestPart, event.part_id)
    if part is None:
        raise AssertionError(f"event {event.id} has no part {event.part_id} in the database")
    return part


@dataclass(frozen=True)
class _Part:
    """One biobank's part, built and checked before anything is stored."""

    id: str
    group: CartGroup
    items: list[dict[str, Any]]  # as the portal keeps them: with each record's uid
    wire: dict[str, Any]  # as the node reads it

    @classmethod
    def build(
        cls,
        request_id: str,
        user: User,
        project: dict[str, Any],
        group: CartGroup,
        attachments: list[dict[str, Any]],
        now: dt.datetime,
    ) -> _Part:
        part_id = new_id()
        items = [
            {
                "uid": ln.uid,
                "kind": ln.kind,
                "id": ln.local_id,
                "name": ln.name,
                **(ln.amount or {}),
            }
            for ln in group.lines
        ]
        wire = _part_payload(part_id, request_id, user, project, group, items, attachments, now)
        return cls(part_id, group, items, wire)


def _attachment_ref(attachment_id: str, f: CheckedFile) -> dict[str, Any]:
    """An attachment as every part carries it to its node."""
    return {
        "id": attachment_id,
        "filename": f.filename,
        "content_type": f.content_type,
        "size": f.size,
        "sha256": f.sha256,
    }


# What the researcher knows each wire field as (wire_problems).
IDENTITY_FIELDS = {
    "iss": "the address of your identity provider",
    "sub": "your account id at the identity provider",
    "name": "your name as the identity provider gives it",
    "email": "your e-mail address as the identity provider gives it",
}
ITEM_FIELDS = {"id": "id", "name": "name", "kind": "kind", "quantity": "vials", "lot_id": "lot"}
ITEM_WIRE = ("kind", "id", "name", "quantity", "lot_id")  # what a node reads of an item
BIOBANK_FIELDS = {
    "node_id": "the node id",
    "biobank_id": "the biobank id",
    "biobank_name": "the name",
}
LENGTH = re.compile(
    r"Longer than maximum length (?P<max>\d+)\.|Shorter than minimum length (?P<min>\d+)\."
    r"|Length must be between (?P<lo>\d+) and (?P<hi>\d+)\."
)


def _value_at(data: Any, path: str) -> Any:
    """The value at an error path (``items[1].id``) of ``data``, or None."""
    for key in re.findall(r"[^.\[\]]+", path):
        if isinstance(data, Mapping):
            data = data.get(key)
        elif isinstance(data, list) and key.isdigit() and int(key) < len(data):
            data = data[int(key)]
        else:
            return None
    return data


def _what_is_wrong(message: str, value: Any) -> str:
    """A marshmallow message as the end of a sentence about the value."""
    found = LENGTH.fullmatch(message)
    if found:
        low = found["min"] or found["lo"]
        high = found["max"] or found["hi"]
        size = len(value) if isinstance(value, str | list) else None
        unit = "characters" if isinstance(value, str) else "entries"
        if high is not None and (size is None or size > int(high)):
            return f"is longer than {high} {unit}"
        if size == 0:
            return "is empty"
        if low is not None:
            return f"is shorter than {low} {unit}"
    if message in ("Missing data for required field.", "Field may not be null."):
        return "is missing"
    if message == "Not a valid email address.":
        return "is not a valid e-mail address"
    return f"is not accepted: {message[:1].lower()}{message[1:].rstrip('.')}"


def wire_problems(
    exc: ValidationError, data: Mapping[str, Any], describe: Callable[[str], str]
) -> list[str]:
    """The errors of a payload the receiver would refuse, one line each, saying which field
    in words the researcher knows (``describe(path)``) and what is wrong with it."""
    return [
        f"{describe(path)} {_what_is_wrong(message, _value_at(data, path))}"
        for path, message in error_items(exc.messages)
    ]


def _checked_wire(schema: Any, data: dict[str, Any], describe: Callable[[str], str]) -> dict:
    try:
        return to_wire(schema, data)
    except ValidationError as exc:
        raise SubmissionInvalid(wire_problems(exc, data, describe)) from exc


def _describe_part(
    group: CartGroup, items: list[dict[str, Any]], attachments: list[dict[str, Any]]
) -> Callable[[str], str]:
    def describe(path: str) -> str:
        head, _, rest = path.partition(".")
        index = re.fullmatch(r"(\w+)\[(\d+)\]", head)
        if head == "researcher" and rest in IDENTITY_FIELDS:
            return IDENTITY_FIELDS[rest]
        if index and index[1] == "items" and int(index[2]) < len(items):
            item = items[int(index[2])]
            return f"the {ITEM_FIELDS.get(rest, rest or 'entry')} of {item['uid']} in the catalogue"
        if index and index[1] == "attachments" and int(index[2]) < len(attachments):
            what = "name" if rest == "filename" else (rest or "entry")
            return f"the {what} of the attachment {attachments[int(index[2])]['filename']}"
        if head in BIOBANK_FIELDS:
            return f"{BIOBANK_FIELDS[head]} of {group.biobank_name} in the catalogue"
        if head == "project" and rest:
            return f"the project's {rest.replace('_', ' ')}"
        return f"the request's {path or 'content'} for {group.biobank_name}"

    return describe


def _describe_action(path: str) -> str:
    if path in ("actor_name", "actor_sub"):
        return IDENTITY_FIELDS[path.removeprefix("actor_")]
    if path == "text":
        return "your text"
    return f"the action's {path or 'content'}"


def _part_payload(
    part_id: str,
    request_id: str,
    user: User,
    project: dict[str, Any],
    group: CartGroup,
    items: list[dict[str, Any]],
    attachments: list[dict[str, Any]],
    now: dt.datetime,
) -> dict[str, Any]:
    """The part as the node reads it (PartSchema); SubmissionInvalid if it would refuse it."""
    return _checked_wire(
        PartSchema(),
        {
            "id": part_id,
            "request_id": request_id,
            "node_id": group.node_id,
            "biobank_id": group.biobank_id,
            "biobank_name": group.biobank_name,
            "submitted_at": now.isoformat(),
            "researcher": {
                "iss": user.iss,
                "sub": user.sub,
                "name": user.name,
                "email": user.email,
            },
            "project": project,
            "items": [{k: i[k] for k in ITEM_WIRE if k in i} for i in items],
            "attachments": attachments,
        },
        _describe_part(group, items, attachments),
    )


def _action_payload(
    event_id: str,
    event_type: str,
    text: str,
    user: User,
    now: dt.datetime,
    evidence: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The action as the node reads it (ActionSchema); SubmissionInvalid if it would refuse it."""
    action: dict[str, Any] = {
        "id": event_id,
        "type": event_type,
        "text": (text or "").strip(),
        "actor_name": user.name,
        "actor_sub": user.sub,
        "at": now.isoformat(),
    }
    if evidence is not None:
        action["evidence"] = evidence
    return _checked_wire(ActionSchema(), action, _describe_action)


def state_label(state: str) -> str:
    try:
        return State(state).label
    except ValueError:
        return state
