"""The tables of saved searches, their alerts and unmet demand, in the portal's database
(``PortalBase``; created by migration 0003_saved_searches).

* ``saved_searches``: a researcher's search (its canonical query string and a name), the
  alert state (``watermarks``: per node, the sequence up to which this search has been
  told about; ``checked_at``, ``emailed_at``), whether it e-mails, and two unguessable
  tokens: the private Atom feed's and the unsubscribe link's.
* ``saved_search_hits``: what was announced to a search (a line that is new, or available
  again), kept for its feed and page; ``mailed`` is false until an e-mail carried it.
* ``alert_lines`` and ``alert_cursors``: the ledger the alert job keeps of every cell line
  it has seen in the index, so it can tell a new line, and a line that became available
  again, from a line that merely changed (see portal/alerts/jobs.py).
* ``unmet_demand``: counts of searches that found nothing or little, per ISO week, words
  and filters. No user, session, address or time finer than the week is stored.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from federation.database import utcnow
from portal.access.models import PortalBase

NAME_MAX = 100  # a saved search's name
QUERY_MAX = 4000  # its canonical query string
UID_MAX = 512  # node (100) + kind + local id (255) and separators


class SavedSearch(PortalBase):
    __tablename__ = "saved_searches"
    __table_args__ = (Index("ix_saved_searches_owner", "owner_iss", "owner_sub"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # random: not enumerable
    owner_iss: Mapped[str] = mapped_column(String(500))
    owner_sub: Mapped[str] = mapped_column(String(255))
    owner_email: Mapped[str | None] = mapped_column(String(320), nullable=True)  # verified only
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    query: Mapped[str] = mapped_column(Text)  # canonical: SearchParams.args(), urlencoded
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    email_alerts: Mapped[bool] = mapped_column(Boolean, default=True)
    feed_token: Mapped[str] = mapped_column(String(64), unique=True)
    unsubscribe_token: Mapped[str] = mapped_column(String(64), unique=True)
    feed_uuid: Mapped[str] = mapped_column(String(36))  # the Atom feed's id (urn:uuid:...)
    # {node id: sequence}: changes up to there are known to this search. None: not yet
    # baselined (saved while neither the index nor the ledger could say); the job sets it.
    watermarks: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    checked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    emailed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    problem: Mapped[str | None] = mapped_column(Text, nullable=True)  # why it cannot run now


class SavedSearchHit(PortalBase):
    __tablename__ = "saved_search_hits"
    __table_args__ = (Index("ix_saved_search_hits_search", "search_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    search_id: Mapped[str] = mapped_column(ForeignKey("saved_searches.id", ondelete="CASCADE"))
    uid: Mapped[str] = mapped_column(String(UID_MAX))
    reason: Mapped[str] = mapped_column(String(16))  # "new" or "available"
    event_seq: Mapped[int] = mapped_column(BigInteger)  # the node's sequence of the event
    name: Mapped[str] = mapped_column(String(300))
    node_id: Mapped[str] = mapped_column(String(100))
    biobank_name: Mapped[str | None] = mapped_column(String(300), nullable=True)
    country: Mapped[str | None] = mapped_column(String(8), nullable=True)
    availability: Mapped[str | None] = mapped_column(String(32), nullable=True)
    found_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    mailed: Mapped[bool] = mapped_column(Boolean, default=False)  # settled for e-mail


class AlertLine(PortalBase):
    """One cell line as the alert job last saw it, and its latest event: ``new`` (first
    seen) or ``available`` (seen becoming available again), at the node's sequence."""

    __tablename__ = "alert_lines"
    __table_args__ = (Index("ix_alert_lines_event", "node_id", "event_seq"),)

    uid: Mapped[str] = mapped_column(String(UID_MAX), primary_key=True)
    node_id: Mapped[str] = mapped_column(String(100))
    seq: Mapped[int] = mapped_column(BigInteger)
    available: Mapped[bool] = mapped_column(Boolean)
    event: Mapped[str] = mapped_column(String(16))
    event_seq: Mapped[int] = mapped_column(BigInteger)


class AlertCursor(PortalBase):
    """Per node: the sequence up to which the ledger has read the index."""

    __tablename__ = "alert_cursors"

    node_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class UnmetDemand(PortalBase):
    """Searches that found nothing or little, counted per ISO week (``2026-W07``), record
    kind, normalised words and filters. ``key`` is a digest of those four (unique), so the
    counters can be added to with one upsert however long the words and filters are."""

    __tablename__ = "unmet_demand"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    week: Mapped[str] = mapped_column(String(8), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    words: Mapped[str] = mapped_column(Text)  # normalised, sorted; "" for filters only
    filters: Mapped[str] = mapped_column(Text)  # urlencoded facet parameters, sorted
    searches: Mapped[int] = mapped_column(Integer, default=0)  # that found little or nothing
    empty: Mapped[int] = mapped_column(Integer, default=0)  # of which found nothing
