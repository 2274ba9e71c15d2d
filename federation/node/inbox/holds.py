"""Lot holds: an admin's approval promises vials of named lots to a part until a date.

A hold lowers what the node publishes at once (stock.py rewrites the line's record in the
approval's transaction); it ends released (withdrawn, rejected or let go by an admin),
expired (the ``lot-holds`` worker job, :func:`expire_holds`, at its date) or shipped
(shipment.py, where it becomes a permanent decrement of the lot's stock). The node is the
authority: it checks every hold against its own catalogue whatever the portal showed.

Every refusal happens before anything is stored (one transaction): a hold beyond what is
free, a date that is not in the future, a lot the line does not have, a line the part does
not ask for.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from federation.database import new_id, utcnow
from federation.node.inbox import stock
from federation.node.inbox.models import InboxPart, LotHold
from federation.node.inbox.service import Acting, Inbox, event_wire
from federation.node.inbox.stock import ACTIVE, EXPIRED, end_holds
from federation.node.inbox.terms import approval_text
from federation.outbox import as_aware
from schemas.lifecycle import Actor
from schemas.lifecycle import State as PartState


@dataclass(frozen=True)
class HoldAsked:
    """Vials of one lot of one requested line, as an admin's approval names them."""

    line_id: str
    lot_id: str
    vials: int


def check_until(until: dt.datetime | dt.date, now: dt.datetime, max_days: int = 90) -> dt.datetime:
    """The end of a hold as an aware time (a date: the end of that day, UTC); a time that is
    not in the future, or more than ``max_days`` ahead, is StockRefused."""
    if not isinstance(until, dt.datetime):
        until = dt.datetime.combine(until, dt.time(23, 59, 59), dt.UTC)
    until = as_aware(until) or until
    if until <= now:
        raise stock.StockRefused(
            f"hold until {until.date().isoformat()}: the date is in the past; "
            "a hold ends today at the earliest"
        )
    if until - now > dt.timedelta(days=max_days):
        raise stock.StockRefused(
            f"hold until {until.date().isoformat()}: at most {max_days} days ahead"
        )
    return until


def approve_with_holds(
    inbox: Inbox,
    part_id: str,
    biobanks: Collection[str],
    acting: Acting,
    holds: Iterable[HoldAsked],
    until: dt.datetime | dt.date | None,
    *,
    text: str | None = None,
    conditions: Collection[str] = (),
    now: dt.datetime | None = None,
    max_days: int = 90,
    override_reason: str | None = None,
) -> dict[str, Any]:
    """Approve a part and hold its lots, in one transaction with the approval event and the
    report to the portal. StockRefused or TransitionRefused: nothing is stored. The terms are
    checked first, on the node's own records, as for any approval (inbox/terms.py)."""
    now = now or utcnow()
    text = approval_text(
        inbox.store,
        inbox.part(part_id, biobanks).payload,
        text,
        override_reason,
        inbox.consent_override_allowed,
    )
    holds = sorted(holds, key=lambda h: (h.line_id, h.lot_id))  # one lock order: no deadlock
    if holds and until is None:
        raise stock.StockRefused("hold until: a hold needs the date it ends")
    end = check_until(until, now, max_days) if until is not None else None
    with inbox.sessions.begin() as session:
        part = inbox._visible(session, part_id, biobanks)
        requested = {i["id"] for i in part.payload["items"] if i["kind"] == "cell_line"}
        for h in holds:
            if h.line_id not in requested:
                raise stock.StockRefused(f"cell line {h.line_id!r} is not asked for in this part")
        event = inbox._append(
            session,
            part,
            "approve",
            acting,
            text=_summary(holds, end, text),
            conditions=conditions,
            origin="node",
        )
        _take(session, part.id, holds, end, now)
        stock.republish_lines(inbox.store, session, (h.line_id for h in holds))
        part.needs_attention = False
        wire = event_wire(event)
        inbox.outbox.enqueue(session, "event", "portal", wire, key=part.id)
    inbox.store.notify()
    inbox.outbox.wake()
    return wire


def _take(
    session: Any, part_id: str, holds: list[HoldAsked], end: dt.datetime | None, now: dt.datetime
) -> None:
    """Hold each lot's vials (the conditional per-lot UPDATE in stock.py) and record it."""
    for h in holds:
        stock.take(session, h.line_id, h.lot_id, h.vials)
        session.add(
            LotHold(
                id=new_id(),
                part_id=part_id,
                line_id=h.line_id,
                lot_id=h.lot_id,
                vials=h.vials,
                until=end,
                state=ACTIVE,
                created_at=now,
            )
        )


def _summary(holds: list[HoldAsked], end: dt.datetime | None, text: str | None) -> str | None:
    """The approval's text with what it holds, for the audit trail and the researcher."""
    lines = [(text or "").strip()] if (text or "").strip() else []
    if holds and end is not None:
        held = "; ".join(f"{h.vials} vial(s) of lot {h.lot_id} of {h.line_id}" for h in holds)
        lines.append(f"Held for you until {end.date().isoformat()}: {held}.")
    return "\n".join(lines) or None


def holds_of(inbox: Inbox, part_id: str, biobanks: Collection[str]) -> list[LotHold]:
    """The part's holds, newest first (404 for someone else's part, like the part itself)."""
    with inbox.sessions() as session:
        inbox._visible(session, part_id, biobanks)
        return list(
            session.execute(
                select(LotHold).where(LotHold.part_id == part_id).order_by(LotHold.created_at)
            ).scalars()
        )


def release_holds(
    inbox: Inbox, part_id: str, biobanks: Collection[str], acting: Acting, note: str | None
) -> dict[str, Any]:
    """An admin lets a part's active holds go before their date (a ``release`` event, with
    the admin's note, reported to the portal). StockRefused if none is active."""
    with inbox.sessions.begin() as session:
        part = inbox._visible(session, part_id, biobanks)
        active = stock.active_holds(session, part.id)
        if not active:
            raise stock.StockRefused("this part holds no vials to release")
        gone = "; ".join(f"{h.vials} vial(s) of lot {h.lot_id} of {h.line_id}" for h in active)
        said = (note or "").strip()
        text = f"Released: {gone}." + (f" {said}" if said else "")
        event = inbox._append(session, part, "release", acting, text=text, origin="node")
        stock.republish_lines(inbox.store, session, end_holds(session, active, stock.RELEASED))
        wire = event_wire(event)
        inbox.outbox.enqueue(session, "event", "portal", wire, key=part.id)
    inbox.store.notify()
    inbox.outbox.wake()
    return wire


def expire_holds(inbox: Inbox, now: dt.datetime | None = None) -> int:
    """End every active hold whose date has passed; the researcher hears of it through the
    part's history. Returns how many ended. ``now``: the clock (tests pass their own)."""
    now = now or utcnow()
    with inbox.sessions.begin() as session:
        due = list(
            session.execute(
                select(LotHold)
                .where(LotHold.state == ACTIVE, LotHold.until <= now)
                .with_for_update()
            ).scalars()
        )
        lines = end_holds(session, due, EXPIRED)
        for part_id in sorted({h.part_id for h in due}):
            part = session.get(InboxPart, part_id)
            if part is None or PartState(part.state).final:
                continue
            gone = "; ".join(
                f"{h.vials} vial(s) of lot {h.lot_id} of {h.line_id}"
                for h in due
                if h.part_id == part_id
            )
            event = inbox._append(
                session,
                part,
                "release",
                Acting(Actor.NODE, inbox.node_name),
                text=f"The hold expired: {gone} can go to other requests.",
                origin="node",
            )
            inbox.outbox.enqueue(session, "event", "portal", event_wire(event), key=part.id)
        stock.republish_lines(inbox.store, session, lines)
    if due:
        inbox.store.notify()
        inbox.outbox.wake()
    return len(due)
