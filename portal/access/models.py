"""The portal's own database (separate from every node's): requests, their parts as mirrored
from the nodes, the audit trail, attachments, notifications and the broker's outbox."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from federation.database import utcnow
from federation.outbox import OutboxMixin
from federation.web.sessions import LoginSessionMixin


class PortalBase(DeclarativeBase):
    pass


class AccessRequest(PortalBase):
    __tablename__ = "access_requests"
    __table_args__ = (Index("ix_access_requests_owner", "owner_iss", "owner_sub"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # random: not enumerable
    owner_iss: Mapped[str] = mapped_column(String(500))
    owner_sub: Mapped[str] = mapped_column(String(255))
    owner_name: Mapped[str] = mapped_column(String(200))
    owner_email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    project: Mapped[dict] = mapped_column(JSON)  # schemas/access.py ProjectSchema
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    parts: Mapped[list[RequestPart]] = relationship(
        back_populates="request", order_by="RequestPart.biobank_name"
    )
    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="request", order_by="Attachment.created_at"
    )


class RequestPart(PortalBase):
    __tablename__ = "access_request_parts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("access_requests.id"), index=True)
    node_id: Mapped[str] = mapped_column(String(64), index=True)
    biobank_id: Mapped[str] = mapped_column(String(128))
    biobank_name: Mapped[str] = mapped_column(String(300))
    state: Mapped[str] = mapped_column(String(32))
    node_seq: Mapped[int] = mapped_column(Integer, default=0)  # latest node event applied
    items: Mapped[list] = mapped_column(JSON)  # [{uid, kind, id, name}]
    delivery: Mapped[str] = mapped_column(String(16), default="pending")  # delivered, failed
    delivery_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    request: Mapped[AccessRequest] = relationship(back_populates="parts")
    events: Mapped[list[PartEvent]] = relationship(back_populates="part", order_by="PartEvent.at")


class PartEvent(PortalBase):
    """The audit trail: who did what to a part, when. Node events carry the node's sequence;
    a researcher's action is 'pending' until the node confirms (or refuses) it."""

    __tablename__ = "access_part_events"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    part_id: Mapped[str] = mapped_column(ForeignKey("access_request_parts.id"), index=True)
    seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
    type: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(16))
    actor_name: Mapped[str] = mapped_column(String(200))
    actor_sub: Mapped[str | None] = mapped_column(String(255), nullable=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    state: Mapped[str | None] = mapped_column(String(32), nullable=True)  # after the event
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    conditions: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="confirmed")  # pending, refused
    refusal: Mapped[str | None] = mapped_column(Text, nullable=True)

    part: Mapped[RequestPart] = relationship(back_populates="events")


class Attachment(PortalBase):
    __tablename__ = "access_attachments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("access_requests.id"), index=True)
    filename: Mapped[str] = mapped_column(String(200))  # as uploaded, cleaned; shown only
    stored_name: Mapped[str] = mapped_column(String(64))  # random, on disk
    content_type: Mapped[str] = mapped_column(String(100))  # from the content, not the client
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The file was deleted under the retention rule (portal/access/retention.py; migration
    # 0003); the row stays, so pages and nodes can say what it was and when it went.
    removed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    request: Mapped[AccessRequest] = relationship(back_populates="attachments")


class Notification(PortalBase):
    __tablename__ = "access_notifications"
    __table_args__ = (Index("ix_access_notifications_user", "user_iss", "user_sub", "read"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_iss: Mapped[str] = mapped_column(String(500))
    user_sub: Mapped[str] = mapped_column(String(255))
    text: Mapped[str] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    read: Mapped[bool] = mapped_column(Boolean, default=False)


class PortalOutbox(OutboxMixin, PortalBase):
    """Parts and researchers' actions on their way to the nodes, and e-mails."""

    __tablename__ = "access_outbox"


class PortalLoginSession(LoginSessionMixin, PortalBase):
    """A login at the portal (federation/web/sessions.py; migration 0002)."""

    __tablename__ = "login_sessions"


class Collaborator(PortalBase):
    """A co-applicant on a request (portal/access/membership.py; migration 0006): invited by
    the owner by e-mail, bound to an account (iss, sub) the first time someone signs in with
    that e-mail verified. A removed one keeps its row (removed_at), so the trail stays."""

    __tablename__ = "access_collaborators"
    __table_args__ = (
        Index("ix_access_collaborators_user", "user_iss", "user_sub"),
        Index("ix_access_collaborators_email", "email"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("access_requests.id"), index=True)
    email: Mapped[str] = mapped_column(String(320))  # as invited, lower case
    user_iss: Mapped[str | None] = mapped_column(String(500), nullable=True)  # once bound
    user_sub: Mapped[str | None] = mapped_column(String(255), nullable=True)
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)  # the provider's
    added_by: Mapped[str] = mapped_column(String(255))  # the owner's sub
    added_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    bound_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    removed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
