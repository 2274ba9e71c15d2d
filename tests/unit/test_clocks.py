"""Response clocks (schemas/clocks.py): working days, whom a part waits on, the ladder, with
a controllable clock (every "now" is given)."""

from __future__ import annotations

import datetime as dt

import pytest

from schemas.clocks import (
    Calendar,
    ClockRulesInvalid,
    Happening,
    Ladder,
    Targets,
    due,
    elapsed,
    load_rules,
    parse_rules,
    waiting_on,
)

UTC = dt.UTC
MONDAY = dt.datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday


def day(n: int, hour: int = 10) -> dt.datetime:
    """``n`` calendar days after MONDAY."""
    return (MONDAY + dt.timedelta(days=n)).replace(hour=hour)


def submitted(at: dt.datetime = MONDAY) -> list[Happening]:
    return [Happening("submit", "researcher", at, "submitted")]


def received(at: dt.datetime = MONDAY) -> list[Happening]:
    return [*submitted(at), Happening("receive", "node", at, "under_review")]


TARGETS = Targets(first_answer=5, decision=20)
LADDER = Ladder(
    remind_every=2, reminders=3, contact_after=5, operators_after=10, unresponsive_after=15
)


# -- working days ----------------------------------------------------------------------------
def test_working_days_skip_weekends_and_holidays():
    cal = Calendar()
    assert cal.between(day(0), day(0, 18)) == 0  # the same day
    assert cal.between(day(4), day(7)) == 1  # Friday to Monday
    assert cal.between(day(0), day(7)) == 5  # a week
    assert cal.between(day(0), day(14)) == 10
    assert cal.between(day(5), day(6)) == 0  # Saturday to Sunday
    assert cal.between(day(7), day(0)) == 0  # backwards
    holidays = Calendar(frozenset({day(1).date(), day(5).date()}))  # a Tuesday, a Saturday
    assert holidays.between(day(0), day(7)) == 4  # the Saturday holiday changes nothing


def test_working_days_agree_with_counting_day_by_day():
    cal = Calendar(frozenset({dt.date(2026, 12, 24), dt.date(2026, 12, 25)}))
    start = dt.datetime(2026, 12, 1, tzinfo=UTC)
    for n in range(0, 60):
        end = start + dt.timedelta(days=n)
        counted = sum(
            1 for i in range(1, n + 1) if cal.working((start + dt.timedelta(days=i)).date())
        )
        assert cal.between(start, end) == counted, n


# -- whom a part waits on --------------------------------------------------------------------
def test_a_new_part_waits_on_the_biobank_for_a_first_answer_since_its_submission():
    w = waiting_on(received(), "under_review")
    assert (w.on, w.since, w.clock) == ("biobank", MONDAY, "first_answer")


def test_a_question_makes_the_part_wait_on_the_researcher_since_it_was_asked():
    history = [*received(), Happening("request_info", "biobank", day(2), "information_requested")]
    w = waiting_on(history, "information_requested")
    assert (w.on, w.since, w.clock) == ("researcher", day(2), None)
    answered = [*history, Happening("provide_info", "researcher", day(3), "under_review")]
    w = waiting_on(answered, "under_review")
    assert (w.on, w.since, w.clock) == ("biobank", day(3), "decision")


def test_a_message_does_not_move_since_and_a_closed_part_waits_on_nobody():
    history = [*received(), Happening("message", "biobank", day(1), "under_review")]
    w = waiting_on(history, "under_review")
    assert (w.on, w.since, w.clock) == ("biobank", MONDAY, "decision")
    closed = [*history, Happening("reject", "biobank", day(2), "rejected")]
    assert waiting_on(closed, "rejected").on == "nobody"
    assert waiting_on(closed, "rejected").since == day(2)


def test_days_waiting_on_the_researcher_do_not_count():
    history = [
        *received(),
        Happening("request_info", "biobank", day(1), "information_requested"),
        Happening("provide_info", "researcher", day(8), "under_review"),
    ]
    assert elapsed(history, Calendar(), day(14)) == 10 - 5
    assert elapsed(history[:3], Calendar(), day(14)) == 1  # still asked: the clock stands


# -- the ladder ------------------------------------------------------------------------------
def keys(steps):
    return [s.key for s in steps]


def test_nothing_is_due_before_the_target():
    assert due(received(), "under_review", TARGETS, LADDER, day(4)) == []  # 4 working days


def test_the_ladder_climbs_with_the_clock():
    history = received()
    # day 7 = 5 working days: the target, reminder 1
    assert keys(due(history, "under_review", TARGETS, LADDER, day(7))) == ["first_answer:remind:1"]
    sent = ["first_answer:remind:1"]
    assert due(history, "under_review", TARGETS, LADDER, day(8), sent) == []  # 1 past
    assert keys(due(history, "under_review", TARGETS, LADDER, day(9), sent)) == [
        "first_answer:remind:2"
    ]
    sent += ["first_answer:remind:2", "first_answer:remind:3"]
    at_contact = day(14)  # 10 working days: 5 past
    assert keys(due(history, "under_review", TARGETS, LADDER, at_contact, sent)) == [
        "first_answer:contact"
    ]
    sent += ["first_answer:contact"]
    assert keys(due(history, "under_review", TARGETS, LADDER, day(21), sent)) == [
        "first_answer:operators"
    ]
    sent += ["first_answer:operators"]
    assert keys(due(history, "under_review", TARGETS, LADDER, day(28), sent)) == [
        "first_answer:unresponsive"
    ]
    sent += ["first_answer:unresponsive"]
    assert due(history, "under_review", TARGETS, LADDER, day(60), sent) == []


def test_a_late_pass_sends_the_latest_reminder_once_and_covers_the_missed_ones():
    (step, contact) = due(received(), "under_review", TARGETS, LADDER, day(14))
    assert step.key == "first_answer:remind:3" and step.number == 3
    assert step.covers == (
        "first_answer:remind:1",
        "first_answer:remind:2",
        "first_answer:remind:3",
    )
    assert contact.key == "first_answer:contact" and step.overdue == 5


def test_the_steps_of_one_side_only():
    portal = due(
        received(), "under_review", TARGETS, LADDER, day(28), kinds={"operators", "unresponsive"}
    )
    assert keys(portal) == ["first_answer:operators", "first_answer:unresponsive"]


def test_an_answer_stops_the_first_clock_and_the_decision_clock_runs_from_the_submission():
    history = [*received(), Happening("message", "biobank", day(2), "under_review")]
    assert due(history, "under_review", TARGETS, LADDER, day(14)) == []  # 10 of 20
    assert keys(due(history, "under_review", TARGETS, LADDER, day(28))) == ["decision:remind:1"]


def test_no_clock_runs_while_waiting_on_the_researcher_or_after_a_decision():
    asked = [*received(), Happening("request_info", "biobank", day(1), "information_requested")]
    assert due(asked, "information_requested", TARGETS, LADDER, day(90)) == []
    approved = [*received(), Happening("approve", "biobank", day(1), "approved")]
    assert due(approved, "approved", TARGETS, LADDER, day(90)) == []


def test_holidays_push_the_target_back():
    christmas = Targets(5, 20, Calendar(frozenset({day(7).date(), day(8).date()})))
    assert due(received(), "under_review", christmas, LADDER, day(7)) == []
    assert keys(due(received(), "under_review", christmas, LADDER, day(9))) == [
        "first_answer:remind:1"
    ]


# -- the rules as data -----------------------------------------------------------------------
def test_rules_resolve_biobank_over_node_over_default():
    rules = parse_rules(
        {
            "default": {"first_answer": 4},
            "ladder": {"reminders": 2},
            "node": {"n1": {"decision": 10, "holidays": ["2026-12-24"]}},
            "biobank": {"n1:b1": {"first_answer": 2}},
        }
    )
    assert rules.ladder.reminders == 2 and rules.ladder.remind_every == 2
    assert rules.targets("n2", "x") == Targets(4, 20)
    assert (rules.targets("n1", "x").first_answer, rules.targets("n1", "x").decision) == (4, 10)
    b1 = rules.targets("n1", "b1")
    assert (b1.first_answer, b1.decision) == (2, 10)
    assert b1.calendar.holidays == {dt.date(2026, 12, 24)}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"defaults": {}}, "unknown table 'defaults'"),
        ({"default": {"first_answer": "five"}}, "default.first_answer must be a whole number"),
        ({"default": {"first": 5}}, "default: unknown key 'first'"),
        ({"node": {"n1": {"holidays": ["24 Dec"]}}}, "node.n1.holidays[0]: '24 Dec' is not a date"),
        ({"biobank": {"b1": {}}}, "biobank 'b1' must be named <node>:<biobank>"),
        ({"ladder": {"remind_every": 0}}, "remind_every must be at least 1"),
        ({"ladder": {"every": 2}}, "ladder takes only"),
    ],
)
def test_bad_rules_are_refused_naming_where(data, message):
    with pytest.raises(ClockRulesInvalid, match=None) as caught:
        parse_rules(data, "targets.toml")
    assert message in str(caught.value) and "targets.toml" in str(caught.value)


def test_the_shipped_rules_file_reads(tmp_path):
    from cellfed.config import load_config

    rules = load_rules(load_config({})["RESPONSE_TARGETS_FILE"])
    assert rules.targets("de-stemcellbank", "de-ipsc-bank").first_answer == 3
    assert dt.date(2026, 12, 25) in rules.targets("de-stemcellbank", "x").calendar.holidays
    assert load_rules(None).default == Targets()
    bad = tmp_path / "t.toml"
    bad.write_text("[default\n")
    with pytest.raises(ClockRulesInvalid, match="cannot be read"):
        load_rules(str(bad))
