"""The table of a part's co-applicants at the node (federation/node/inbox/co_applicants.py;
migration 0007), kept apart from the API so that loading the models loads no web code."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from federation.node.models import Base


class InboxCoApplicant(Base):
    __tablename__ = "access_part_co_applicants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    part_id: Mapped[str] = mapped_column(ForeignKey("access_parts.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)  # the portal's order (when added)
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    email: Mapped[str] = mapped_column(String(320))
    added_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
