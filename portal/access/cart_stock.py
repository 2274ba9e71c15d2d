"""Stock-aware cart lines (issue 11): how many vials of a cell line, optionally of which lot.

Amounts live beside the cart in the signed session (``{uid: {"quantity", "lot_id"}}``;
without one a line asks for 1 vial of any lot). They are checked against the record as the
index shows it now (each lot's vials less what approvals hold: ``lot_vials_free`` in
schemas/parts.py): the cart says what is available, and a quantity beyond it is refused at
submission, naming the line and the lot. The node checks again when it approves: it is the
authority over its stock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from flask import session

from schemas.access import MAX_VIALS
from schemas.parts import lot_vials_free

KEY = "cart_amounts"


class AmountError(ValueError):
    """An amount the cart cannot take; the message names the line."""


def amounts() -> dict[str, dict[str, Any]]:
    return dict(session.get(KEY, {}))


def parse(uid: str, quantity: str | None, lot_id: str | None) -> dict[str, Any]:
    """A cart line's amount from the form: a whole number of vials from 1, a lot or none."""
    try:
        vials = int((quantity or "").strip() or "1")
    except ValueError:
        raise AmountError(f"{uid}: {quantity!r} is not a whole number of vials") from None
    if not 1 <= vials <= MAX_VIALS:
        raise AmountError(f"{uid}: ask for 1 to {MAX_VIALS} vials, not {vials}")
    amount: dict[str, Any] = {"quantity": vials}
    if (lot_id or "").strip():
        amount["lot_id"] = (lot_id or "").strip()
    return amount


def set_amount(uid: str, amount: dict[str, Any], cart: Iterable[str]) -> None:
    if uid not in set(cart):
        raise AmountError(f"{uid} is not in your cart")
    session[KEY] = {**amounts(), uid: amount}


def drop(uid: str) -> None:
    session[KEY] = {k: v for k, v in amounts().items() if k != uid}


def clear() -> None:
    session.pop(KEY, None)


def lots_available(lots: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each lot that states a count, with what can still be asked for now."""
    return [
        {"lot_id": lot["lot_id"], "free": lot_vials_free(lot)}
        for lot in lots
        if lot.get("vials_available") is not None
    ]


def problems(
    uid: str, kind: str, lots: Sequence[Mapping[str, Any]], amount: Mapping[str, Any] | None
) -> list[str]:
    """What is wrong with one line's amount against its record now (empty: fine)."""
    if not amount:
        return []
    if kind != "cell_line":
        return [f"{uid}: a collection is asked for as a whole, not in vials or lots"]
    quantity, lot_id = amount["quantity"], amount.get("lot_id")
    available = {lot["lot_id"]: lot["free"] for lot in lots_available(lots)}
    if lot_id is not None:
        if lot_id not in {lot["lot_id"] for lot in lots}:
            known = ", ".join(lot["lot_id"] for lot in lots) or "none"
            return [f"{uid}: there is no lot {lot_id!r} (its lots: {known})"]
        free = available.get(lot_id)
        if free is not None and quantity > free:
            return [f"{uid}: {quantity} vial(s) of lot {lot_id} asked, {free} available now"]
        return []
    if available and quantity > sum(available.values()):
        total = sum(available.values())
        return [f"{uid}: {quantity} vial(s) asked, {total} available now in all its lots"]
    return []
