"""What the portal sends a node, applied one way whether it came over HTTP or the mailbox.

The node's access API (api.py, co_applicants.py) and its mailbox client (push mode,
federation/node/mailbox_client.py) both call :func:`apply_message`, so a part, an action or a
co-applicant list has one meaning however it arrives, and a repeat is harmless either way: a
part by its content hash, an action by its event id, a co-applicant list by replacing it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from marshmallow import ValidationError

from federation.node.inbox.co_applicants_store import CoApplicantsNotFound, replace_co_applicants
from federation.node.inbox.service import Inbox, PartConflict, PartNotAccepted, PartNotFound
from schemas.access import ActionSchema, PartSchema
from schemas.co_applicants import CoApplicantsSchema
from schemas.errors import format_errors
from schemas.lifecycle import TransitionRefused

KINDS = ("deliver_part", "action", "co_applicants")  # the portal outbox's kinds for a node


@dataclass
class Outcome:
    """An HTTP status and its JSON body; 200/201 applied, anything else refused for good."""

    status: int
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def applied(self) -> bool:
        return self.status in (200, 201)

    @property
    def events(self) -> list[dict[str, Any]]:
        """The node's events this made (the portal mirrors them)."""
        if "events" in self.body:
            return list(self.body["events"])
        return [self.body["event"]] if "event" in self.body else []


def _problem(status: int, error: str, detail: str) -> Outcome:
    return Outcome(status, {"error": error, "detail": detail})


def _part(inbox: Inbox, part_id: str, body: dict[str, Any]) -> Outcome:
    data = PartSchema().load(body)
    if data["id"] != part_id:
        return _problem(
            400, "bad_request", f"the body's id {data['id']!r} is not the URL's {part_id!r}"
        )
    try:
        part, events, created = inbox.receive(data)
    except PartNotAccepted as exc:
        return _problem(422, "part_not_accepted", str(exc))
    except PartConflict as exc:
        return _problem(409, "conflict", str(exc))
    return Outcome(201 if created else 200, {"part": part, "events": events})


def _action(inbox: Inbox, part_id: str, body: dict[str, Any]) -> Outcome:
    data = ActionSchema().load(body)
    try:
        event, created = inbox.relay(part_id, data)
    except PartNotFound as exc:
        return _problem(404, "not_found", str(exc))
    except PartConflict as exc:
        return _problem(409, "conflict", str(exc))
    except TransitionRefused as exc:
        return _problem(409, "transition_refused", str(exc))
    return Outcome(201 if created else 200, {"event": event})


def _co_applicants(inbox: Inbox, part_id: str, body: dict[str, Any]) -> Outcome:
    data = CoApplicantsSchema().load(body)
    if data["part_id"] != part_id:
        detail = f"the body's part_id {data['part_id']!r} is not the URL's {part_id!r}"
        return _problem(400, "bad_request", detail)
    try:
        with inbox.sessions.begin() as session:
            count = replace_co_applicants(session, data)
    except CoApplicantsNotFound as exc:
        return _problem(404, "not_found", str(exc))
    return Outcome(200, {"part_id": part_id, "co_applicants": count})


APPLY = {"deliver_part": _part, "action": _action, "co_applicants": _co_applicants}


def apply_message(inbox: Inbox, kind: str, part_id: str, body: Any) -> Outcome:
    """Apply one message of the portal's (``kind`` one of KINDS) for the part ``part_id``."""
    if kind not in APPLY:
        return _problem(400, "bad_request", f"unknown message kind {kind!r}")
    if not isinstance(body, dict):
        return _problem(400, "bad_request", "send a JSON object (Content-Type: application/json)")
    try:
        return APPLY[kind](inbox, part_id, body)
    except ValidationError as exc:
        return _problem(400, "bad_request", "; ".join(format_errors(exc.messages)))
