"""Response clocks of a request's part, pure: working days, targets, whom a part waits on, and
the escalation ladder that makes sure no part stalls.

Each biobank declares **targets** in working days (Monday to Friday, less the holidays it
lists): ``first_answer`` (any answer of its admins: a question, a decision, a message) and
``decision`` (approve or reject), both counted from the submission; days the part waits on the
researcher (after a question, until the answer) do not count. Once a clock is past its target
the **ladder** climbs, in working days past the target::

    reminder 1 to the biobank's admins          at 0
    reminder k                                   at (k - 1) * remind_every, k <= reminders
    the node's contact                           at contact_after
    the alliance's operators                     at operators_after
    the part is marked unresponsive             at unresponsive_after

:func:`due` says which steps are due and not yet sent; the caller records each step's
``covers`` keys with what it did, so a repeat pass sends nothing twice, and a worker that was
down for a week sends the latest reminder once rather than every reminder it missed. The node
runs the steps it can (:data:`NODE_STEPS`: its admins, its contact); the portal runs the rest
(:data:`PORTAL_STEPS`), because a node that is down cannot escalate itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

WEEKEND = frozenset({5, 6})  # Saturday, Sunday

# Whom a part in each state waits on. A state not listed waits on the biobank; a final one on
# nobody. (A shipment state would add "carrier" here.)
WAITS_ON: dict[str, str] = {
    "submitted": "biobank",
    "under_review": "biobank",
    "information_requested": "researcher",
    "approved": "biobank",
}
FINAL_STATES = frozenset({"rejected", "withdrawn", "fulfilled"})
ANSWERS = frozenset({"request_info", "approve", "reject", "message", "fulfil"})
DECISIONS = frozenset({"approve", "reject"})
CLOCKED_STATES = frozenset({"submitted", "under_review"})  # a target runs only here

NODE_STEPS = frozenset({"remind", "contact"})
PORTAL_STEPS = frozenset({"operators", "unresponsive"})


class ClockRulesInvalid(ValueError):
    """Response targets or a ladder that cannot be used; the message names where."""


@dataclass(frozen=True)
class Calendar:
    """Working days: Monday to Friday, less ``holidays``."""

    holidays: frozenset[dt.date] = frozenset()

    def working(self, day: dt.date) -> bool:
        return day.weekday() not in WEEKEND and day not in self.holidays

    def between(self, start: dt.datetime, end: dt.datetime) -> int:
        """Working days after ``start``'s date up to and including ``end``'s (0 if end is not
        later): a part sent on Friday evening is one working day old on Monday."""
        first, last = start.date(), end.date()
        if last <= first:
            return 0
        days = (last - first).days
        weeks, rest = divmod(days, 7)
        count = weeks * 5
        for i in range(1, rest + 1):
            if (first + dt.timedelta(days=i)).weekday() not in WEEKEND:
                count += 1
        count -= sum(1 for h in self.holidays if first < h <= last and h.weekday() not in WEEKEND)
        return count


@dataclass(frozen=True)
class Targets:
    first_answer: int = 5
    decision: int = 20
    calendar: Calendar = Calendar()

    def of(self, clock: str) -> int:
        return self.first_answer if clock == "first_answer" else self.decision


@dataclass(frozen=True)
class Ladder:
    remind_every: int = 2
    reminders: int = 3
    contact_after: int = 5
    operators_after: int = 10
    unresponsive_after: int = 15


@dataclass(frozen=True)
class Happening:
    """One event of a part's history, as either side keeps it."""

    type: str
    actor: str
    at: dt.datetime
    state: str | None = None


@dataclass(frozen=True)
class Waiting:
    """Whom a part waits on (``biobank``, ``researcher``, ``nobody``...), since when, and which
    target clock runs (None: none)."""

    on: str
    since: dt.datetime | None
    clock: str | None = None


@dataclass(frozen=True)
class Step:
    key: str  # what is recorded once it is done: "first_answer:remind:2"
    kind: str  # remind, contact, operators, unresponsive
    clock: str
    overdue: int  # working days past the target
    covers: tuple[str, ...] = field(default=())  # every key this step settles

    @property
    def number(self) -> int:
        return int(self.key.rsplit(":", 1)[1]) if self.kind == "remind" else 0


def _aware(at: dt.datetime) -> dt.datetime:
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


def ordered(history: Iterable[Happening]) -> list[Happening]:
    return sorted((replace(h, at=_aware(h.at)) for h in history), key=lambda h: h.at)


def answered(history: Sequence[Happening]) -> Happening | None:
    """The biobank's first answer, or None."""
    return next((h for h in history if h.actor == "biobank" and h.type in ANSWERS), None)


def waiting_on(history: Iterable[Happening], state: str) -> Waiting:
    """Whom the part waits on and since when: since the event that brought it into its state
    (for a part that is still submitted, its submission)."""
    events = ordered(history)
    since = None
    for event in events:
        if event.state == state:
            since = since or event.at
        elif event.state is not None and event.state != state:
            since = None
    if since is None and events:
        since = events[-1].at
    if state in FINAL_STATES:
        return Waiting("nobody", since)
    on = WAITS_ON.get(state, "biobank")
    clock = None
    if state in CLOCKED_STATES:
        clock = "decision" if answered(events) else "first_answer"
    return Waiting(on, since, clock)


def elapsed(history: Iterable[Happening], calendar: Calendar, now: dt.datetime) -> int:
    """Working days since the submission that the part waited on the biobank (the days it
    waited on the researcher's answer do not count)."""
    events = ordered(history)
    if not events:
        return 0
    days = calendar.between(events[0].at, _aware(now))
    asked: dt.datetime | None = None
    for event in events:
        if event.type == "request_info":
            asked = event.at
        elif event.type == "provide_info" and asked is not None:
            days -= calendar.between(asked, event.at)
            asked = None
    if asked is not None:
        days -= calendar.between(asked, _aware(now))
    return max(days, 0)


def ladder_steps(clock: str, overdue: int, ladder: Ladder) -> list[Step]:
    """Every step of ``clock``'s ladder that is due ``overdue`` working days past its target."""
    if overdue < 0:
        return []
    steps = [
        Step(f"{clock}:remind:{k}", "remind", clock, overdue)
        for k in range(1, ladder.reminders + 1)
        if overdue >= (k - 1) * ladder.remind_every
    ]
    for kind, after in (
        ("contact", ladder.contact_after),
        ("operators", ladder.operators_after),
        ("unresponsive", ladder.unresponsive_after),
    ):
        if overdue >= after:
            steps.append(Step(f"{clock}:{kind}", kind, clock, overdue))
    return steps


def due(
    history: Iterable[Happening],
    state: str,
    targets: Targets,
    ladder: Ladder,
    now: dt.datetime,
    sent: Iterable[str] = (),
    kinds: Iterable[str] = NODE_STEPS | PORTAL_STEPS,
) -> list[Step]:
    """The steps of ``kinds`` due now and not in ``sent``. Of the reminders due, only the
    latest is returned; it covers the earlier ones missed."""
    events = ordered(history)
    waiting = waiting_on(events, state)
    if waiting.on != "biobank" or waiting.clock is None:
        return []
    overdue = elapsed(events, targets.calendar, now) - targets.of(waiting.clock)
    done, wanted = set(sent), set(kinds)
    steps = [s for s in ladder_steps(waiting.clock, overdue, ladder) if s.kind in wanted]
    reminders = [s for s in steps if s.kind == "remind" and s.key not in done]
    others = [
        replace(s, covers=(s.key,)) for s in steps if s.kind != "remind" and s.key not in done
    ]
    if not reminders:
        return others
    latest = reminders[-1]
    return [replace(latest, covers=tuple(s.key for s in reminders)), *others]


# -- the rules as data ---------------------------------------------------------------------
TARGET_KEYS = {"first_answer", "decision", "holidays"}
LADDER_KEYS = set(Ladder.__dataclass_fields__)


def _days(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 365:
        raise ClockRulesInvalid(f"{where} must be a whole number of working days (0-365)")
    return value


def _holidays(value: Any, where: str) -> frozenset[dt.date]:
    if not isinstance(value, list):
        raise ClockRulesInvalid(f"{where} must be a list of dates (YYYY-MM-DD)")
    days = set()
    for i, raw in enumerate(value):
        if isinstance(raw, dt.date):
            days.add(raw)
            continue
        try:
            days.add(dt.date.fromisoformat(str(raw)))
        except ValueError:
            raise ClockRulesInvalid(f"{where}[{i}]: {raw!r} is not a date (YYYY-MM-DD)") from None
    return frozenset(days)


def _targets(entry: Any, base: Targets, where: str) -> Targets:
    if not isinstance(entry, Mapping):
        raise ClockRulesInvalid(f"{where} must be a table")
    unknown = set(entry) - TARGET_KEYS
    if unknown:
        raise ClockRulesInvalid(f"{where}: unknown key {sorted(unknown)[0]!r}")
    holidays = base.calendar.holidays
    if "holidays" in entry:
        holidays = holidays | _holidays(entry["holidays"], f"{where}.holidays")
    return Targets(
        _days(entry.get("first_answer", base.first_answer), f"{where}.first_answer"),
        _days(entry.get("decision", base.decision), f"{where}.decision"),
        Calendar(holidays),
    )


@dataclass(frozen=True)
class ClockRules:
    """Targets by biobank (``<node>:<biobank>``), by node, else the default; and the ladder."""

    default: Targets = Targets()
    nodes: Mapping[str, Targets] = field(default_factory=dict)
    biobanks: Mapping[str, Targets] = field(default_factory=dict)
    ladder: Ladder = Ladder()

    def targets(self, node_id: str, biobank_id: str) -> Targets:
        return self.biobanks.get(f"{node_id}:{biobank_id}", self.nodes.get(node_id, self.default))

    def due_steps(
        self,
        history: Iterable[Happening],
        state: str,
        part_of: tuple[str, str],
        now: dt.datetime,
        sent: Iterable[str],
        kinds: Iterable[str],
    ) -> list[Step]:
        """:func:`due` for a part of ``part_of`` (node id, biobank id): its targets, this
        ladder. The node's and the portal's passes both ask this."""
        return due(history, state, self.targets(*part_of), self.ladder, now, sent, kinds)


def settled(sent: Iterable[str], steps: Iterable[Step]) -> list[str]:
    """``sent`` and every key the steps taken settle: what a part's clock keeps, so that a
    later pass takes none of them again."""
    return sorted({*sent, *(key for step in steps for key in step.covers)})


def parse_rules(data: Mapping[str, Any], source: str = "<response targets>") -> ClockRules:
    """Rules from their data (the TOML file's tables ``default``, ``ladder``, ``node.<id>``
    and ``biobank."<node>:<biobank>"``)."""
    unknown = set(data) - {"default", "ladder", "node", "biobank"}
    if unknown:
        raise ClockRulesInvalid(f"{source}: unknown table {sorted(unknown)[0]!r}")
    default = _targets(data.get("default", {}), Targets(), f"{source}: default")
    raw_ladder = data.get("ladder", {})
    if not isinstance(raw_ladder, Mapping) or set(raw_ladder) - LADDER_KEYS:
        raise ClockRulesInvalid(
            f"{source}: ladder takes only {', '.join(sorted(LADDER_KEYS))}, as whole numbers"
        )
    ladder = Ladder(**{k: _days(v, f"{source}: ladder.{k}") for k, v in raw_ladder.items()})
    if ladder.remind_every < 1:
        raise ClockRulesInvalid(f"{source}: ladder.remind_every must be at least 1")
    nodes = {
        node: _targets(entry, default, f"{source}: node.{node}")
        for node, entry in dict(data.get("node", {})).items()
    }
    biobanks = {}
    for key, entry in dict(data.get("biobank", {})).items():
        node, sep, bank = key.partition(":")
        if not (sep and node and bank):
            raise ClockRulesInvalid(f"{source}: biobank {key!r} must be named <node>:<biobank>")
        biobanks[key] = _targets(entry, nodes.get(node, default), f"{source}: biobank.{key}")
    return ClockRules(default, nodes, biobanks, ladder)


def load_rules(path: str | None) -> ClockRules:
    """The rules in the TOML file at ``path``; the built-in defaults when None."""
    if not path:
        return ClockRules()
    import tomllib

    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ClockRulesInvalid(f"{path}: cannot be read ({exc})") from None
    return parse_rules(data, path)
