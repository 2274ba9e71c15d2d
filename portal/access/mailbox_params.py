"""Reading the mailbox API's input (mailbox_api.py): pure functions, each error naming the
parameter or the place in the body that is wrong."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import ValidationError

from portal.access.mailbox import Ack
from schemas.access import EventSchema
from schemas.errors import format_errors

MAX_ACKS = 500  # ids one acknowledgement may carry


class AckInvalid(ValueError):
    """The acknowledgement's body is wrong; the message says where."""


def parse_poll(args: Mapping[str, str], max_wait: float) -> tuple[int, float]:
    """(after, wait) from the query string; ``wait`` is capped at ``max_wait`` seconds so a
    poll never holds a portal worker for long."""
    raw_after, raw_wait = args.get("after", "0"), args.get("wait", "0")
    try:
        after = int(raw_after)
    except ValueError:
        raise ValueError(
            f"query parameter 'after' must be a message id (got {raw_after!r})"
        ) from None
    if after < 0:
        raise ValueError(f"query parameter 'after' must be 0 or more (got {after})")
    try:
        wait = float(raw_wait)
    except ValueError:
        raise ValueError(f"query parameter 'wait' must be seconds (got {raw_wait!r})") from None
    if not wait >= 0:  # also refuses NaN
        raise ValueError(f"query parameter 'wait' must be 0 or more seconds (got {raw_wait!r})")
    return after, min(wait, max_wait)


def _ack(item: Any, where: str) -> Ack:
    if not isinstance(item, dict):
        raise AckInvalid(f"{where}: expected an object with an 'id'")
    unknown = set(item) - {"id", "events", "refused"}
    if unknown:
        raise AckInvalid(f"{where}: unknown keys {', '.join(sorted(unknown))}")
    message_id, events, refused = item.get("id"), item.get("events", []), item.get("refused")
    if type(message_id) is not int or message_id < 1:
        raise AckInvalid(f"{where}.id: expected a message id (got {message_id!r})")
    if refused is not None and (not isinstance(refused, str) or not refused.strip()):
        raise AckInvalid(f"{where}.refused: expected the reason as text")
    if not isinstance(events, list):
        raise AckInvalid(f"{where}.events: expected a list of events")
    loaded = []
    for j, event in enumerate(events):
        try:
            loaded.append(EventSchema().load(event))
        except ValidationError as exc:
            problems = "; ".join(format_errors(exc.messages))
            raise AckInvalid(f"{where}.events[{j}]: {problems}") from None
    return Ack(message_id, tuple(loaded), refused.strip()[:2000] if refused else None)


def parse_acks(body: Any) -> list[Ack]:
    """The acknowledgements of ``{"acks": [{"id", "events"?, "refused"?}, ...]}``."""
    if not isinstance(body, dict) or not isinstance(body.get("acks"), list):
        raise AckInvalid('send a JSON object {"acks": [...]} (Content-Type: application/json)')
    items = body["acks"]
    if not items or len(items) > MAX_ACKS:
        raise AckInvalid(f"acks: expected 1 to {MAX_ACKS} acknowledgements (got {len(items)})")
    return [_ack(item, f"acks[{i}]") for i, item in enumerate(items)]
