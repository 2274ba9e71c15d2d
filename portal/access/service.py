"""Access requests at the portal: submit, follow, act; mirror what the nodes decide.

Every object is reached through its owner: a researcher's requests by their (iss, sub), a
node's parts by the node's client id. Anything else reads as "not found", so ids cannot be
probed. Writes that must reach a node go through the outbox in the same transaction, as
payloads built through the node's own schemas (``schemas.access.to_wire``): one the node
would refuse raises ValidationError here, and nothing is stored or queued.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
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
from portal.access.attachments import AttachmentStore, CheckedFile
from portal.access.models import (
    AccessRequest,
    Attachment,
    Notification,
    PartEvent,
    PortalOutbox,
    RequestPart,
)
from portal.service import SearchUnavailable
from schemas.access import (
    REQUESTABLE_KINDS,
    RESEARCHER_EVENTS,
    ActionSchema,
    PartSchema,
    ProjectSchema,
    to_wire,
)
from schemas.errors import format_errors
from schemas.lifecycle import INITIAL, Actor, State, TransitionRefused, check

RESEARCHER_NEWS = {
    "receive": "{biobank} received your request “{title}” and is reviewing it.",
    "request_info": "{biobank} asks for more information on “{title}”.",
    "approve": "{biobank} approved your request “{title}”.",
    "reject": "{biobank} rejected your request “{title}”.",
    "fulfil": "{biobank} has sent the material for “{title}”.",
    "message": "{biobank} sent you a message about “{title}”.",
}


class RequestNotFound(LookupError):
    """No such request, part, attachment or event for this caller (also when it exists but
    is someone else's)."""


class ForgedEvent(ValueError):
    """A node reported something the portal knows did not happen."""


class SubmissionInvalid(ValueError):
    def __init__(self, problems: list[str]) -> None:
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
        self, user: User, project: dict[str, Any], uids: list[str], files: list[CheckedFile]
    ) -> str:
        """Check everything first; then store the request, one part per biobank, and queue
        each part for its node, all in one transaction. Returns the request id."""
        problems: list[str] = []
        try:
            project = ProjectSchema().load(project)
        except ValidationError as exc:
            problems.extend(format_errors(exc.messages))
        lines = self.resolve(uids)
        if not uids:
            problems.append("the cart is empty: add cell lines or collections first")
        problems.extend(
            f"{line.uid} is no longer in the catalogue: remove it from the cart"
            for line in lines
            if not line.found
        )
        members = {m.id: m for m in self.members()}
        groups = self.group(lines)
        problems.extend(
            f"{g.biobank_name} is held by node {g.node_id!r}, which is not an alliance member"
            for g in groups
            if g.node_id not in members
        )
        if problems:
            raise SubmissionInvalid(problems)

        request_id = new_id()
        stored: list[str] = []
        try:
            refs = []
            for f in files:
                stored_name = self.files.save(f.data)
                stored.append(stored_name)
                refs.append((new_id(), stored_name, f))
            with self.sessions.begin() as session:
                self._store_request(session, user, request_id, project, groups, refs)
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
        groups: list[CartGroup],
        refs: list[tuple[str, str, CheckedFile]],
    ) -> None:
        now = utcnow()
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
        attachments = self._add_attachments(session, request_id, refs, now)
        for group in groups:
            self._add_part(session, user, request_id, project, group, attachments, now)
        self._notify(
            session,
            user.iss,
            user.sub,
            user.email,
            f"Your request “{project['title']}” was submitted to {len(groups)} biobank(s).",
            request_id,
        )

    @staticmethod
    def _add_attachments(
        session: Session,
        request_id: str,
        refs: list[tuple[str, str, CheckedFile]],
        now: dt.datetime,
    ) -> list[dict[str, Any]]:
        """Store the files' rows; returns the references every part carries to its node."""
        attachments = []
        for attachment_id, stored_name, f in refs:
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
            attachments.append(
                {
                    "id": attachment_id,
                    "filename": f.filename,
                    "content_type": f.content_type,
                    "size": f.size,
                    "sha256": f.sha256,
                }
            )
        return attachments

    def _add_part(
        self,
        session: Session,
        user: User,
        request_id: str,
        project: dict[str, Any],
        group: CartGroup,
        attachments: list[dict[str, Any]],
        now: dt.datetime,
    ) -> None:
        """One biobank's part, its "submit" event, and its delivery to the node."""
        part_id = new_id()
        items = [
            {"uid": ln.uid, "kind": ln.kind, "id": ln.local_id, "name": ln.name}
            for ln in group.lines
        ]
        wire = _part_payload(part_id, request_id, user, project, group, items, attachments, now)
        session.add(
            RequestPart(
                id=part_id,
                request_id=request_id,
                node_id=group.node_id,
                biobank_id=group.biobank_id,
                biobank_name=group.biobank_name,
                state=INITIAL.value,
                items=items,
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
        self.outbox.enqueue(session, "deliver_part", group.node_id, wire, key=part_id)

    # -- reading -----------------------------------------------------------------------
    def requests_of(self, user: User) -> list[AccessRequest]:
        with self.sessions() as session:
            query = (
                select(AccessRequest)
                .options(selectinload(AccessRequest.parts))
                .where(AccessRequest.owner_iss == user.iss, AccessRequest.owner_sub == user.sub)
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
                .where(
                    AccessRequest.id == request_id,
                    AccessRequest.owner_iss == user.iss,
                    AccessRequest.owner_sub == user.sub,
                )
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
        pending, and relayed to the node, which has the last word."""
        with self.sessions.begin() as session:
            part = self._own_part(session, user, request_id, part_id)
            self._check_action(session, part, event_type, text)
            now, event_id = utcnow(), new_id()
            action = _action_payload(event_id, event_type, text, user, now)
            session.add(
                PartEvent(
                    id=event_id,
                    part_id=part_id,
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
                session, "action", part.node_id, {"part_id": part_id, "action": action}, key=part_id
            )
        self.outbox.wake()

    @staticmethod
    def _own_part(session: Session, user: User, request_id: str, part_id: str) -> RequestPart:
        part = session.execute(
            select(RequestPart)
            .join(AccessRequest)
            .where(
                RequestPart.id == part_id,
                RequestPart.request_id == request_id,
                AccessRequest.owner_iss == user.iss,
                AccessRequest.owner_sub == user.sub,
            )
        ).scalar_one_or_none()
        if part is None:
            raise RequestNotFound(f"you have no request part {part_id}")
        return part

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
        with self.sessions.begin() as session:
            part = session.get(RequestPart, part_id, with_for_update=True)
            if part is None or part.node_id != node_id:
                raise RequestNotFound(f"no part {part_id} for node {node_id}")
            request = session.get(AccessRequest, part.request_id)
            for event in sorted(events, key=lambda e: e["seq"]):
                new += self._apply_one(session, part, request, event)
            part.delivery = "delivered"
            part.delivery_error = None
        return new

    def _apply_one(
        self,
        session: Session,
        part: RequestPart,
        request: AccessRequest,
        event: dict[str, Any],
    ) -> int:
        row = session.get(PartEvent, event["id"])
        if row is not None and row.part_id != part.id:
            raise RequestNotFound(f"event {event['id']} belongs to another part")
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
                request = session.get(AccessRequest, part.request_id)
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
                part = session.get(RequestPart, event.part_id)
                request = session.get(AccessRequest, part.request_id)
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
    """The part as the node reads it (PartSchema); ValidationError if it would refuse it."""
    return to_wire(
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
            "items": [{k: i[k] for k in ("kind", "id", "name")} for i in items],
            "attachments": attachments,
        },
    )


def _action_payload(
    event_id: str, event_type: str, text: str, user: User, now: dt.datetime
) -> dict[str, Any]:
    """The action as the node reads it (ActionSchema); ValidationError if it would refuse it."""
    return to_wire(
        ActionSchema(),
        {
            "id": event_id,
            "type": event_type,
            "text": (text or "").strip(),
            "actor_name": user.name,
            "actor_sub": user.sub,
            "at": now.isoformat(),
        },
    )


def state_label(state: str) -> str:
    try:
        return State(state).label
    except ValueError:
        return state
