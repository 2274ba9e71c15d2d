"""The access-request wire formats: what a node or the portal refuses to read."""

import pytest
from marshmallow import ValidationError

from schemas.access import EventSchema, ProjectSchema
from schemas.errors import format_errors

EVENT = {
    "id": "a" * 32,
    "part_id": "b" * 32,
    "seq": 2,
    "type": "approve",
    "actor": "biobank",
    "actor_name": "Bob",
    "at": "2026-11-01T10:00:00+00:00",
    "state": "approved",
    "conditions": ["mta"],
}


def problems(schema, data) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        schema.load(data)
    return format_errors(caught.value.messages)


def test_a_consistent_event_loads():
    assert EventSchema().load(EVENT)["conditions"] == ["mta"]
    message = {**EVENT, "type": "message", "state": "under_review", "text": "Hello"}
    assert EventSchema().load(message)["state"] == "under_review"


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"actor": "researcher"}, "actor: a researcher cannot approve"),
        ({"state": "rejected"}, "state: approve leads to approved, not rejected"),
        ({"type": "withdraw", "actor": "biobank", "state": "withdrawn"}, "cannot withdraw"),
        ({"conditions": ["free lunch"]}, "conditions[0]: Must be one of"),
        ({"seq": 0}, "seq"),
        ({"at": "yesterday"}, "at"),
        ({"id": "../etc"}, "id: must be 32 lowercase hex digits"),
    ],
)
def test_an_event_the_state_machine_cannot_produce_is_refused(change, problem):
    assert any(problem in line for line in problems(EventSchema(), {**EVENT, **change}))


def test_disease_specific_research_names_the_disease():
    project = {
        "title": "Rett syndrome neurons",
        "description": "Differentiate patient lines into cortical neurons.",
        "intended_use": "DUO:0000007",
        "ethics_ref": "EC-1",
    }
    assert problems(ProjectSchema(), project) == [
        "disease: name the disease for disease-specific research"
    ]
    assert ProjectSchema().load({**project, "disease": "Rett syndrome"})["commercial"] is False
    assert "intended_use" in problems(ProjectSchema(), {**project, "intended_use": "DUO:1"})[0]
