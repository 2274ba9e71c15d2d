"""Alliance figures from the portal's database, and who may see which rows.

Alliance operators (``alliance-admin``) see every biobank's row and the alliance-wide one. A
biobank admin sees only the rows of the biobanks their account names (``<node>:<biobank>``
in the biobanks claim), and not the alliance-wide row (with two biobanks, it and their own
would tell the other's). Anyone else sees nothing (:class:`FiguresForbidden`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from federation.web.login import User
from portal.access.clock_models import PartClock
from portal.access.escalation import history_of
from portal.access.models import AccessRequest, RequestPart
from portal.figures.compute import Figures, PartFacts, Period, alliance_figures

OPERATOR_ROLE = "alliance-admin"
PERIOD_DAYS = 90  # the period when none is given: the last 90 days, today included
MAX_PERIOD_DAYS = 3660


class FiguresForbidden(PermissionError):
    """This account may see no figures."""


class PeriodInvalid(ValueError):
    """A period parameter that cannot be used; the message names it."""


def administered(user: User) -> set[tuple[str, str]]:
    """(node, biobank) of every biobank a biobank admin administers."""
    if not user.has_role("biobank-admin"):
        return set()
    pairs = (value.partition(":") for value in user.biobanks)
    return {(node, bank) for node, sep, bank in pairs if sep and node and bank and bank != "*"}


def may_see(user: User) -> bool:
    return user.has_role(OPERATOR_ROLE) or bool(administered(user))


def visible(user: User, rows: list[Figures]) -> list[Figures]:
    if user.has_role(OPERATOR_ROLE):
        return rows
    own = administered(user)
    if not own:
        raise FiguresForbidden(
            "Request figures are shown to the alliance's operators, and to biobank admins "
            "for their own biobanks."
        )
    return [r for r in rows if (r.node_id, r.biobank_id) in own]


def _date(args: Any, name: str) -> dt.date | None:
    raw = args.get(name)
    if raw in (None, ""):
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise PeriodInvalid(f"{name!r} must be a date (YYYY-MM-DD), got {raw!r}") from None


def parse_period(args: Any, today: dt.date, allowed: set[str] | None = None) -> Period:
    """The period of ``from`` and ``to`` (both included; default: the last 90 days)."""
    unknown = sorted(set(args) - (allowed or {"from", "to"}))
    if unknown:
        raise PeriodInvalid(f"unknown parameter {unknown[0]!r}; this takes 'from' and 'to'")
    end = _date(args, "to") or today
    start = _date(args, "from") or end - dt.timedelta(days=PERIOD_DAYS - 1)
    if start > end:
        raise PeriodInvalid(f"'from' ({start}) is after 'to' ({end})")
    if (end - start).days >= MAX_PERIOD_DAYS:
        raise PeriodInvalid(f"the period is longer than {MAX_PERIOD_DAYS} days")
    return Period(start, end)


def _facts(session: Session, period: Period) -> Iterator[PartFacts]:
    begin = dt.datetime.combine(period.start, dt.time(), dt.UTC)
    stop = dt.datetime.combine(period.end + dt.timedelta(days=1), dt.time(), dt.UTC)
    parts = session.execute(
        select(RequestPart, AccessRequest.created_at)
        .join(AccessRequest)
        .options(selectinload(RequestPart.events))
        .where(AccessRequest.created_at >= begin, AccessRequest.created_at < stop)
    ).all()
    ids = [part.id for part, _ in parts]
    flagged = set(
        session.scalars(
            select(PartClock.part_id).where(
                PartClock.part_id.in_(ids), PartClock.unresponsive_at.is_not(None)
            )
        )
    )
    for part, created in parts:
        yield PartFacts(
            part.request_id,
            part.node_id,
            part.biobank_id,
            part.biobank_name,
            part.state,
            created,
            tuple(history_of(part)),
            part.id in flagged,
        )


def figures_for(sessions: sessionmaker[Session], user: User, period: Period) -> list[Figures]:
    """The rows ``user`` may see over ``period``; FiguresForbidden for anyone else."""
    if not may_see(user):
        raise FiguresForbidden(
            "Request figures are shown to the alliance's operators, and to biobank admins "
            "for their own biobanks."
        )
    with sessions() as session:
        rows = alliance_figures(list(_facts(session, period)), period)
    return visible(user, rows)


def all_figures(sessions: sessionmaker[Session], period: Period) -> list[Figures]:
    """Every row (the metrics scraper's view, behind its own token)."""
    with sessions() as session:
        return alliance_figures(list(_facts(session, period)), period)
