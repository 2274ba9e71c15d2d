"""Alliance figures, pure: over a period, per biobank and alliance-wide, from the parts'
histories as the portal mirrors them.

A part counts in the period its request was submitted in. Per row:

* ``requests_received``: requests (alliance-wide: distinct requests; per biobank: its parts);
* ``median_days_first_answer``, ``median_days_decision``, ``median_days_fulfilment``:
  calendar days from the submission to the biobank's first answer (a question, a decision,
  a message), to its decision (approve or reject), to the material sent, over the parts that
  got there (None when none did);
* ``approval_rate``: approved over decided (None when nothing was decided);
* ``unanswered``: parts still open with no answer from the biobank;
* ``unresponsive``: parts the portal marked unresponsive (schemas/clocks.py).
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from schemas.clocks import DECISIONS, FINAL_STATES, Happening, answered, ordered

ALLIANCE = ("", "")  # the row key of the alliance-wide row


@dataclass(frozen=True)
class Period:
    """From ``start`` to ``end``, both days included (UTC dates)."""

    start: dt.date
    end: dt.date

    def holds(self, at: dt.datetime) -> bool:
        day = (at if at.tzinfo else at.replace(tzinfo=dt.UTC)).astimezone(dt.UTC).date()
        return self.start <= day <= self.end


@dataclass(frozen=True)
class PartFacts:
    request_id: str
    node_id: str
    biobank_id: str
    biobank_name: str
    state: str
    submitted_at: dt.datetime
    history: tuple[Happening, ...]
    unresponsive: bool = False


@dataclass(frozen=True)
class Figures:
    node_id: str  # "" on the alliance-wide row
    biobank_id: str
    biobank_name: str
    requests_received: int
    parts: int
    median_days_first_answer: float | None
    median_days_decision: float | None
    approval_rate: float | None
    decided: int
    unanswered: int
    unresponsive: int
    median_days_fulfilment: float | None
    fulfilled: int

    @property
    def alliance(self) -> bool:
        return not self.node_id


COLUMNS = (
    "node_id",
    "biobank_id",
    "biobank_name",
    "requests_received",
    "parts",
    "median_days_first_answer",
    "median_days_decision",
    "approval_rate",
    "decided",
    "unanswered",
    "unresponsive",
    "median_days_fulfilment",
    "fulfilled",
)


def _days(start: dt.datetime, end: dt.datetime) -> float:
    aware = [(t if t.tzinfo else t.replace(tzinfo=dt.UTC)) for t in (start, end)]
    return max((aware[1] - aware[0]).total_seconds(), 0.0) / 86400


def _median(values: Sequence[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def _first(history: Sequence[Happening], types: Iterable[str]) -> Happening | None:
    wanted = set(types)
    return next((h for h in history if h.actor == "biobank" and h.type in wanted), None)


def figures_of(node_id: str, biobank_id: str, name: str, parts: Sequence[PartFacts]) -> Figures:
    """One row over ``parts`` (all of one biobank, or the alliance's)."""
    first, decision, fulfilment = [], [], []
    approved = decided = unanswered = 0
    for part in parts:
        history = ordered(part.history)
        answer = answered(history)
        if answer is not None:
            first.append(_days(part.submitted_at, answer.at))
        elif part.state not in FINAL_STATES:
            unanswered += 1
        decided_by = _first(history, DECISIONS)
        if decided_by is not None:
            decided += 1
            approved += decided_by.type == "approve"
            decision.append(_days(part.submitted_at, decided_by.at))
        sent = _first(history, {"fulfil"})
        if sent is not None:
            fulfilment.append(_days(part.submitted_at, sent.at))
    requests = len({p.request_id for p in parts}) if not node_id else len(parts)
    return Figures(
        node_id,
        biobank_id,
        name,
        requests,
        len(parts),
        _median(first),
        _median(decision),
        round(approved / decided, 3) if decided else None,
        decided,
        unanswered,
        sum(1 for p in parts if p.unresponsive),
        _median(fulfilment),
        len(fulfilment),
    )


def alliance_figures(parts: Iterable[PartFacts], period: Period) -> list[Figures]:
    """Per biobank (by name), then the alliance-wide row, over the parts of ``period``."""
    inside = [p for p in parts if period.holds(p.submitted_at)]
    groups: dict[tuple[str, str], list[PartFacts]] = {}
    for part in inside:
        groups.setdefault((part.node_id, part.biobank_id), []).append(part)
    rows = [
        figures_of(node, bank, members[0].biobank_name, members)
        for (node, bank), members in groups.items()
    ]
    rows.sort(key=lambda r: (r.biobank_name.casefold(), r.node_id, r.biobank_id))
    return [*rows, figures_of(*ALLIANCE, "All biobanks", inside)]
