"""The node's tables: one row per catalogue record, plus the change counter.

A record keeps its canonical JSON, the hash of that JSON, and the sequence number of its
last change. Deletions keep the row as a tombstone, so the feed can always announce them;
a withdrawn record keeps its last content aside so an admin can restore it.

Every module that declares tables on ``Base`` is listed in ``MODEL_MODULES``, so the
migrations (federation/node/migrations) see all of them. Schema changes go through Alembic.
"""

from __future__ import annotations

import datetime as dt
import importlib

from sqlalchemy import JSON, Boolean, DateTime, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from federation.database import utcnow


class Base(DeclarativeBase):
    pass


class Record(Base):
    __tablename__ = "records"
    __table_args__ = (UniqueConstraint("kind", "local_id"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    local_id: Mapped[str] = mapped_column(String(255))
    payload: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    # The content a withdrawal put aside (the feed shows a tombstone); restore brings it back.
    withdrawn_payload: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    # The payload's canonical JSON, the very text content_hash is of (0008): feed pages splice
    # it in as it is, instead of parsing the payload and serialising it again per record.
    # None for a tombstone (and for a row whose stored hash was not of its payload).
    canonical: Mapped[str | None] = mapped_column(Text, nullable=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True, index=True)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    schema_version: Mapped[str] = mapped_column(String(16))
    modified: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Counter(Base):
    """The node's change sequence. Updating this row serialises writers, so sequence order is
    commit order and a reader never sees seq N+1 before N has committed."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


MODEL_MODULES = (
    "federation.node.models",
    "federation.node.inbox.models",
    "federation.node.inbox.clock_models",
    "federation.node.inbox.co_applicant_models",  # a part's co-applicants (0007)
)
"""Modules that declare tables on Base; one that is not there (yet) is skipped."""


def load_models() -> type[Base]:
    """Import every model module so ``Base.metadata`` knows all tables; returns Base."""
    for name in MODEL_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    return Base
