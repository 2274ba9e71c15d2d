"""The life of one part of an access request (one biobank's share), as a pure state machine.

The member node is the authority: it applies every transition, its own admins' and (relayed
by the portal) the researcher's, and numbers the resulting events; the portal mirrors them.
Both sides check with the same table here, so a refusal reads the same everywhere.

::

  submitted ──receive──► under_review ──request_info──► information_requested
                            │  ▲                                │
                            │  └────────provide_info────────────┘
                            ├──approve──► approved ──fulfil──► fulfilled
                            │                │
                            │                └──ship──► shipped ──confirm_receipt──► fulfilled
                            └──reject───► rejected
  withdraw (researcher): from submitted, under_review, information_requested, approved
  message (either side): in any state that is not final; changes nothing
  evidence (either side): on an approved part, for one of its conditions; changes nothing
  release (biobank, or the node when a hold expires): vials held go back; changes nothing

Stock-aware parts (issue 11): an approval may hold vials of named lots until a date (the
node's lot holds, federation/node/inbox/holds.py); ``ship`` records the shipment once every
condition of the approval is met (federation/node/inbox/agreements.py) and turns the holds
into a permanent decrement; the researcher's ``confirm_receipt`` (with the state of the
material on arrival) fulfils the part. ``fulfil`` stays for material that is not tracked.
Withdrawing stops at ``shipped``: the material is on its way.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    SUBMITTED = "submitted"
    UNDER_REVIEW = "under_review"
    INFORMATION_REQUESTED = "information_requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    FULFILLED = "fulfilled"
    SHIPPED = "shipped"

    @property
    def label(self) -> str:
        return STATE_LABELS[self]

    @property
    def final(self) -> bool:
        return self in FINAL


STATE_LABELS = {
    State.SUBMITTED: "Submitted",
    State.UNDER_REVIEW: "Under review",
    State.INFORMATION_REQUESTED: "Information requested",
    State.APPROVED: "Approved",
    State.REJECTED: "Rejected",
    State.WITHDRAWN: "Withdrawn",
    State.FULFILLED: "Fulfilled",
    State.SHIPPED: "Shipped",
}
FINAL = frozenset({State.REJECTED, State.WITHDRAWN, State.FULFILLED})
INITIAL = State.SUBMITTED


class Actor(StrEnum):
    RESEARCHER = "researcher"  # the request's owner, through the portal
    BIOBANK = "biobank"  # an admin of the part's biobank, at its node
    NODE = "node"  # the node itself (receipt)


@dataclass(frozen=True)
class Transition:
    event: str
    sources: frozenset[State]
    target: State | None  # None: the state stays (a message)
    actors: frozenset[Actor]
    text: str | None = None  # what the required text is called, if one is required
    label: str = ""


NOT_FINAL = frozenset(State) - FINAL

TRANSITIONS: dict[str, Transition] = {
    t.event: t
    for t in (
        Transition(
            "receive",
            frozenset({State.SUBMITTED}),
            State.UNDER_REVIEW,
            frozenset({Actor.NODE}),
            label="Received by the biobank",
        ),
        Transition(
            "request_info",
            frozenset({State.UNDER_REVIEW}),
            State.INFORMATION_REQUESTED,
            frozenset({Actor.BIOBANK}),
            text="question",
            label="Information requested",
        ),
        Transition(
            "provide_info",
            frozenset({State.INFORMATION_REQUESTED}),
            State.UNDER_REVIEW,
            frozenset({Actor.RESEARCHER}),
            text="answer",
            label="Information provided",
        ),
        Transition(
            "approve",
            frozenset({State.UNDER_REVIEW, State.INFORMATION_REQUESTED}),
            State.APPROVED,
            frozenset({Actor.BIOBANK}),
            label="Approved",
        ),
        Transition(
            "reject",
            frozenset({State.UNDER_REVIEW, State.INFORMATION_REQUESTED}),
            State.REJECTED,
            frozenset({Actor.BIOBANK}),
            text="reason",
            label="Rejected",
        ),
        Transition(
            "withdraw",
            frozenset(
                {
                    State.SUBMITTED,
                    State.UNDER_REVIEW,
                    State.INFORMATION_REQUESTED,
                    State.APPROVED,
                }
            ),
            State.WITHDRAWN,
            frozenset({Actor.RESEARCHER}),
            label="Withdrawn",
        ),
        Transition(
            "fulfil",
            frozenset({State.APPROVED}),
            State.FULFILLED,
            frozenset({Actor.BIOBANK}),
            label="Fulfilled (material sent)",
        ),
        Transition(
            "ship",
            frozenset({State.APPROVED}),
            State.SHIPPED,
            frozenset({Actor.BIOBANK}),
            text="shipment summary",
            label="Shipped",
        ),
        Transition(
            "confirm_receipt",
            frozenset({State.SHIPPED}),
            State.FULFILLED,
            frozenset({Actor.RESEARCHER}),
            text="receipt",
            label="Receipt confirmed (fulfilled)",
        ),
        Transition(
            "release",
            frozenset({State.APPROVED}),
            None,
            frozenset({Actor.BIOBANK, Actor.NODE}),
            text="note",
            label="Hold released",
        ),
        Transition(
            "evidence",
            frozenset({State.APPROVED}),
            None,
            frozenset({Actor.RESEARCHER, Actor.BIOBANK}),
            text="evidence",
            label="Condition evidence",
        ),
        Transition(
            "message",
            NOT_FINAL,
            None,
            frozenset({Actor.RESEARCHER, Actor.BIOBANK}),
            text="message",
            label="Message",
        ),
    )
}

# What an approval can be made conditional on (free text may add more).
CONDITIONS = {
    "mta": "A material transfer agreement (MTA) must be signed",
    "fee": "A cost-recovery fee is charged",
    "acknowledgement": "The biobank must be acknowledged in publications",
    "ethics_copy": "A copy of the ethics approval must be sent before shipping",
}

MAX_TEXT = 5000


class TransitionRefused(ValueError):
    """A transition the machine does not allow; the message says why, in plain words."""


def check(
    state: State | str,
    event: str,
    actor: Actor | str,
    text: str | None = None,
    conditions: tuple[str, ...] | list[str] = (),
) -> State:
    """The state after ``event``, or :class:`TransitionRefused`. Changes nothing itself."""
    transition = TRANSITIONS.get(event)
    if transition is None:
        raise TransitionRefused(f"unknown action {event!r}; known: {', '.join(TRANSITIONS)}")
    try:
        state = State(state)
        actor = Actor(actor)
    except ValueError as exc:
        raise TransitionRefused(str(exc)) from None
    if actor not in transition.actors:
        who = " or ".join(sorted(a.value for a in transition.actors))
        raise TransitionRefused(f"only the {who} can {event.replace('_', ' ')}")
    if state not in transition.sources:
        raise TransitionRefused(
            f"cannot {event.replace('_', ' ')} a part that is {state.label.lower()}"
        )
    cleaned = (text or "").strip()
    if transition.text and not cleaned:
        raise TransitionRefused(f"a {transition.text} is required to {event.replace('_', ' ')}")
    if len(cleaned) > MAX_TEXT:
        raise TransitionRefused(f"the text is too long ({len(cleaned)} > {MAX_TEXT} characters)")
    unknown = set(conditions) - set(CONDITIONS)
    if unknown:
        raise TransitionRefused(f"unknown conditions: {', '.join(sorted(unknown))}")
    if conditions and event != "approve":
        raise TransitionRefused("conditions belong to an approval")
    return transition.target or state


def allowed(state: State | str, actor: Actor | str) -> list[str]:
    """The events ``actor`` may send in ``state`` (what the pages offer as buttons)."""
    state, actor = State(state), Actor(actor)
    return [e for e, t in TRANSITIONS.items() if state in t.sources and actor in t.actors]
