"""The portal's half of "requests that never stall" (schemas/clocks.py has the rules).

The portal sees every part's mirrored history, including parts whose node is down or never
took them, so it takes the steps a node cannot take for itself (:data:`PORTAL_STEPS`): it
e-mails the alliance's operators (``ALLIANCE_OPERATOR_EMAILS``) and, later, marks the part
unresponsive (a flag in ``access_part_clocks`` and an event in the part's history; the
lifecycle state stays the node's). The researcher is told, and may withdraw the part (the
usual action) or keep waiting (recorded here; the node has nothing to decide about it).
The node reminds its own admins and its contact (federation/node/inbox/escalation.py).

:func:`escalation_pass` is one pass at a given time (the worker's ``escalation`` job passes
now; ``cellfed portal escalate --now`` any time, so tests can move the clock).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from federation.database import new_id, utcnow
from federation.mail import email_payload
from federation.web.login import User
from portal.access.clock_models import PartClock
from portal.access.membership import owned_part
from portal.access.models import AccessRequest, PartEvent, RequestPart
from schemas.clocks import (
    FINAL_STATES,
    PORTAL_STEPS,
    ClockRules,
    Happening,
    Step,
    Waiting,
    elapsed,
    load_rules,
    settled,
    waiting_on,
)

PORTAL_ACTOR = "portal"  # the actor of the events the portal itself records
CLOCK_EVENT_LABELS = {
    "unresponsive": "Marked unresponsive (no answer past the biobank's targets)",
    "keep_waiting": "Chose to keep waiting",
}
WAITING_LABELS = {
    "biobank": "the admins of {biobank}",
    "researcher": "you (the biobank asked for information)",
    "carrier": "the carrier",
    "nobody": "nobody: this part is closed",
}
CLOCK_LABELS = {"first_answer": "a first answer", "decision": "a decision"}


class KeepWaitingRefused(ValueError):
    """Keep waiting asked for a part that is not marked unresponsive (or already kept)."""


def history_of(part: RequestPart) -> list[Happening]:
    """The part's confirmed history as the clocks read it."""
    return [
        Happening(e.type, e.actor, e.at, e.state)
        for e in part.events
        if e.status == "confirmed" and e.type not in CLOCK_EVENT_LABELS
    ]


@dataclass(frozen=True)
class WaitingView:
    """What the researcher sees of a part's clock."""

    waiting: Waiting
    label: str
    target: int | None  # working days of the running clock's target
    used: int | None  # working days it has waited on the biobank so far
    unresponsive_at: dt.datetime | None
    kept_waiting_at: dt.datetime | None

    def as_json(self) -> dict[str, Any]:
        def iso(at: dt.datetime | None) -> str | None:
            return at.isoformat() if at else None

        return {
            "waiting_on": self.waiting.on,
            "waiting_on_label": self.label,
            "since": iso(self.waiting.since),
            "clock": self.waiting.clock,
            "target_working_days": self.target,
            "working_days_waited": self.used,
            "unresponsive_at": iso(self.unresponsive_at),
            "kept_waiting_at": iso(self.kept_waiting_at),
        }


def waiting_view(
    part: RequestPart, clock: PartClock | None, rules: ClockRules, now: dt.datetime
) -> WaitingView:
    history = history_of(part)
    waiting = waiting_on(history, part.state)
    targets = rules.targets(part.node_id, part.biobank_id)
    target = targets.of(waiting.clock) if waiting.clock else None
    used = elapsed(history, targets.calendar, now) if waiting.clock else None
    label = WAITING_LABELS.get(waiting.on, waiting.on).format(biobank=part.biobank_name)
    return WaitingView(
        waiting,
        label,
        target,
        used,
        clock.unresponsive_at if clock else None,
        clock.kept_waiting_at if clock else None,
    )


class Escalation:
    """The portal's clocks over its database: the pass, keep waiting, and what pages show."""

    def __init__(self, access: Any, config: Mapping[str, Any]) -> None:
        self.access = access  # portal.access.context.AccessContext
        self.rules_file = config.get("RESPONSE_TARGETS_FILE")
        self.operators = list(config.get("ALLIANCE_OPERATOR_EMAILS") or [])

    def rules(self) -> ClockRules:
        return load_rules(self.rules_file)

    # -- the pass ----------------------------------------------------------------------
    def run(self, now: dt.datetime | None = None) -> list[tuple[str, str]]:
        """One pass at ``now``: take every portal step due. Returns (part id, step key) of
        each step taken."""
        now, rules = now or utcnow(), self.rules()
        taken: list[tuple[str, str]] = []
        with self.access.sessions.begin() as session:
            parts = session.execute(
                select(RequestPart)
                .options(selectinload(RequestPart.events))
                .where(RequestPart.state.not_in(sorted(FINAL_STATES)))
            ).scalars()
            for part in parts:
                taken.extend(self._one(session, part, rules, now))
        if taken:
            self.access.outbox.wake()
        return taken

    def _one(
        self, session: Session, part: RequestPart, rules: ClockRules, now: dt.datetime
    ) -> list[tuple[str, str]]:
        clock = session.get(PartClock, part.id)
        steps = rules.due_steps(
            history_of(part),
            part.state,
            (part.node_id, part.biobank_id),
            now,
            sent=clock.sent if clock else (),
            kinds=PORTAL_STEPS,
        )
        if not steps:
            return []
        if clock is None:
            clock = PartClock(part_id=part.id, sent=[])
            session.add(clock)
        request = session.get(AccessRequest, part.request_id)
        for step in steps:
            if step.kind == "operators":
                self._tell_operators(session, part, request, step)
            elif step.kind == "unresponsive":
                self._mark_unresponsive(session, part, request, clock, now)
        clock.sent = settled(clock.sent, steps)
        return [(part.id, s.key) for s in steps]

    def _tell_operators(
        self, session: Session, part: RequestPart, request: AccessRequest | None, step: Step
    ) -> None:
        title = request.project["title"] if request else part.request_id
        what = CLOCK_LABELS.get(step.clock, step.clock)
        subject = f"No answer from {part.biobank_name}: {title}"
        body = (
            f"{part.biobank_name} (node {part.node_id}) is {step.overdue} working day(s) past "
            f"its target for {what} on the request “{title}” (part {part.id}). Its admins "
            "were reminded and its node's contact told; please help them answer.\n\n"
            f"{self.access.service.portal_url}/figures"
        )
        if "email" in self.access.outbox.senders:
            for address in self.operators:
                self.access.outbox.enqueue(
                    session, "email", address, email_payload(address, subject, body)
                )

    def _mark_unresponsive(
        self,
        session: Session,
        part: RequestPart,
        request: AccessRequest | None,
        clock: PartClock,
        now: dt.datetime,
    ) -> None:
        clock.unresponsive_at = now
        session.add(
            PartEvent(
                id=new_id(),
                part_id=part.id,
                type="unresponsive",
                actor=PORTAL_ACTOR,
                actor_name="CellFed portal",
                at=now,
                recorded_at=now,
                state=part.state,
                status="confirmed",
            )
        )
        if request is None:
            return
        text = (
            f"{part.biobank_name} has not answered your request “{request.project['title']}” "
            "past its response targets, and the alliance's operators were told. You may "
            "withdraw this part, or keep waiting."
        )
        self.access.service._notify(  # the service's one way to notify (in-app and e-mail)
            session, request.owner_iss, request.owner_sub, request.owner_email, text, request.id
        )

    # -- the researcher ----------------------------------------------------------------
    def keep_waiting(self, user: User, request_id: str, part_id: str) -> None:
        """Record that the researcher keeps waiting on an unresponsive part (their own; a
        co-applicant gets OwnerOnly, membership.py)."""
        from portal.access.service import RequestNotFound

        with self.access.sessions.begin() as session:
            part = owned_part(session, user, request_id, part_id, "choose to keep waiting")
            if part is None:
                raise RequestNotFound(f"you have no request part {part_id}")
            clock = session.get(PartClock, part_id)
            if clock is None or clock.unresponsive_at is None:
                raise KeepWaitingRefused("this part is not marked unresponsive")
            if clock.kept_waiting_at is not None:
                raise KeepWaitingRefused("you already chose to keep waiting on this part")
            if part.state in FINAL_STATES:
                raise KeepWaitingRefused("this part is closed")
            now = utcnow()
            clock.kept_waiting_at, clock.kept_waiting_by = now, user.name
            session.add(
                PartEvent(
                    id=new_id(),
                    part_id=part_id,
                    type="keep_waiting",
                    actor="researcher",
                    actor_name=user.name,
                    actor_sub=user.sub,
                    at=now,
                    recorded_at=now,
                    state=part.state,
                    status="confirmed",
                )
            )

    # -- reading -----------------------------------------------------------------------
    def clocks(self, part_ids: Iterable[str]) -> dict[str, PartClock]:
        ids = list(part_ids)
        if not ids:
            return {}
        with self.access.sessions() as session:
            rows = session.execute(select(PartClock).where(PartClock.part_id.in_(ids))).scalars()
            return {row.part_id: row for row in rows}

    def views(
        self, parts: Iterable[RequestPart], now: dt.datetime | None = None
    ) -> dict[str, WaitingView]:
        parts = list(parts)
        now, rules, clocks = now or utcnow(), self.rules(), self.clocks(p.id for p in parts)
        return {p.id: waiting_view(p, clocks.get(p.id), rules, now) for p in parts}


ESCALATION_KEY = "cellfed.escalation"
"""The app extension that holds the portal's Escalation."""


def escalation_of(app: Any) -> Escalation:
    from portal.access.context import access_of

    found = app.extensions.get(ESCALATION_KEY)
    if found is None:
        found = app.extensions[ESCALATION_KEY] = Escalation(access_of(app), app.config)
    return found
