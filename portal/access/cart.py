"""The request cart: record uids kept in the (signed) session, so it works before login."""

from __future__ import annotations

import re

from flask import session

from schemas.access import REQUESTABLE_KINDS

KEY = "cart"
UID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}:([a-z_]+):[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


class CartError(ValueError):
    pass


def items() -> list[str]:
    return list(session.get(KEY, []))


def add(uid: str, limit: int) -> None:
    match = UID.match(uid or "")
    if not match:
        raise CartError(f"{uid!r} is not a catalogue record id (node:kind:id)")
    if match.group(1) not in REQUESTABLE_KINDS:
        raise CartError("only cell lines and collections can be requested")
    current = items()
    if uid in current:
        return
    if len(current) >= limit:
        raise CartError(f"the cart holds at most {limit} items; submit or remove some first")
    session[KEY] = [*current, uid]


def remove(uid: str) -> None:
    session[KEY] = [u for u in items() if u != uid]


def clear() -> None:
    session.pop(KEY, None)
