"""The broker's promise on real servers: a node that is offline for a while receives each
part exactly once when it is back; the portal, likewise, each decision; and e-mail goes out
through a real SMTP server."""

from __future__ import annotations

import pytest

from cellfed.serve import serve_in_thread
from federation.node.inbox.models import InboxEvent, InboxPart
from federation.node.store import store_of
from portal.access.models import PartEvent, PortalOutbox
from search.aliases import drop_indices
from tests.access.conftest import (
    csrf,
    login,
    request_id_from,
    start_alliance,
    submit_request,
)

pytestmark = [pytest.mark.keycloak, pytest.mark.engine]

NODES = ("de-stemcellbank", "uk-hipsci")
DE_LINE = "de-stemcellbank:cell_line:BIONi010-B"
UK_LINE = "uk-hipsci:cell_line:WAe009-A"


@pytest.fixture
def pair(idp, engine_url, tmp_path):
    running = start_alliance(idp, engine_url, tmp_path, NODES)
    yield running
    running.stop()
    drop_indices(running.engine, running.index_prefix)


def rows_at_node(node, model, **where) -> int:
    with store_of(node.app).sessions() as session:
        return session.query(model).filter_by(**where).count()


def test_an_offline_node_gets_its_part_exactly_once_when_back(pair):
    de = pair.nodes["de-stemcellbank"]
    alice = login(pair.portal_url, "alice")
    de.stop()  # the German node goes down before the request is sent
    request_id = request_id_from(submit_request(alice, pair.portal_url, [DE_LINE, UK_LINE]))

    pair.deliver()
    for hours in (1, 2, 3):  # retries while it stays down, hours apart
        pair.deliver(later=3600 * hours)
    parts = {p.node_id: p for p in pair.request(request_id).parts}
    assert parts["uk-hipsci"].state == "under_review"
    assert parts["de-stemcellbank"].state == "submitted"
    assert parts["de-stemcellbank"].delivery == "pending"
    with pair.access.sessions() as session:
        waiting = session.query(PortalOutbox).filter_by(key=parts["de-stemcellbank"].id).one()
    assert waiting.attempts >= 4 and "not reachable" in waiting.last_error

    de.start()  # back, on the same port and database
    pair.deliver(later=3600 * 5)
    pair.deliver(later=3600 * 6)  # nothing left to send: no second copy
    part_id = parts["de-stemcellbank"].id
    assert rows_at_node(de, InboxPart, id=part_id) == 1
    assert rows_at_node(de, InboxEvent, part_id=part_id) == 1  # one "receive", not several
    assert {p.node_id: p.state for p in pair.request(request_id).parts} == {
        "de-stemcellbank": "under_review",
        "uk-hipsci": "under_review",
    }


def test_a_lost_answer_makes_a_repeat_that_changes_nothing(pair):
    alice = login(pair.portal_url, "alice")
    request_id = request_id_from(submit_request(alice, pair.portal_url, [DE_LINE]))
    with pair.access.sessions() as session:
        message = session.query(PortalOutbox).filter_by(kind="deliver_part").one()
        session.expunge(message)
    deliverer = pair.access.outbox.senders["deliver_part"]
    deliverer(message)  # the node stores the part; pretend its answer never arrived ...
    deliverer(message)  # ... so the portal sends it again
    pair.deliver()  # and the outbox, not knowing either, sends it a third time
    [part] = pair.request(request_id).parts
    de = pair.nodes["de-stemcellbank"]
    assert rows_at_node(de, InboxPart, id=part.id) == 1
    assert rows_at_node(de, InboxEvent, part_id=part.id) == 1
    with pair.access.sessions() as session:
        assert session.query(PartEvent).filter_by(part_id=part.id, type="receive").count() == 1


def test_a_decision_made_while_the_portal_is_down_arrives_once(pair):
    de = pair.nodes["de-stemcellbank"]
    alice = login(pair.portal_url, "alice")
    request_id = request_id_from(submit_request(alice, pair.portal_url, [DE_LINE]))
    pair.deliver()
    [part] = pair.request(request_id).parts
    bob = login(de.url, "bob")
    token = csrf(bob, f"{de.url}/inbox/{part.id}")

    port = pair.portal_server.server.server_address[1]
    pair.portal_server.stop()  # the portal goes down; the admin decides anyway
    resp = bob.post(f"{de.url}/inbox/{part.id}/approve", data={"csrf_token": token}, timeout=30)
    assert resp.status_code == 200
    for hours in (0, 1, 2):
        report = de.outbox.run_once(None if not hours else _later(hours))
        assert report.delivered == 0
    pair.portal_server = serve_in_thread(pair.portal_app, port)  # back
    pair.deliver(later=3600 * 3)
    pair.deliver(later=3600 * 4)
    [part] = pair.request(request_id).parts
    assert part.state == "approved"
    assert [e.type for e in part.events] == ["submit", "receive", "approve"]


def _later(hours: int):
    import datetime as dt

    return dt.datetime.now(dt.UTC) + dt.timedelta(hours=hours)


def test_notifications_go_out_by_email(idp, engine_url, tmp_path, smtp_sink):
    mail = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": smtp_sink.port, "SMTP_FROM": "p@example.org"}
    running = start_alliance(idp, engine_url, tmp_path, ("de-stemcellbank",), **mail)
    de = running.nodes["de-stemcellbank"]
    de.stop()
    de.config.update(mail, NODE_CONTACT_EMAIL="requests@stemcellbank.example.org")
    de.start()
    try:
        alice = login(running.portal_url, "alice")
        request_id = request_id_from(submit_request(alice, running.portal_url, [DE_LINE]))
        running.deliver()
        [part] = running.request(request_id).parts
        bob = login(de.url, "bob")
        token = csrf(bob, f"{de.url}/inbox/{part.id}")
        bob.post(f"{de.url}/inbox/{part.id}/approve", data={"csrf_token": token}, timeout=30)
        running.deliver()
        by_recipient: dict[str, list[str]] = {}
        for message in smtp_sink.messages:
            for rcpt in message["to"]:
                text = f"{message['subject']}\n{message['body']}"
                by_recipient.setdefault(rcpt, []).append(text)
        node_mail = by_recipient["requests@stemcellbank.example.org"]
        assert len(node_mail) == 1 and "New access request" in node_mail[0]
        assert f"/inbox/{part.id}" in node_mail[0]
        alice_mail = "\n".join(by_recipient["alice@example.org"])
        assert "was submitted to 1 biobank" in alice_mail
        assert "approved your request" in alice_mail
        assert f"/requests/{request_id}" in alice_mail
        assert len(by_recipient["alice@example.org"]) == 3  # submitted, received, approved
    finally:
        running.stop()
        drop_indices(running.engine, running.index_prefix)
