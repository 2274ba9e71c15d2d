"""The node's half of "requests that never stall" (schemas/clocks.py has the rules): for its
own parts past their biobank's targets, reminders to the biobank's admins (e-mail to
``NODE_ADMINS_EMAIL``, else the contact, and the part back on top of the inbox), repeated,
then the node's contact (``NODE_CONTACT_EMAIL``). Each step is recorded with the part
(``access_part_clocks``) in the same transaction as its e-mail, so it is sent once. The
alliance's operators and the unresponsive mark are the portal's (portal/access/escalation.py):
a node that is down could not take them.

:func:`node_escalation_pass` is one pass at a given time (the node worker's ``escalation``
job passes now; ``cellfed node escalate --now`` any time).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from federation.database import utcnow
from federation.mail import email_payload
from federation.node.inbox.clock_models import InboxClock
from federation.node.inbox.models import InboxPart
from federation.node.inbox.service import Inbox, inbox_of
from schemas.clocks import (
    FINAL_STATES,
    NODE_STEPS,
    ClockRules,
    Happening,
    Step,
    load_rules,
    settled,
)

CLOCK_WORDS = {"first_answer": "a first answer", "decision": "a decision"}


def node_history(part: InboxPart) -> list[Happening]:
    """The part's events, after its submission (the portal's time, as delivered)."""
    submitted = dt.datetime.fromisoformat(part.payload["submitted_at"])
    return [
        Happening("submit", "researcher", submitted, "submitted"),
        *(Happening(e.type, e.actor, e.at, e.state) for e in part.events),
    ]


def _message(inbox: Inbox, part: InboxPart, step: Step) -> tuple[str, str]:
    title = part.payload["project"]["title"]
    bank = part.payload["biobank_name"]
    what = CLOCK_WORDS.get(step.clock, step.clock)
    if step.kind == "remind":
        subject = f"Reminder {step.number}: {bank} owes {what} on “{title}”"
    else:
        subject = f"{bank} has not answered “{title}”: please see to it"
    body = (
        f"The request “{title}” to {bank} is {step.overdue} working day(s) past its target "
        f"for {what}. Its researcher is waiting."
        + (
            " The alliance's operators will be told if it stays unanswered."
            if step.kind == "contact"
            else ""
        )
        + f"\n\n{inbox._link(part.id)}".rstrip()
    )
    return subject, body


def _take(inbox: Inbox, session: Session, part: InboxPart, step: Step, config: Any) -> None:
    contact = config.get("NODE_CONTACT_EMAIL")
    address = (config.get("NODE_ADMINS_EMAIL") or contact) if step.kind == "remind" else contact
    if step.kind == "remind":
        part.needs_attention = True  # back on top of the admins' inbox
    if address and "email" in inbox.outbox.senders:
        subject, body = _message(inbox, part, step)
        inbox.outbox.enqueue(session, "email", address, email_payload(address, subject, body))


def node_escalation_pass(app: Any, now: dt.datetime | None = None) -> list[tuple[str, str]]:
    """One pass at ``now``: every node step due. Returns (part id, step key) of each taken."""
    inbox, config = inbox_of(app), app.config
    now = now or utcnow()
    rules: ClockRules = load_rules(config.get("RESPONSE_TARGETS_FILE"))
    taken: list[tuple[str, str]] = []
    with inbox.sessions.begin() as session:
        parts = session.execute(
            select(InboxPart)
            .options(selectinload(InboxPart.events))
            .where(InboxPart.state.not_in(sorted(FINAL_STATES)))
        ).scalars()
        for part in parts:
            clock = session.get(InboxClock, part.id)
            steps = rules.due_steps(
                node_history(part),
                part.state,
                (inbox.node_id, part.biobank_id),
                now,
                sent=clock.sent if clock else (),
                kinds=NODE_STEPS,
            )
            if not steps:
                continue
            if clock is None:
                clock = InboxClock(part_id=part.id, sent=[])
                session.add(clock)
            for step in steps:
                _take(inbox, session, part, step, config)
                taken.append((part.id, step.key))
            clock.sent = settled(clock.sent, steps)
    if taken:
        inbox.outbox.wake()
    return taken
