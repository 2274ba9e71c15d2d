"""Shipment: the node records what it sent for a part (carrier, tracking number, date, lots
and vials, shipping conditions); the researcher's receipt (at the portal) fulfils the part.

A shipment is recorded only once every condition of the approval is met (agreements.py),
for lots this part holds, at most the vials held, while the hold lasts. In the same
transaction the holds end (shipped, or released for what was not sent) and each lot's
physical stock goes down by the vials sent: the permanent decrement, published through the
feed at once. The ship date may not be in the future (it records what happened).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from federation.database import utcnow
from federation.node.inbox import agreements, stock
from federation.node.inbox.holds import HoldAsked
from federation.node.inbox.models import LotHold, Shipment
from federation.node.inbox.service import Acting, Inbox, event_wire
from federation.outbox import as_aware

SHIPPING_CONDITIONS = {
    "dry_ice": "On dry ice",
    "dry_shipper": "Dry shipper (liquid nitrogen vapour)",
    "cold_packs": "Cold packs (2-8 °C)",
    "ambient": "Ambient temperature",
}
TRACKING = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ./-]{0,99}$")


class ShipmentRefused(ValueError):
    """A shipment that cannot be recorded; ``problems`` name each field that is wrong."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class ShipmentForm:
    carrier: str
    tracking_number: str
    shipped_on: dt.date | None
    conditions: str
    lots: list[HoldAsked] = field(default_factory=list)


def form_problems(form: ShipmentForm, today: dt.date) -> list[str]:
    """What is wrong with the form itself, one line per field (pure)."""
    problems = []
    if not 1 <= len(form.carrier.strip()) <= 100:
        problems.append("carrier: name the carrier (at most 100 characters)")
    if not TRACKING.match(form.tracking_number.strip()):
        problems.append(
            "tracking_number: letters, digits, spaces, '.', '/' or '-', at most 100 characters"
        )
    if form.shipped_on is None:
        problems.append("shipped_on: the date the material left (YYYY-MM-DD)")
    elif form.shipped_on > today + dt.timedelta(days=1):  # the admin's date may be UTC's tomorrow
        problems.append(f"shipped_on: {form.shipped_on.isoformat()} is in the future")
    if form.conditions not in SHIPPING_CONDITIONS:
        problems.append(f"conditions: one of {', '.join(SHIPPING_CONDITIONS)}")
    if not form.lots:
        problems.append("lots: name at least one lot and its vials")
    for i, lot in enumerate(form.lots):
        if lot.vials < 1:
            problems.append(f"lots[{i}]: lot {lot.lot_id!r}: ship at least 1 vial")
    return problems


def _against_holds(form: ShipmentForm, holds: list[LotHold], now: dt.datetime) -> list[str]:
    """Each lot shipped must be held for this part, for at least the vials, still now."""
    problems = []
    by_lot = {(h.line_id, h.lot_id): h for h in holds}
    for i, lot in enumerate(form.lots):
        hold = by_lot.get((lot.line_id, lot.lot_id))
        where = f"lots[{i}]: lot {lot.lot_id!r} of {lot.line_id!r}"
        until = as_aware(hold.until) if hold else None
        if hold is None:
            problems.append(f"{where}: nothing of it is held for this request")
        elif hold.state == stock.EXPIRED or (hold.state == stock.ACTIVE and until and until <= now):
            problems.append(
                f"{where}: the hold expired on {until.date().isoformat() if until else '?'}; "
                "approve the vials again first"
            )
        elif hold.state != stock.ACTIVE:
            problems.append(f"{where}: its hold was {hold.state}")
        elif lot.vials > hold.vials:
            problems.append(f"{where}: {lot.vials} vial(s) shipped, only {hold.vials} held")
    return problems


def record_shipment(
    inbox: Inbox,
    part_id: str,
    biobanks: Collection[str],
    acting: Acting,
    form: ShipmentForm,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Record the shipment, end the holds, lower the stock, tell the portal: all in one
    transaction. ShipmentRefused or TransitionRefused: nothing is stored."""
    now = now or utcnow()
    problems = form_problems(form, now.date())
    if problems:
        raise ShipmentRefused(problems)
    with inbox.sessions.begin() as session:
        part = inbox._visible(session, part_id, biobanks)
        holds = list(
            session.execute(
                select(LotHold)
                .where(LotHold.part_id == part.id)
                .order_by(LotHold.created_at)
                .with_for_update()  # the expiry job waits, then finds them ended
            ).scalars()
        )
        problems = _against_holds(form, holds, now)
        problems += [f"condition {line}" for line in agreements.unmet(session, part)]
        if problems:
            raise ShipmentRefused(problems)
        event = inbox._append(session, part, "ship", acting, text=_summary(form), origin="node")
        sent = {(lot.line_id, lot.lot_id): lot.vials for lot in form.lots}
        active = [h for h in holds if h.state == stock.ACTIVE]
        for hold in active:
            stock.give_back(session, hold.line_id, hold.lot_id, hold.vials)
            hold.state = stock.SHIPPED if (hold.line_id, hold.lot_id) in sent else stock.RELEASED
            hold.ended_at = now
        stock.republish_lines(inbox.store, session, {h.line_id for h in active}, shipped=sent)
        session.add(
            Shipment(
                part_id=part.id, carrier=form.carrier.strip(),
                tracking_number=form.tracking_number.strip(), shipped_on=form.shipped_on,
                lots=[vars(lot) for lot in form.lots], conditions=form.conditions,
                recorded_by=acting.name, recorded_at=now,
            )
        )  # fmt: skip
        wire = event_wire(event)
        inbox.outbox.enqueue(session, "event", "portal", wire, key=part.id)
    inbox.store.notify()
    inbox.outbox.wake()
    return wire


def _summary(form: ShipmentForm) -> str:
    """The ship event's text: what the researcher reads, in the history and the notice."""
    lots = "; ".join(
        f"{lot.vials} vial(s) of lot {lot.lot_id} of {lot.line_id}" for lot in form.lots
    )
    when = form.shipped_on.isoformat() if form.shipped_on else "?"
    return (
        f"Sent on {when} by {form.carrier.strip()}, tracking number "
        f"{form.tracking_number.strip()}, {SHIPPING_CONDITIONS[form.conditions].lower()}: {lots}."
    )


def shipment_of(inbox: Inbox, part_id: str, biobanks: Collection[str]) -> Shipment | None:
    with inbox.sessions() as session:
        inbox._visible(session, part_id, biobanks)
        found = session.get(Shipment, part_id)
        if found is not None:
            session.expunge(found)
        return found
