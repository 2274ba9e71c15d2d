"""Co-applicants on an access request: the owner adds them by e-mail and removes them; an
invitation binds to an account at its first sign-in with that address verified (how and why:
:mod:`portal.access.membership`, which decides every right). Each change is sent to every
part's node as the part's whole list of co-applicants (schemas/co_applicants.py), in the same
transaction, through the outbox, in order per part.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from marshmallow import ValidationError, fields, validate
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from federation.database import new_id, utcnow
from federation.mail import email_payload
from federation.outbox import Outbox, OutboxMixin, Refused, as_aware
from federation.web.login import User
from portal.access.membership import OwnerOnly, Role, role_of
from portal.access.models import AccessRequest, Collaborator, Notification, RequestPart
from portal.access.service import RequestNotFound, SubmissionInvalid
from schemas.access import to_wire
from schemas.co_applicants import CoApplicantsSchema

EMAIL = fields.Email(validate=validate.Length(max=320))


def clean_email(raw: object) -> str:
    """The address as invitations keep it (trimmed, lower case); SubmissionInvalid naming it."""
    text = raw.strip().lower() if isinstance(raw, str) else ""
    if not text:
        raise SubmissionInvalid(["the co-applicant's e-mail address is missing"])
    try:
        EMAIL.deserialize(text)
    except ValidationError as exc:
        shown = text if len(text) <= 80 else text[:77] + "…"
        raise SubmissionInvalid(
            [f"the co-applicant's e-mail address {shown!r} is not valid: {exc.messages[0]}"]
        ) from exc
    return text


def collaborator_wire(row: Collaborator) -> dict[str, object]:
    """A co-applicant as the pages' JSON twin shows it (portal/access/openapi.json)."""
    return {
        "id": row.id,
        "email": row.email,
        "name": row.name,
        "joined": row.user_sub is not None,
        "added_at": _iso(row.added_at),
        "removed_at": _iso(row.removed_at) if row.removed_at else None,
    }


def _iso(at: dt.datetime) -> str:
    aware = as_aware(at)  # SQLite gives the time back without its zone (UTC)
    return aware.isoformat() if aware else ""


class CollaboratorService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        outbox: Outbox,
        max_count: int,
        portal_url: str = "",
    ) -> None:
        self.sessions = sessions
        self.outbox = outbox
        self.max_count = max_count
        self.portal_url = portal_url.rstrip("/")

    def listing(self, user: User, request_id: str) -> tuple[Role, list[Collaborator]]:
        """The user's role on the request and its current co-applicants (invited or joined);
        RequestNotFound for anyone but its owner and co-applicants."""
        with self.sessions() as session:
            role = role_of(session, user, request_id)
            if role is Role.NONE:
                raise RequestNotFound(f"you have no request {request_id}")
            return role, _current(session, request_id)

    def add(self, user: User, request_id: str, raw_email: object) -> Collaborator:
        """Invite a co-applicant by e-mail (the owner only). Checked first; then stored, sent
        to the nodes and e-mailed in one transaction."""
        email = clean_email(raw_email)
        with self.sessions.begin() as session:
            request = _owned(session, user, request_id)
            current = _current(session, request_id)
            problems = []
            if email == (request.owner_email or "").lower() or email == (user.email or "").lower():
                problems.append(f"{email} is your own address: you own this request already")
            if any(c.email == email for c in current):
                problems.append(f"{email} is a co-applicant on this request already")
            if len(current) >= self.max_count:
                problems.append(
                    f"this request has {len(current)} co-applicants, the most it may have: "
                    "remove one first"
                )
            if problems:
                raise SubmissionInvalid(problems)
            row = Collaborator(
                id=new_id(),
                request_id=request_id,
                email=email,
                added_by=user.sub,
                added_at=utcnow(),
            )
            session.add(row)
            session.flush()
            self._send_to_nodes(session, request_id)
            self._invite(session, request, user, email)
        self.outbox.wake()
        return row

    def remove(self, user: User, request_id: str, collaborator_id: str) -> Collaborator:
        """End a co-applicant's access (the owner only); the row stays, with removed_at."""
        with self.sessions.begin() as session:
            _owned(session, user, request_id)
            row = session.get(Collaborator, collaborator_id)
            if row is None or row.request_id != request_id or row.removed_at is not None:
                raise RequestNotFound(f"this request has no co-applicant {collaborator_id}")
            row.removed_at = utcnow()
            self._send_to_nodes(session, request_id)
        self.outbox.wake()
        return row

    def bind(self, user: User) -> int:
        """Bind the invitations to the user's verified e-mail address to their account (never
        an unverified one: User.email is None then). Returns how many were bound."""
        if not user.email:
            return 0
        email = user.email.strip().lower()
        open_ = (
            Collaborator.email == email,
            Collaborator.user_sub.is_(None),
            Collaborator.removed_at.is_(None),
        )
        with self.sessions() as session:  # the usual answer, cheaply: nothing to bind
            waiting = select(func.count()).select_from(Collaborator).where(*open_)
            if not session.execute(waiting).scalar_one():
                return 0
        bound = 0
        with self.sessions.begin() as session:
            for row in session.execute(select(Collaborator).where(*open_)).scalars():
                request = session.get(AccessRequest, row.request_id)
                if request is None or role_of(session, user, row.request_id) is not Role.NONE:
                    continue  # their own request, or one they are on already
                row.user_iss, row.user_sub, row.name = user.iss, user.sub, user.name
                row.bound_at = utcnow()
                session.add(
                    Notification(
                        user_iss=request.owner_iss,
                        user_sub=request.owner_sub,
                        text=f"{user.name} joined your request “{request.project['title']}” "
                        "as a co-applicant.",
                        request_id=request.id,
                    )
                )
                session.flush()
                self._send_to_nodes(session, row.request_id)
                bound += 1
        if bound:
            self.outbox.wake()
        return bound

    def _send_to_nodes(self, session: Session, request_id: str) -> None:
        current = _current(session, request_id)
        parts = session.execute(
            select(RequestPart).where(RequestPart.request_id == request_id)
        ).scalars()
        for part in parts:
            if part.delivery == "failed":  # the node refused the part: it has nothing to show
                continue
            payload = to_wire(
                CoApplicantsSchema(),
                {
                    "part_id": part.id,
                    "co_applicants": [
                        {"name": c.name, "email": c.email, "added_at": _iso(c.added_at)}
                        for c in current
                    ],
                },
            )
            self.outbox.enqueue(session, "co_applicants", part.node_id, payload, key=part.id)

    def _invite(self, session: Session, request: AccessRequest, owner: User, email: str) -> None:
        if "email" not in self.outbox.senders:
            return
        title = request.project["title"]
        body = (
            f"{owner.name} added you as a co-applicant on the access request “{title}”.\n\n"
            "Sign in at the portal with this e-mail address (verified at the alliance's "
            "identity provider) to read the request and write to the biobanks:\n"
            f"{self.portal_url}/requests/{request.id}"
        )
        subject = f"You are a co-applicant on “{title}”"
        self.outbox.enqueue(session, "email", email, email_payload(email, subject, body))


def _owned(session: Session, user: User, request_id: str) -> AccessRequest:
    """The request, for an owner-only change; RequestNotFound or OwnerOnly otherwise."""
    role = role_of(session, user, request_id)
    if role is Role.COLLABORATOR:
        raise OwnerOnly("only the request's owner can change its co-applicants")
    request = session.get(AccessRequest, request_id) if role is Role.OWNER else None
    if request is None:
        raise RequestNotFound(f"you have no request {request_id}")
    return request


def _current(session: Session, request_id: str) -> list[Collaborator]:
    return list(
        session.execute(
            select(Collaborator)
            .where(Collaborator.request_id == request_id, Collaborator.removed_at.is_(None))
            .order_by(Collaborator.added_at, Collaborator.id)
        ).scalars()
    )


class CoApplicantsRelayer:
    """Outbox sender: a part's co-applicants to its node (PUT, the whole list)."""

    def __init__(self, call: Callable[..., object]) -> None:
        self.call = call  # NodeClient.call (portal/access/broker.py)

    def __call__(self, message: OutboxMixin) -> None:
        part_id = message.payload.get("part_id")
        if not part_id:
            raise Refused("a co-applicants message without its part")
        self.call("PUT", message.target, f"/parts/{part_id}/co-applicants", message.payload)
