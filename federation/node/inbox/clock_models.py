"""The node's response clocks (migration 0006): per part, the escalation steps the node has
taken (reminders to its admins, its contact: schemas/clocks.py), so a repeat pass sends
nothing twice."""

from __future__ import annotations

from sqlalchemy import JSON, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from federation.node.models import Base


class InboxClock(Base):
    __tablename__ = "access_part_clocks"

    part_id: Mapped[str] = mapped_column(ForeignKey("access_parts.id"), primary_key=True)
    sent: Mapped[list] = mapped_column(JSON, default=list)  # step keys: "first_answer:remind:1"
