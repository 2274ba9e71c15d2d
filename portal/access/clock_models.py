"""The portal's response clocks (migration 0005): per part, which escalation steps the portal
has taken (schemas/clocks.py), and whether the part is marked unresponsive and the researcher
chose to keep waiting. A table of its own, beside the mirrored part, so the mirror stays
exactly what the node reported."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.access.models import PortalBase


class PartClock(PortalBase):
    __tablename__ = "access_part_clocks"

    part_id: Mapped[str] = mapped_column(ForeignKey("access_request_parts.id"), primary_key=True)
    sent: Mapped[list] = mapped_column(JSON, default=list)  # step keys taken: "decision:operators"
    unresponsive_at: Mapped[dt.datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    kept_waiting_at: Mapped[dt.datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    kept_waiting_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
