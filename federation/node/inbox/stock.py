"""Vials of a lot: what approvals hold, what is left, and the published record that shows it.

The physical stock stays where the catalogue keeps it (a lot's ``vials_available``); what
approvals promise is counted per lot in one row (:class:`LotStock`). Taking vials is one
conditional UPDATE, ``held = held + n WHERE held + n <= vials``: on PostgreSQL the second of
two concurrent approvals waits for the first one's row lock and then re-checks the
condition; SQLite lets one writer in at a time. Either way two approvals never hold more
than the lot has, without a read-then-write race.

The published record carries the count as each lot's ``vials_held`` (set by
:func:`set_vials_held`, the store's adjuster, on every write, so a re-import keeps it), and
search subtracts it (schemas/parts.py ``lot_vials_free``). Every change of holds
rewrites the line's record in the same transaction (:func:`republish_lines`), so the feed
numbers a change and the index shows the lower stock within seconds.

Pure functions of a session: the inbox services (holds.py, shipment.py) own the
transactions.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from federation.database import utcnow
from federation.node.inbox.models import LotHold, LotStock
from federation.node.models import Record
from federation.node.store import CatalogueStore

ACTIVE, RELEASED, EXPIRED, SHIPPED = "active", "released", "expired", "shipped"
"""The states of a hold (LotHold.state)."""


class StockRefused(ValueError):
    """Vials that cannot be held or shipped as asked; the message names the line and lot."""


def lot_of(session: Session, line_id: str, lot_id: str) -> dict[str, Any]:
    """The lot as the catalogue holds it now, or StockRefused naming what is missing."""
    # Locked (on PostgreSQL): a shipment that lowers the stock commits first, and this
    # approval then reads the lower stock, not the one before it.
    payload = session.execute(
        select(Record.payload)
        .where(Record.kind == "cell_line", Record.local_id == line_id, Record.deleted.is_(False))
        .with_for_update()
    ).scalar_one_or_none()
    if payload is None:
        raise StockRefused(f"cell line {line_id!r} is not in this node's catalogue")
    for lot in payload.get("lots", []):
        if lot["lot_id"] == lot_id:
            return lot
    known = ", ".join(lot["lot_id"] for lot in payload.get("lots", [])) or "none"
    raise StockRefused(f"cell line {line_id!r} has no lot {lot_id!r} (its lots: {known})")


def held(session: Session, line_id: str, lot_id: str) -> int:
    value = session.execute(
        select(LotStock.held).where(LotStock.line_id == line_id, LotStock.lot_id == lot_id)
    ).scalar_one_or_none()
    return value or 0


def take(session: Session, line_id: str, lot_id: str, vials: int) -> None:
    """Hold ``vials`` more of a lot, or StockRefused if fewer are free (nothing changed)."""
    if vials < 1:
        raise StockRefused(f"lot {lot_id!r} of {line_id!r}: hold at least 1 vial, not {vials}")
    stock = lot_of(session, line_id, lot_id).get("vials_available")
    if stock is None:
        raise StockRefused(f"lot {lot_id!r} of {line_id!r} states no vial count to hold from")
    _ensure_row(session, line_id, lot_id)
    result = session.execute(
        update(LotStock)
        .where(
            LotStock.line_id == line_id,
            LotStock.lot_id == lot_id,
            LotStock.held + vials <= stock,
        )
        .values(held=LotStock.held + vials)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        free = max(0, stock - held(session, line_id, lot_id))
        raise StockRefused(
            f"lot {lot_id!r} of {line_id!r}: {vials} vial(s) asked, only {free} free "
            f"({stock} in stock, the rest held for other requests)"
        )


def give_back(session: Session, line_id: str, lot_id: str, vials: int) -> None:
    """Release ``vials`` held of a lot (a hold released, expired or shipped)."""
    session.execute(
        update(LotStock)
        .where(LotStock.line_id == line_id, LotStock.lot_id == lot_id)
        .values(held=LotStock.held - vials)
        .execution_options(synchronize_session=False)
    )


def _ensure_row(session: Session, line_id: str, lot_id: str) -> None:
    """The lot's counter row, made once; two first holds at once make it once too."""
    # The node runs on SQLite or PostgreSQL; both say "insert unless it is there" alike.
    module: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(
        module.insert(LotStock)
        .values(line_id=line_id, lot_id=lot_id, held=0)
        .on_conflict_do_nothing()
    )


def set_vials_held(session: Session, kind: str, record: dict[str, Any]) -> dict[str, Any]:
    """The store's adjuster: each lot of a cell line shows what is held of it (none: no key)."""
    if kind != "cell_line" or not record.get("lots"):
        return record
    counts = dict(
        session.execute(
            select(LotStock.lot_id, LotStock.held).where(LotStock.line_id == record["id"])
        ).all()
    )
    lots = []
    for lot in record["lots"]:
        lot = {k: v for k, v in lot.items() if k != "vials_held"}
        if counts.get(lot["lot_id"]):
            lot["vials_held"] = counts[lot["lot_id"]]
        lots.append(lot)
    return {**record, "lots": lots}


def republish_lines(
    store: CatalogueStore,
    session: Session,
    line_ids: Iterable[str],
    shipped: dict[tuple[str, str], int] | None = None,
) -> None:
    """Rewrite these lines' records with their current holds (and, at shipment, the
    physical stock less ``shipped`` vials per (line, lot)), numbering a change each."""
    shipped = shipped or {}
    for line_id in sorted(set(line_ids)):

        def change(record: dict[str, Any], line_id: str = line_id) -> dict[str, Any]:
            lots = []
            for lot in record.get("lots", []):
                sent = shipped.get((line_id, lot["lot_id"]), 0)
                if sent:
                    lot = {**lot, "vials_available": max(0, lot["vials_available"] - sent)}
                lots.append(lot)
            return {**record, "lots": lots}

        store.republish(session, "cell_line", line_id, change)


def end_holds(session: Session, holds: Iterable[LotHold], state: str) -> set[str]:
    """End active holds (released or expired): their vials are free again. Returns the lines
    to republish."""
    lines = set()
    for hold in holds:
        # Conditional, so a hold that the expiry job, a release, a shipment or a withdrawal
        # ended meanwhile gives its vials back once only.
        ended = session.execute(
            update(LotHold)
            .where(LotHold.id == hold.id, LotHold.state == ACTIVE)
            .values(state=state, ended_at=utcnow())
        )
        if ended.rowcount != 1:  # type: ignore[attr-defined]
            continue
        give_back(session, hold.line_id, hold.lot_id, hold.vials)
        lines.add(hold.line_id)
    return lines


def active_holds(session: Session, part_id: str) -> list[LotHold]:
    return list(
        session.execute(
            select(LotHold)
            .where(LotHold.part_id == part_id, LotHold.state == ACTIVE)
            .with_for_update()  # one ender at a time (see end_holds)
        ).scalars()
    )


def release_part(store: CatalogueStore, session: Session, part_id: str) -> bool:
    """A withdrawn part lets its holds go, in the withdrawal's transaction. True if any
    were active (the caller tells the store's listeners after its commit)."""
    lines = end_holds(session, active_holds(session, part_id), RELEASED)
    republish_lines(store, session, lines)
    return bool(lines)


def install(store: CatalogueStore) -> None:
    """Make every write of the store set the lots' held vials (once per store)."""
    if set_vials_held not in store.adjusters:
        store.adjusters.append(set_vials_held)
