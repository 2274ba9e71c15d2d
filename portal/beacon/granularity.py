"""How much a Beacon answer may say, and to whom.

Three levels, least first: ``boolean`` (does anything match), ``count`` (how many) and
``record`` (the matching records themselves). Every caller has an allowed level:

* anonymous callers: ``BEACON_GRANULARITY_ANONYMOUS`` (``count`` by default), never more than
  ``count`` whatever the setting says;
* signed-in alliance members (a portal session holding one of ``BEACON_MEMBER_ROLES``; an
  empty list: any signed-in user): ``BEACON_GRANULARITY_MEMBERS`` (``record`` by default), and
  never less than an anonymous caller gets.

An answer is given at the lower of the requested and the allowed level; a request that names
no level is answered at ``BEACON_GRANULARITY_ANONYMOUS``, the beacon's default granularity.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from federation.web.login import User

LEVELS = ("boolean", "count", "record")
ANONYMOUS_CEILING = "count"  # record-level answers are for alliance members only


def lower(*levels: str) -> str:
    """The least detailed of ``levels``."""
    return min(levels, key=LEVELS.index)


def higher(*levels: str) -> str:
    """The most detailed of ``levels``."""
    return max(levels, key=LEVELS.index)


def _level(config: Mapping[str, Any], key: str, default: str) -> str:
    value = config.get(key, default)
    return value if value in LEVELS else default


def anonymous_level(config: Mapping[str, Any]) -> str:
    """What anyone may see, also the beacon's default granularity."""
    return lower(_level(config, "BEACON_GRANULARITY_ANONYMOUS", "count"), ANONYMOUS_CEILING)


def is_member(user: User | None, roles: Collection[str]) -> bool:
    """Whether a signed-in user counts as an alliance member: holds one of ``roles`` (any
    signed-in user when ``roles`` is empty)."""
    if user is None:
        return False
    return not roles or bool(user.roles & set(roles))


def allowed_level(config: Mapping[str, Any], user: User | None) -> str:
    """The most a caller may see."""
    anonymous = anonymous_level(config)
    if is_member(user, config.get("BEACON_MEMBER_ROLES", ())):
        return higher(anonymous, _level(config, "BEACON_GRANULARITY_MEMBERS", "record"))
    return anonymous


def returned_level(requested: str | None, allowed: str, default: str) -> str:
    """The level of the answer: the requested one (else ``default``), at most ``allowed``."""
    return lower(requested or default, allowed)
