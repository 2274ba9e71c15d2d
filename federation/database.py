"""What every database of the alliance's apps shares: how an engine is made, ids and clocks."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine


def database_engine(url: str) -> Engine:
    """An engine for ``url``. SQLite is served from several threads and serialises the
    writes itself, so it may be shared across threads and waits for a lock up to 30 s."""
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    return create_engine(url, **kwargs)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_id() -> str:
    """A random id for a request, part, event or message (32 hex digits)."""
    return uuid.uuid4().hex
