"""How times read on every page: one filter for the portal's and the nodes' templates."""

from __future__ import annotations

import datetime as dt


def when(value: str | dt.datetime | None) -> str:
    """An ISO timestamp or a datetime as people read it: ``2026-11-26 07:25 UTC``.

    Naive datetimes are taken as UTC (SQLite hands them back without a zone).
    """
    if not value:
        return ""
    if isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    else:
        moment = value
    value = moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%d %H:%M UTC")
