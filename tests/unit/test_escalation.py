"""Requests that never stall, at the portal and at a node, on real databases (SQLite) and a
real SMTP sink: every pass is given its clock (``now``), nothing sleeps."""

from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, select

from cellfed.cli import main
from federation.node.importer import import_catalogue
from federation.node.inbox.clock_models import InboxClock
from federation.node.inbox.escalation import node_escalation_pass
from federation.node.inbox.models import InboxPart, NodeOutbox
from federation.node.inbox.service import Acting, inbox_of
from federation.node.store import store_of
from federation.web.login import User
from portal.access.clock_models import PartClock
from portal.access.escalation import KeepWaitingRefused, escalation_of
from portal.access.models import Notification, PortalOutbox
from portal.access.service import RequestNotFound
from schemas.access import PartSchema
from schemas.clocks import Calendar
from schemas.lifecycle import Actor
from tests.builders import catalogue, cell_line
from tests.unit.test_access_schemas import PART
from tests.unit.test_retention import ALICE, Portal

DAY = dt.timedelta(days=1)
OPERATORS = ["carol@example.org", "ops@example.org"]
MALLORY = User(
    "https://idp.example.org", "mallory", "Mallory", "m@example.org", frozenset(), frozenset()
)


def workdays(start: dt.datetime, n: int) -> dt.datetime:
    """The moment ``n`` working days after ``start`` (no holidays: the shipped rules give
    node n1 and test-node none)."""
    at = start
    while Calendar().between(start, at) < n:
        at += DAY
    return at


@pytest.fixture
def portal(tmp_path, smtp_sink):
    p = Portal(
        tmp_path,
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=smtp_sink.port,
        ALLIANCE_OPERATOR_EMAILS=OPERATORS,
    )
    p.sink = smtp_sink
    return p


def submitted(portal: Portal) -> tuple[str, str, dt.datetime]:
    """Alice's request to biobank one, whose node never took it (its delivery is dropped:
    the node is down), and when it was submitted."""
    request_id = portal.submit(files=())
    part = portal.parts(request_id)["bb1"]
    with portal.access.sessions.begin() as session:
        session.execute(delete(PortalOutbox).where(PortalOutbox.kind == "deliver_part"))
    portal.access.outbox.run_once()  # "your request was submitted" to Alice
    portal.sink.messages.clear()
    return request_id, part.id, part.events[0].at


def deliver_mail(portal: Portal) -> list[dict]:
    portal.access.outbox.run_once()
    return portal.sink.messages


def test_the_portal_tells_the_operators_then_marks_the_part_unresponsive_once(portal):
    request_id, part_id, at = submitted(portal)
    escalation = escalation_of(portal.app)
    # Targets 5 + 20 working days, operators 10 past, unresponsive 15 past (shipped rules).
    assert escalation.run(workdays(at, 5)) == []  # reminders are the node's
    taken = escalation.run(workdays(at, 15))
    assert taken == [(part_id, "first_answer:operators")]
    assert escalation.run(workdays(at, 15)) == []  # idempotent
    mails = deliver_mail(portal)
    assert sorted(m["to"][0] for m in mails) == OPERATORS
    assert all("Biobank one" in m["subject"] and "Cardiomyocyte" in m["subject"] for m in mails)

    assert escalation.run(workdays(at, 20)) == [(part_id, "first_answer:unresponsive")]
    assert escalation.run(workdays(at, 40)) == []
    part = portal.parts(request_id)["bb1"]
    assert [e.type for e in part.events] == ["submit", "unresponsive"]
    with portal.access.sessions() as session:
        clock = session.get(PartClock, part_id)
        texts = session.scalars(select(Notification.text)).all()
    assert clock.unresponsive_at is not None
    assert any("has not answered" in t and "keep waiting" in t for t in texts)
    mails = deliver_mail(portal)
    assert [m["to"] for m in mails[2:]] == [["alice@example.org"]]


def test_a_late_pass_takes_every_step_due_at_once(portal):
    _, part_id, at = submitted(portal)
    taken = escalation_of(portal.app).run(workdays(at, 60))
    assert taken == [(part_id, "first_answer:operators"), (part_id, "first_answer:unresponsive")]


def test_a_received_part_is_escalated_and_a_decided_one_is_not(portal):
    request_id, part_id, at = submitted(portal)
    portal.decide(part_id, "receive")  # received is not answered
    escalation = escalation_of(portal.app)
    assert escalation.run(workdays(at, 15)) == [(part_id, "first_answer:operators")]
    portal.decide(part_id, "approve")
    assert escalation.run(workdays(at, 90)) == []  # approved: no clock runs


def test_the_researcher_sees_whom_it_waits_on_and_may_keep_waiting(portal):
    request_id, part_id, at = submitted(portal)
    client = portal.client()
    page = client.get(f"/requests/{request_id}").get_data(as_text=True)
    assert 'data-waiting-on="biobank"' in page and "Waiting on the admins of Biobank one" in page
    assert "Keep waiting" not in page
    answer = client.get(f"/api/v1/requests/{request_id}/waiting").get_json()
    [row] = answer["parts"]
    assert (row["waiting_on"], row["clock"], row["target_working_days"]) == (
        "biobank",
        "first_answer",
        5,
    )
    assert row["since"] and row["unresponsive_at"] is None

    form = {"csrf_token": "a-csrf-token-of-this-session"}
    refused = client.post(f"/requests/{request_id}/parts/{part_id}/keep-waiting", data=form)
    assert refused.status_code == 409 and "not marked unresponsive" in refused.get_data(
        as_text=True
    )

    escalation_of(portal.app).run(workdays(at, 30))
    page = client.get(f"/requests/{request_id}").get_data(as_text=True)
    assert "has not answered past its response targets" in page and "Keep waiting" in page
    assert "Withdraw this part" in page
    done = client.post(f"/requests/{request_id}/parts/{part_id}/keep-waiting", data=form)
    assert done.status_code == 302
    page = client.get(f"/requests/{request_id}").get_data(as_text=True)
    assert "You chose to keep waiting" in page and "Chose to keep waiting" in page
    again = client.post(f"/requests/{request_id}/parts/{part_id}/keep-waiting", data=form)
    assert again.status_code == 409


def test_someone_else_cannot_see_or_keep_waiting_on_the_part(portal):
    request_id, part_id, at = submitted(portal)
    escalation_of(portal.app).run(workdays(at, 30))
    other = portal.client(MALLORY)
    assert other.get(f"/api/v1/requests/{request_id}/waiting").status_code == 404
    form = {"csrf_token": "a-csrf-token-of-this-session"}
    answer = other.post(f"/requests/{request_id}/parts/{part_id}/keep-waiting", data=form)
    assert answer.status_code == 404
    with pytest.raises(RequestNotFound):
        escalation_of(portal.app).keep_waiting(MALLORY, request_id, part_id)
    with portal.access.sessions() as session:
        assert session.get(PartClock, part_id).kept_waiting_at is None
    escalation_of(portal.app).keep_waiting(ALICE, request_id, part_id)
    with pytest.raises(KeepWaitingRefused):
        escalation_of(portal.app).keep_waiting(ALICE, request_id, part_id)


def test_the_portal_escalate_command_takes_a_clock(portal, tmp_path):
    _, part_id, at = submitted(portal)
    db = portal.app.config["PORTAL_DATABASE_URL"]
    at = (workdays(at, 30)).strftime("%Y-%m-%dT%H:%M:%S")
    result = CliRunner().invoke(main, ["portal", "escalate", "--db", db, "--now", at])
    assert result.exit_code == 0, result.output
    assert f"{part_id}\tfirst_answer:unresponsive" in result.output
    again = CliRunner().invoke(main, ["portal", "escalate", "--db", db, "--now", at])
    assert again.exit_code == 0 and again.output == ""


# -- the node --------------------------------------------------------------------------------
@pytest.fixture
def node(tmp_path, smtp_sink):
    from federation.node.app import create_app

    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'node.sqlite3'}",
            "NODE_ID": "test-node",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": smtp_sink.port,
            "NODE_CONTACT_EMAIL": "contact@node.example.org",
            "NODE_ADMINS_EMAIL": "admins@node.example.org",
            "NODE_URL": "https://node.example.org",
        }
    )
    assert import_catalogue(store_of(app), catalogue(cell_line("L1")), "test").ok
    app.sink = smtp_sink
    return app


def received(app, submitted_at: dt.datetime) -> str:
    inbox = inbox_of(app)
    inbox.receive(PartSchema().load({**PART, "submitted_at": submitted_at.isoformat()}))
    return PART["id"]


def node_mail(app) -> list[tuple[str, str]]:
    outbox = inbox_of(app).outbox
    with outbox.sessions.begin() as session:  # events to the portal are not this test's
        session.execute(delete(NodeOutbox).where(NodeOutbox.kind == "event"))
    outbox.run_once()
    return [(m["to"][0], m["subject"]) for m in app.sink.messages]


def test_the_node_reminds_its_admins_repeatedly_then_tells_its_contact(node):
    at = dt.datetime.now(dt.UTC) - DAY
    part_id = received(node, at)
    node_mail(node)
    node.sink.messages.clear()
    with inbox_of(node).sessions.begin() as session:
        session.get(InboxPart, part_id).needs_attention = False
    assert node_escalation_pass(node, workdays(at, 4)) == []
    assert node_escalation_pass(node, workdays(at, 5)) == [(part_id, "first_answer:remind:1")]
    assert node_escalation_pass(node, workdays(at, 5)) == []
    assert node_escalation_pass(node, workdays(at, 7)) == [(part_id, "first_answer:remind:2")]
    assert node_escalation_pass(node, workdays(at, 15)) == [
        (part_id, "first_answer:remind:3"),
        (part_id, "first_answer:contact"),
    ]
    assert node_escalation_pass(node, workdays(at, 60)) == []  # the rest is the portal's
    mails = node_mail(node)
    assert [to for to, _ in mails] == ["admins@node.example.org"] * 3 + ["contact@node.example.org"]
    assert mails[0][1].startswith("Reminder 1: Berlin iPSC Bank owes a first answer")
    with inbox_of(node).sessions() as session:
        assert session.get(InboxPart, part_id).needs_attention is True
        assert "first_answer:contact" in session.get(InboxClock, part_id).sent


def test_an_answer_at_the_node_stops_the_first_clock(node):
    at = dt.datetime.now(dt.UTC) - DAY
    part_id = received(node, at)
    inbox_of(node).decide(
        part_id, {"bb-berlin"}, Acting(Actor.BIOBANK, "Bob"), "request_info", "Which passage?"
    )
    assert node_escalation_pass(node, workdays(at, 60)) == []  # waits on the researcher


def test_the_node_escalate_command_takes_a_clock(node):
    at = dt.datetime.now(dt.UTC) - DAY
    part_id = received(node, at)
    db = node.config["DATABASE_URL"]
    at = (workdays(at, 5)).strftime("%Y-%m-%d")
    result = CliRunner().invoke(
        main, ["node", "escalate", "--id", "test-node", "--db", db, "--now", at]
    )
    assert result.exit_code == 0, result.output
    assert result.output == f"{part_id}\tfirst_answer:remind:1\n"
