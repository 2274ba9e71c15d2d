"""The access-request part state machine: every allowed step, and refusals that say why."""

import json
from pathlib import Path

import pytest

from schemas.access import RESEARCHER_EVENTS
from schemas.lifecycle import (
    FINAL,
    TRANSITIONS,
    Actor,
    State,
    TransitionRefused,
    allowed,
    check,
)

R, B, N = Actor.RESEARCHER, Actor.BIOBANK, Actor.NODE


def walk(*steps: tuple[str, Actor, str | None]) -> State:
    state = State.SUBMITTED
    for event, actor, text in steps:
        state = check(state, event, actor, text)
    return state


def test_the_usual_path_ends_fulfilled():
    assert (
        walk(
            ("receive", N, None),
            ("request_info", B, "Which passage numbers do you need?"),
            ("provide_info", R, "Below p30."),
            ("approve", B, None),
            ("fulfil", B, None),
        )
        == State.FULFILLED
    )


def test_a_message_changes_nothing_and_an_answer_resumes_the_review():
    state = walk(("receive", N, None), ("request_info", B, "Ethics letter?"))
    assert check(state, "message", R, "Coming tomorrow") == State.INFORMATION_REQUESTED
    assert check(state, "provide_info", R, "Attached.") == State.UNDER_REVIEW


@pytest.mark.parametrize(
    "state", [State.SUBMITTED, State.UNDER_REVIEW, State.INFORMATION_REQUESTED, State.APPROVED]
)
def test_the_researcher_can_withdraw_until_the_material_is_sent(state):
    assert check(state, "withdraw", R) == State.WITHDRAWN


@pytest.mark.parametrize("state", sorted(FINAL))
def test_nothing_happens_to_a_final_part(state):
    for event in TRANSITIONS:
        for actor in Actor:
            with pytest.raises(TransitionRefused):
                check(state, event, actor, "some text")
    assert all(allowed(state, actor) == [] for actor in Actor)


@pytest.mark.parametrize(
    ("state", "event", "actor", "text", "reason"),
    [
        (State.UNDER_REVIEW, "approve", R, None, "only the biobank can approve"),
        (State.UNDER_REVIEW, "withdraw", B, None, "only the researcher can withdraw"),
        (State.SUBMITTED, "approve", B, None, "cannot approve a part that is submitted"),
        (State.APPROVED, "reject", B, "late", "cannot reject a part that is approved"),
        (State.UNDER_REVIEW, "reject", B, "   ", "a reason is required to reject"),
        (State.UNDER_REVIEW, "request_info", B, "", "a question is required"),
        (State.UNDER_REVIEW, "message", R, None, "a message is required"),
        (State.UNDER_REVIEW, "provide_info", R, "x", "cannot provide info a part that is under"),
        (State.UNDER_REVIEW, "delete", B, None, "unknown action 'delete'"),
        (State.UNDER_REVIEW, "message", R, "x" * 5001, "the text is too long"),
    ],
)
def test_refusals_say_what_is_wrong(state, event, actor, text, reason):
    with pytest.raises(TransitionRefused, match=reason):
        check(state, event, actor, text)


def test_conditions_belong_to_an_approval_and_must_be_known():
    assert check(State.UNDER_REVIEW, "approve", B, None, ["mta", "fee"]) == State.APPROVED
    with pytest.raises(TransitionRefused, match="unknown conditions: blood"):
        check(State.UNDER_REVIEW, "approve", B, None, ["blood"])
    with pytest.raises(TransitionRefused, match="conditions belong to an approval"):
        check(State.UNDER_REVIEW, "reject", B, "no stock", ["mta"])


def test_each_side_is_offered_only_what_it_may_do():
    assert allowed(State.UNDER_REVIEW, B) == ["request_info", "approve", "reject", "message"]
    assert allowed(State.UNDER_REVIEW, R) == ["withdraw", "message"]
    assert allowed(State.INFORMATION_REQUESTED, R) == ["provide_info", "withdraw", "message"]
    assert allowed(State.APPROVED, B) == ["fulfil", "ship", "release", "evidence", "message"]
    assert allowed(State.APPROVED, R) == ["withdraw", "evidence", "message"]
    assert allowed(State.SHIPPED, R) == ["confirm_receipt", "message"]
    assert allowed(State.SHIPPED, B) == ["message"]
    assert allowed(State.SUBMITTED, N) == ["receive"]


def test_a_tracked_shipment_is_fulfilled_by_the_researchers_receipt():
    approved = walk(("receive", N, None), ("approve", B, None))
    assert check(approved, "evidence", R, "Signed MTA") == State.APPROVED
    assert check(approved, "release", N, "The hold expired") == State.APPROVED
    shipped = check(approved, "ship", B, "Sent by courier")
    assert shipped == State.SHIPPED and not shipped.final
    assert check(shipped, "confirm_receipt", R, "Arrived frozen") == State.FULFILLED


def test_shipping_and_receipt_refuse_the_wrong_side_state_or_silence():
    approved = walk(("receive", N, None), ("approve", B, None))
    with pytest.raises(TransitionRefused, match="only the biobank can ship"):
        check(approved, "ship", R, "Sent")
    with pytest.raises(TransitionRefused, match="a shipment summary is required to ship"):
        check(approved, "ship", B, " ")
    with pytest.raises(TransitionRefused, match="cannot confirm receipt a part that is approved"):
        check(approved, "confirm_receipt", R, "Arrived")
    with pytest.raises(TransitionRefused, match="only the researcher can confirm receipt"):
        check(State.SHIPPED, "confirm_receipt", B, "Arrived")
    with pytest.raises(TransitionRefused, match="cannot withdraw a part that is shipped"):
        check(State.SHIPPED, "withdraw", R)


def test_both_openapi_documents_list_every_event_state_and_researcher_action():
    root = Path(__file__).resolve().parents[2]
    for path in ("federation/node/inbox/openapi.json", "portal/access/openapi.json"):
        schemas = json.loads((root / path).read_text())["components"]["schemas"]
        event = schemas["Event"]["properties"]
        assert event["type"]["enum"] == list(TRANSITIONS), path
        assert event["state"]["enum"] == [s.value for s in State], path
        if "Action" in schemas:
            assert schemas["Action"]["properties"]["type"]["enum"] == list(RESEARCHER_EVENTS)
