"""The portal's mailbox for push-mode nodes, its pure parts and its table on real SQLite:
parameters and acknowledgements read with errors that say where, held messages, a node's
own mailbox only, acknowledgements that change nothing when repeated, the back-off."""

from __future__ import annotations

import threading

import pytest

from federation.node.inbox.portal_messages import Outcome, apply_message
from federation.node.mailbox_client import ack_of, backoff_seconds
from federation.outbox import Held
from federation.registry import Member
from portal.access.context import access_of
from portal.access.mailbox import KINDS, MailboxSenders, NotInMailbox, message_wire
from portal.access.mailbox_params import AckInvalid, parse_acks, parse_poll
from portal.access.models import PortalOutbox
from portal.app import create_app as create_portal_app
from tests.unit.test_access_apis import documented, routes

MEMBERS = """
[[member]]
id = "far"
url = "http://127.0.0.1:9"
mode = "push"

[[member]]
id = "near"
url = "http://127.0.0.1:9"
"""


@pytest.fixture
def portal(tmp_path):
    members = tmp_path / "members.toml"
    members.write_text(MEMBERS)
    config = {
        "PORTAL_DATABASE_URL": f"sqlite:///{tmp_path / 'p.sqlite3'}",
        "MEMBERS_FILE": str(members),
        "MAILBOX_POLL_INTERVAL": 30,  # a poll that returns early was woken, not re-reading
    }
    return create_portal_app(config)


def put(access, kind: str, target: str, part_id: str) -> int:
    payload = {"id": part_id} if kind == "deliver_part" else {"part_id": part_id}
    if kind == "action":
        payload["action"] = {"id": "a1", "type": "message"}
    with access.sessions.begin() as session:
        message = access.outbox.enqueue(session, kind, target, payload, key=part_id)
        session.flush()
        return message.id


def test_poll_parameters_default_cap_and_say_which_is_wrong():
    assert parse_poll({}, 25) == (0, 0)
    assert parse_poll({"after": "7", "wait": "90"}, 25) == (7, 25)
    for args, name in [({"after": "x"}, "after"), ({"after": "-1"}, "after"),
                       ({"wait": "soon"}, "wait"), ({"wait": "nan"}, "wait"),
                       ({"wait": "-2"}, "wait")]:  # fmt: skip
        with pytest.raises(ValueError, match=f"'{name}'"):
            parse_poll(args, 25)


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (None, "acks"),
        ({"acks": []}, "acks"),
        ({"acks": [5]}, r"acks\[0\]"),
        ({"acks": [{"id": "5"}]}, r"acks\[0\]\.id"),
        ({"acks": [{"id": 1}, {"id": 2, "colour": "red"}]}, r"acks\[1\]: unknown keys colour"),
        ({"acks": [{"id": 1, "refused": " "}]}, r"acks\[0\]\.refused"),
        ({"acks": [{"id": 1, "events": [{"id": "e"}]}]}, r"acks\[0\]\.events\[0\]"),
    ],
)
def test_a_bad_acknowledgement_names_the_place(body, where):
    with pytest.raises(AckInvalid, match=where):
        parse_acks(body)


def test_a_good_acknowledgement_is_read():
    acks = parse_acks({"acks": [{"id": 3}, {"id": 4, "refused": "422: not ours"}]})
    assert [(a.id, a.events, a.refused) for a in acks] == [(3, (), None), (4, (), "422: not ours")]


def test_a_push_members_messages_are_held_and_a_pull_members_sent():
    sent = []
    members = [Member("far", "Far", "http://x", "push"), Member("near", "Near", "http://y")]
    send = MailboxSenders(lambda: members).wrap(sent.append)
    far, near = PortalOutbox(target="far"), PortalOutbox(target="near")
    with pytest.raises(Held, match="far"):
        send(far)
    send(near)
    assert sent == [near]


def test_the_mailbox_holds_a_push_nodes_messages_in_order_and_only_its_own(portal):
    access = access_of(portal)
    first = put(access, "deliver_part", "far", "p1")
    put(access, "deliver_part", "near", "p2")
    second = put(access, "action", "far", "p1")
    report = access.outbox.run_once()  # held for the push node, tried at the pull one
    assert report.delivered == 0 and report.retried == 1  # "near" is not listening
    found = access.mailbox.open_messages("far", 0)
    assert [m.id for m in found] == [first, second]
    assert [message_wire(m)["kind"] for m in found] == ["deliver_part", "action"]
    assert [m.id for m in access.mailbox.open_messages("far", first)] == [second]
    with access.sessions() as session:
        held = session.get(PortalOutbox, first)
        assert held.delivered_at is None and "mailbox" in (held.last_error or "")


def test_an_ack_of_another_nodes_message_stores_nothing(portal):
    access = access_of(portal)
    mine = put(access, "co_applicants", "far", "p1")
    theirs = put(access, "co_applicants", "near", "p2")
    acks = parse_acks({"acks": [{"id": mine}, {"id": theirs}]})
    with pytest.raises(NotInMailbox, match=str(theirs)):
        access.mailbox.ack("far", acks)
    assert [m.id for m in access.mailbox.open_messages("far", 0)] == [mine]


def test_an_ack_marks_delivered_once_and_a_refusal_failed(portal):
    access = access_of(portal)
    one = put(access, "co_applicants", "far", "p1")
    two = put(access, "co_applicants", "far", "p2")
    acks = parse_acks({"acks": [{"id": one}, {"id": two, "refused": "404: no part p2"}]})
    assert access.mailbox.ack("far", acks) == 2
    assert access.mailbox.ack("far", acks) == 0  # the node's answer was lost: a repeat
    assert access.mailbox.open_messages("far", 0) == []
    with access.sessions() as session:
        assert session.get(PortalOutbox, one).delivered_at is not None
        refused = session.get(PortalOutbox, two)
        assert refused.failed_at is not None and "no part p2" in refused.last_error


def test_a_waiting_poll_returns_when_a_message_is_written(portal):
    access = access_of(portal)
    got: list = []
    poller = threading.Thread(target=lambda: got.extend(access.mailbox.poll("far", 0, 20)))
    poller.start()
    put(access, "co_applicants", "far", "p1")
    access.outbox.wake()  # what the services do after they commit
    poller.join(25)
    assert [m.target for m in got] == ["far"]


def test_the_node_acknowledges_what_it_applied_or_says_why_not():
    message = {"id": 9}
    applied = Outcome(201, {"part": {}, "events": [{"id": "e1"}]})
    assert ack_of(message, applied) == {"id": 9, "events": [{"id": "e1"}]}
    assert ack_of(message, Outcome(200, {"event": {"id": "e2"}})) == {
        "id": 9,
        "events": [{"id": "e2"}],
    }
    refused = Outcome(422, {"error": "part_not_accepted", "detail": "not ours"})
    assert ack_of(message, refused) == {"id": 9, "refused": "422: not ours"}


def test_a_message_of_an_unknown_kind_or_shape_is_refused_with_a_reason():
    assert apply_message(None, "launch", "p1", {}).body["detail"] == "unknown message kind 'launch'"  # type: ignore[arg-type]
    assert "JSON object" in apply_message(None, "action", "p1", [1]).body["detail"]  # type: ignore[arg-type]
    assert set(KINDS) == {"deliver_part", "action", "co_applicants"}


def test_the_backoff_doubles_up_to_its_cap_with_jitter():
    assert backoff_seconds(0, 2, 60) == 2
    for failures, ceiling in [(1, 4), (3, 16), (10, 60)]:
        wait = backoff_seconds(failures, 2, 60)
        assert ceiling / 2 <= wait <= ceiling


def test_the_mailbox_routes_are_documented_and_want_a_token(portal):
    prefix = "/api/v1/nodes/<node_id>/mailbox"
    mine = {r for r in routes(portal, prefix)}
    assert mine == {
        ("/api/v1/nodes/{node_id}/mailbox", "GET"),
        ("/api/v1/nodes/{node_id}/mailbox/ack", "POST"),
    }
    assert mine <= documented(portal, "/api/v1/access/openapi.json")
    client = portal.test_client()
    assert client.get("/api/v1/nodes/far/mailbox").status_code == 401
    assert client.post("/api/v1/nodes/far/mailbox/ack", json={"acks": []}).status_code == 401


def test_the_demo_tells_the_portal_which_node_pushes(tmp_path):
    from cellfed.demo import _members_file
    from federation.registry import load_members

    members = [
        Member("cn-nsccr", "CN", "http://127.0.0.1:5103", "push"),
        Member("de", "DE", "http://x"),
    ]
    assert load_members(_members_file(members, tmp_path)) == members


def test_a_portal_that_is_not_there_is_a_mailbox_error_and_nothing_is_applied():
    from federation.node.mailbox_client import MailboxClient, MailboxError

    applied: list = []
    client = MailboxClient(
        "http://127.0.0.1:9", "far", lambda fresh: {}, lambda *a: applied.append(a), wait=0
    )
    with pytest.raises(MailboxError, match="unreachable"):
        client.poll_once()
    assert applied == []
