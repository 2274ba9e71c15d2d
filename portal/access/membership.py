"""Who may do what on an access request: the one place that decides it.

A request has one **owner** (the researcher who submitted it) and any number of
**co-applicants** (collaborators, :class:`portal.access.models.Collaborator`). Everyone
else has no role, and the request reads to them exactly like a missing one (404), so ids
cannot be probed.

* owner: everything (read, act on parts, add and remove co-applicants);
* collaborator: read the request (parts, history, attachments, co-applicants) and send
  messages (:data:`COLLABORATOR_EVENTS`); an owner-only action is :class:`OwnerOnly` (403);
* none: not found (``RequestNotFound``, 404): the functions here answer None or Role.NONE
  and the services say "not found".

How a co-applicant is named: the portal knows accounts only from logins, so the owner
enters the co-applicant's e-mail address, and the invitation binds to an account (its iss
and sub) the first time someone signs in with that address **verified** by the identity
provider (the token's ``email_verified``; :class:`federation.web.login.User` keeps only a
verified address). An unverified address never binds and never reads anything. Once bound,
the account is the key: a later change of e-mail does not move the invitation, and the
name shown is the provider's (users cannot edit it in the realm). The owner can remove a
co-applicant at any time; from then on the request is 404 for them.
"""

from __future__ import annotations

import enum

from sqlalchemy import ColumnElement, and_, exists, or_, select
from sqlalchemy.orm import Session

from federation.web.login import User
from portal.access.models import AccessRequest, Collaborator, RequestPart

COLLABORATOR_EVENTS = frozenset({"message"})
"""The part actions a co-applicant may take (the issue: "read the request and send messages")."""


class Role(enum.Enum):
    OWNER = "owner"
    COLLABORATOR = "collaborator"
    NONE = "none"


class OwnerOnly(PermissionError):
    """A co-applicant tried what only the request's owner may do (HTTP 403)."""


def is_owner(user: User, request: AccessRequest) -> bool:
    return (request.owner_iss, request.owner_sub) == (user.iss, user.sub)


def active_collaborator(user: User) -> ColumnElement[bool]:
    """SQL: this collaborator row is the user's, bound and not removed."""
    return and_(
        Collaborator.user_iss == user.iss,
        Collaborator.user_sub == user.sub,
        Collaborator.removed_at.is_(None),
    )


def readable_by(user: User) -> ColumnElement[bool]:
    """SQL over AccessRequest: the user owns the request or is one of its co-applicants."""
    return or_(
        and_(AccessRequest.owner_iss == user.iss, AccessRequest.owner_sub == user.sub),
        exists().where(Collaborator.request_id == AccessRequest.id, active_collaborator(user)),
    )


def role_of(session: Session, user: User, request_id: str) -> Role:
    request = session.execute(
        select(AccessRequest).where(AccessRequest.id == request_id, readable_by(user))
    ).scalar_one_or_none()
    if request is None:
        return Role.NONE
    return Role.OWNER if is_owner(user, request) else Role.COLLABORATOR


def role_for(user: User, request: AccessRequest) -> Role:
    """The role of a user on a request they were allowed to read (see :func:`readable_by`)."""
    return Role.OWNER if is_owner(user, request) else Role.COLLABORATOR


def readable_part(
    session: Session, user: User, request_id: str, part_id: str
) -> RequestPart | None:
    """A part of a request the user owns or is a co-applicant on; None otherwise."""
    return session.execute(
        select(RequestPart)
        .join(AccessRequest)
        .where(RequestPart.id == part_id, RequestPart.request_id == request_id, readable_by(user))
    ).scalar_one_or_none()


def owned_part(
    session: Session, user: User, request_id: str, part_id: str, what: str
) -> RequestPart | None:
    """A part for an owner-only action described by ``what`` ("confirm the receipt"): None
    when it is not the user's to read, :class:`OwnerOnly` for a co-applicant."""
    part = readable_part(session, user, request_id, part_id)
    if part is not None and not is_owner(user, part.request):
        raise OwnerOnly(f"only the request's owner can {what}; co-applicants can send messages")
    return part


def member_part(
    session: Session, user: User, request_id: str, part_id: str, event_type: str
) -> RequestPart | None:
    """A part the user may take ``event_type`` on: the owner any, a co-applicant only
    :data:`COLLABORATOR_EVENTS` (OwnerOnly otherwise); None when it is not theirs to read."""
    part = readable_part(session, user, request_id, part_id)
    if part is None:
        return None
    request = session.get(AccessRequest, request_id)
    owner = request is not None and is_owner(user, request)
    if not owner and event_type not in COLLABORATOR_EVENTS:
        raise OwnerOnly(
            f"only the request's owner can {event_type.replace('_', ' ')}; co-applicants can "
            "send messages"
        )
    return part


def co_applicants(session: Session, request_id: str) -> list[Collaborator]:
    """The request's active co-applicants who have signed in (they can be notified)."""
    return list(
        session.execute(
            select(Collaborator)
            .where(
                Collaborator.request_id == request_id,
                Collaborator.removed_at.is_(None),
                Collaborator.user_sub.is_not(None),
            )
            .order_by(Collaborator.added_at)
        ).scalars()
    )


def shares_news(session: Session, request_id: str | None, iss: str, sub: str) -> list[Collaborator]:
    """Whom a notification to (iss, sub) about a request goes to as well: its co-applicants,
    when the notification is the owner's (news of the request); nobody otherwise."""
    if request_id is None:
        return []
    request = session.get(AccessRequest, request_id)
    if request is None or (request.owner_iss, request.owner_sub) != (iss, sub):
        return []
    return co_applicants(session, request_id)
