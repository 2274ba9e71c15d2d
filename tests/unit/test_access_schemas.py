"""The access-request wire formats: what a node or the portal refuses to read, and that a
sender refuses to send it, in its own transaction, with nothing stored or queued."""

import io

import pytest
from marshmallow import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from federation.database import database_engine
from federation.node.importer import import_catalogue
from federation.node.inbox.models import InboxEvent, NodeOutbox
from federation.node.inbox.service import Acting, inbox_of
from federation.node.store import store_of
from federation.outbox import Outbox
from federation.registry import Member
from federation.web.login import User
from portal.access.attachments import AttachmentStore, check_upload
from portal.access.models import (
    AccessRequest,
    Attachment,
    Notification,
    PartEvent,
    PortalBase,
    PortalOutbox,
    RequestPart,
)
from portal.access.service import AccessService, SubmissionInvalid
from schemas.access import EventSchema, PartSchema, ProjectSchema, to_wire
from schemas.errors import format_errors
from schemas.lifecycle import Actor
from tests.builders import catalogue, cell_line
from tests.builders.portal_app import LINE_ONE
from tests.builders.sent_part import PROJECT

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


# -- the senders -------------------------------------------------------------------------
PART = {
    "id": "c" * 32,
    "request_id": "d" * 32,
    "node_id": "test-node",
    "biobank_id": "bb-berlin",
    "biobank_name": "Berlin iPSC Bank",
    "submitted_at": "2026-11-01T10:00:00.123456+00:00",
    "researcher": {"iss": "https://idp.example.org", "sub": "s1", "name": "Alice", "email": None},
    "project": PROJECT,
    "items": [{"kind": "cell_line", "id": "L1", "name": "L1"}],
    "attachments": [],
}
ALICE = User(
    "https://idp.example.org", "s1", "Alice", "alice@example.org", frozenset(), frozenset()
)
LINE = LINE_ONE
PORTAL_TABLES = (AccessRequest, Attachment, RequestPart, PartEvent, Notification, PortalOutbox)


def test_what_a_sender_builds_goes_out_unchanged():
    assert to_wire(PartSchema(), PART) == PART
    assert to_wire(EventSchema(), {**EVENT, "text": None, "actor_sub": None}) == {
        **EVENT,
        "text": None,
        "actor_sub": None,
    }


def never_sent(message) -> None:
    raise AssertionError("these tests run no delivery")


@pytest.fixture
def portal(tmp_path):
    """The portal's access service on SQLite, with a one-line catalogue and one member node."""
    engine = database_engine(f"sqlite:///{tmp_path / 'portal.sqlite3'}")
    PortalBase.metadata.create_all(engine)
    sessions = sessionmaker(engine, expire_on_commit=False)
    senders = {"deliver_part": never_sent, "action": never_sent}  # only what is queued counts
    outbox = Outbox(PortalOutbox, sessions, senders)
    docs = {"n1:cell_line:L1": LINE}
    files = AttachmentStore(tmp_path / "files")
    members = [Member("n1", "Node one", "https://n1.example.org")]
    yield AccessService(sessions, outbox, files, docs.get, lambda: members), docs
    engine.dispose()


def stored(service: AccessService) -> dict[str, int]:
    """How many rows each portal table holds, and how many attachment files are kept."""
    with service.sessions() as session:
        rows = {
            t.__tablename__: session.scalar(select(func.count()).select_from(t))
            for t in PORTAL_TABLES
        }
    directory = service.files.directory
    return {**rows, "files": len(list(directory.iterdir())) if directory.exists() else 0}


def test_a_part_the_node_would_refuse_is_not_submitted(portal):
    service, docs = portal
    docs["n1:cell_line:L2"] = {**LINE, "local_id": "../L2"}  # the node's ids cannot hold "/"
    ethics = check_upload(io.BytesIO(b"%PDF-1.4 ethics approval"), "ethics.pdf", 1024)
    with pytest.raises(SubmissionInvalid) as caught:
        service.submit(ALICE, PROJECT, ["n1:cell_line:L1", "n1:cell_line:L2"], [ethics])
    assert caught.value.problems == [
        "the id of n1:cell_line:L2 in the catalogue is not accepted: must be 1-255 letters, "
        "digits or . _ : - and start with a letter or digit"
    ]
    assert set(stored(service).values()) == {0}


def test_an_action_the_node_would_refuse_is_not_recorded(portal):
    service, _ = portal
    request_id = service.submit(ALICE, PROJECT, ["n1:cell_line:L1"], [])
    [part] = service.request_of(ALICE, request_id).parts
    before = stored(service)
    # The identity provider now gives her a name longer than a node keeps.
    renamed = User(ALICE.iss, ALICE.sub, "A" * 201, None, frozenset(), frozenset())
    with pytest.raises(SubmissionInvalid) as caught:
        service.act(renamed, request_id, part.id, "withdraw", "")
    assert str(caught.value) == (
        "your name as the identity provider gives it is longer than 200 characters"
    )
    assert stored(service) == before
    [part] = service.request_of(ALICE, request_id).parts
    assert part.state == "submitted" and [e.type for e in part.events] == ["submit"]


def test_an_event_the_portal_would_refuse_is_not_decided(node_app):
    assert import_catalogue(store_of(node_app), catalogue(cell_line("L1")), "test").ok
    inbox = inbox_of(node_app)
    inbox.receive(PartSchema().load(PART))
    with pytest.raises(ValidationError) as caught:
        # An admin whose name is longer than the portal keeps.
        inbox.decide(PART["id"], {"bb-berlin"}, Acting(Actor.BIOBANK, "B" * 201), "approve")
    assert "actor_name" in caught.value.messages
    part = inbox.part(PART["id"], {"bb-berlin"})
    assert part.state == "under_review" and [e.type for e in part.events] == ["receive"]
    with inbox.sessions() as session:
        assert session.scalar(select(func.count()).select_from(InboxEvent)) == 1
        assert session.scalar(select(func.count()).select_from(NodeOutbox)) == 0
