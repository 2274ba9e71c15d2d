"""The node's access-request tables, beside its catalogue (same database, same ``Base``).

A part is one biobank's share of a researcher's request, as the portal delivered it; its
events are its history, numbered per part. The node is the authority over a part's state:
every change happens here first and is then reported to the portal through the outbox.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from federation.database import utcnow
from federation.node.models import Base
from federation.outbox import OutboxMixin
from federation.web.sessions import LoginSessionMixin


class InboxPart(Base):
    __tablename__ = "access_parts"
    __table_args__ = (Index("ix_access_parts_biobank_state", "biobank_id", "state"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(32), index=True)
    biobank_id: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(32))
    seq: Mapped[int] = mapped_column(Integer, default=0)  # of its latest event
    content_hash: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict] = mapped_column(JSON)  # the part as delivered (schemas/access.py)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    needs_attention: Mapped[bool] = mapped_column(default=True)  # the researcher spoke last

    events: Mapped[list[InboxEvent]] = relationship(
        back_populates="part", order_by="InboxEvent.seq", cascade="all, delete-orphan"
    )


class InboxEvent(Base):
    __tablename__ = "access_events"
    __table_args__ = (UniqueConstraint("part_id", "seq"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    part_id: Mapped[str] = mapped_column(ForeignKey("access_parts.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(16))
    actor_name: Mapped[str] = mapped_column(String(200))
    actor_sub: Mapped[str | None] = mapped_column(String(255), nullable=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    state: Mapped[str] = mapped_column(String(32))  # after the event
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    conditions: Mapped[list] = mapped_column(JSON, default=list)
    origin: Mapped[str] = mapped_column(String(16))  # "node" or "portal" (a relayed action)

    part: Mapped[InboxPart] = relationship(back_populates="events")


class NodeOutbox(OutboxMixin, Base):
    """Events on their way to the portal, and e-mails to the node's contact."""

    __tablename__ = "access_outbox"


class NodeLoginSession(LoginSessionMixin, Base):
    """A login at this node's pages (federation/web/sessions.py; migration 0004)."""

    __tablename__ = "login_sessions"


# -- stock, agreements and shipment (issue 11; migration 0005_bench_sharing) -----------------
class LotStock(Base):
    """Vials of one lot held by active approvals: the one row two approvals both update, with
    a conditional UPDATE (``held + n <= vials``), so together they never hold more than the
    lot has, on SQLite and PostgreSQL alike (federation/node/inbox/holds.py)."""

    __tablename__ = "lot_stock"

    line_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    lot_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    held: Mapped[int] = mapped_column(Integer, default=0)


class LotHold(Base):
    """Vials of a lot an approval promised to a part until a date: active, then released,
    expired or shipped."""

    __tablename__ = "lot_holds"
    __table_args__ = (Index("ix_lot_holds_state_until", "state", "until"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    part_id: Mapped[str] = mapped_column(ForeignKey("access_parts.id"), index=True)
    line_id: Mapped[str] = mapped_column(String(128))
    lot_id: Mapped[str] = mapped_column(String(128))
    vials: Mapped[int] = mapped_column(Integer)
    until: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    state: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ConditionEvidence(Base):
    """One piece of evidence for a condition of an approval: a note, a document kept here (the
    biobank's MTA, its countersignature) or the condition marked met."""

    __tablename__ = "condition_evidence"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    part_id: Mapped[str] = mapped_column(ForeignKey("access_parts.id"), index=True)
    condition: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    filename: Mapped[str | None] = mapped_column(String(200), nullable=True)
    content_type: Mapped[str | None] = mapped_column(String(100), nullable=True)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    content: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    actor: Mapped[str] = mapped_column(String(16))
    actor_name: Mapped[str] = mapped_column(String(200))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Shipment(Base):
    """What a node sent for a part, and the researcher's word on its arrival."""

    __tablename__ = "shipments"

    part_id: Mapped[str] = mapped_column(ForeignKey("access_parts.id"), primary_key=True)
    carrier: Mapped[str] = mapped_column(String(100))
    tracking_number: Mapped[str] = mapped_column(String(100))
    shipped_on: Mapped[dt.date] = mapped_column(Date)
    lots: Mapped[list] = mapped_column(JSON)  # [{line_id, lot_id, vials}]
    conditions: Mapped[str] = mapped_column(String(200))  # shipping conditions (dry ice...)
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
