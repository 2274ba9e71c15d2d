"""Push mode's access half on real servers and real Keycloak tokens: the portal holds a
push-mode node's part and a researcher's message in its mailbox instead of calling the
node; the node fetches them with its own token, and its admin's approval reaches the portal.
Another node's token can neither read nor acknowledge that mailbox."""

from __future__ import annotations

import re

import pytest
import requests

from federation.node.inbox.co_applicants import co_applicants_of
from federation.node.inbox.models import InboxEvent, InboxPart
from federation.node.inbox.portal_messages import apply_message
from federation.node.mailbox_client import mailbox_client_for
from portal.access.mailbox import body_of
from portal.access.models import PortalOutbox
from search.aliases import drop_indices
from tests.access.conftest import (
    csrf,
    login,
    machine_token,
    request_id_from,
    start_alliance,
    submit_request,
)
from tests.access.test_delivery import rows_at_node
from tests.access.test_request_flow import researcher_acts

pytestmark = [pytest.mark.keycloak, pytest.mark.engine]

PUSH, PULL = "de-stemcellbank", "uk-hipsci"
DE_LINE = "de-stemcellbank:cell_line:BIONi010-C"
UK_LINE = "uk-hipsci:cell_line:WAe001-A"


def make_push(alliance, node_id: str) -> None:
    """Mark ``node_id`` push in the member registry (as its operator would) and at the node."""
    members = alliance.access.config["MEMBERS_FILE"]
    with open(members, encoding="utf-8") as fh:
        text = fh.read()
    entry = f'id = "{node_id}"\n'
    with open(members, "w", encoding="utf-8") as fh:
        fh.write(text.replace(entry, entry + 'mode = "push"\n'))
    alliance.access.members.cache_clear()
    alliance.nodes[node_id].app.config["NODE_MODE"] = "push"


@pytest.fixture
def mixed(idp, engine_url, tmp_path):
    running = start_alliance(idp, engine_url, tmp_path, (PUSH, PULL))
    make_push(running, PUSH)
    yield running
    running.stop()
    drop_indices(running.engine, running.index_prefix)


def open_for(alliance, node_id: str) -> list[PortalOutbox]:
    return alliance.access.mailbox.open_messages(node_id, 0)


def test_a_push_node_gets_its_part_and_a_message_by_mailbox_and_its_approval_returns(mixed):
    portal, de = mixed.portal_url, mixed.nodes[PUSH]
    alice = login(portal, "alice")
    request_id = request_id_from(submit_request(alice, portal, [DE_LINE, UK_LINE]))
    mixed.deliver()
    parts = {p.node_id: p for p in mixed.request(request_id).parts}
    assert parts[PULL].state == "under_review"  # called as before
    assert parts[PUSH].state == "submitted"  # held, not sent: the portal never called it
    assert not de.inbox.parts({"de-ipsc-bank"})
    [held] = open_for(mixed, PUSH)
    assert held.kind == "deliver_part" and "mailbox" in held.last_error

    client = mailbox_client_for(de.app)
    client.wait = 2
    report = client.poll_once()
    assert (report.received, report.applied, report.refused) == (1, 1, 0)
    part_id = parts[PUSH].id
    assert [p.id for p in de.inbox.parts({"de-ipsc-bank"})] == [part_id]
    states = {p.node_id: p.state for p in mixed.request(request_id).parts}
    assert states[PUSH] == "under_review"  # the "receive" came back with the ack
    assert open_for(mixed, PUSH) == []

    sent = researcher_acts(alice, portal, request_id, part_id, "message", "Passage 20 ok?")
    assert sent.status_code == 200
    mixed.deliver()
    [action] = open_for(mixed, PUSH)
    assert action.kind == "action"
    assert client.poll_once().applied == 1
    node_part = de.inbox.part(part_id, {"de-ipsc-bank"})
    assert [e.type for e in node_part.events] == ["receive", "message"]
    # A repeat (an ack that was lost) changes nothing: same event, not stored again.
    again = apply_message(de.inbox, "action", part_id, body_of(action))
    assert again.status == 200 and again.events[0]["id"] == action.payload["action"]["id"]
    assert rows_at_node(de, InboxEvent, part_id=part_id) == 2
    assert rows_at_node(de, InboxPart, id=part_id) == 1

    # A co-applicant list goes the same way: held, fetched, stored at the node.
    page_url = f"{portal}/requests/{request_id}"
    added = alice.post(
        f"{page_url}/co-applicants",
        data={"email": "erin@example.org", "csrf_token": csrf(alice, page_url)},
        timeout=30,
    )
    assert added.status_code == 200
    mixed.deliver()
    assert [m.kind for m in open_for(mixed, PUSH)] == ["co_applicants"]
    assert client.poll_once().applied == 1
    with de.inbox.sessions() as session:
        assert [c.email for c in co_applicants_of(session, part_id)] == ["erin@example.org"]

    bob = login(de.url, "bob")  # the admin's pages stay on the node's own (loopback) port
    approved = bob.post(
        f"{de.url}/inbox/{part_id}/approve",
        data={"text": "Fine.", "csrf_token": csrf(bob, f"{de.url}/inbox/{part_id}")},
        timeout=30,
    )
    assert approved.status_code == 200 and "Approved" in approved.text
    mixed.deliver()  # the node's own report goes out, node -> portal, as in pull mode
    page = alice.get(f"{portal}/requests/{request_id}", timeout=30).text
    section = page[page.index(f'id="part-{part_id}"') :].split("</section>")[0]
    assert re.search(r'data-state="approved"', section)


def test_another_nodes_token_cannot_read_or_ack_this_mailbox(idp, mixed):
    alice = login(mixed.portal_url, "alice")
    request_id_from(submit_request(alice, mixed.portal_url, [DE_LINE]))
    [held] = open_for(mixed, PUSH)
    url = f"{mixed.portal_url}/api/v1/nodes/{PUSH}/mailbox"
    for client_id in (PULL, "portal"):
        headers = {"Authorization": f"Bearer {machine_token(idp, client_id)}"}
        read = requests.get(url, headers=headers, timeout=30)
        if client_id == PULL:  # a member's token, but not this node's
            assert read.status_code == 403, read.text
            assert "own mailbox only" in read.json()["detail"]
        else:  # the portal's own token is not for the portal's API (audience), nor a node's
            assert read.status_code in (401, 403), read.text
        ack = requests.post(
            f"{url}/ack", json={"acks": [{"id": held.id}]}, headers=headers, timeout=30
        )  # noqa: E501
        assert ack.status_code == read.status_code
    own = {"Authorization": f"Bearer {machine_token(idp, PULL)}"}
    pull_box = requests.get(
        f"{mixed.portal_url}/api/v1/nodes/{PULL}/mailbox", headers=own, timeout=30
    )  # noqa: E501
    assert pull_box.status_code == 404 and "not a push-mode member" in pull_box.json()["detail"]
    # The node's own token sees it, and an id that is not its message is refused whole.
    mine = {"Authorization": f"Bearer {machine_token(idp, PUSH)}"}
    seen = requests.get(url, headers=mine, params={"wait": "0"}, timeout=30).json()
    assert [m["id"] for m in seen["messages"]] == [held.id]
    stranger = requests.post(
        f"{url}/ack", json={"acks": [{"id": held.id}, {"id": 10**6}]}, headers=mine, timeout=30
    )
    assert stranger.status_code == 404 and str(10**6) in stranger.json()["detail"]
    assert [m.id for m in open_for(mixed, PUSH)] == [held.id]  # still open: nothing stored
    bad = requests.get(url, headers=mine, params={"after": "soon"}, timeout=30)
    assert bad.status_code == 400 and "'after'" in bad.json()["detail"]


MTA_PDF = b"%PDF-1.4\n% the push-mode biobank's MTA\n%%EOF\n"


def test_a_push_nodes_mta_document_reaches_the_researcher_without_the_node_being_called(mixed):
    """The document goes out with the node's evidence event and the portal keeps its copy:
    with no route from the portal to the node, the owner still reads it; a stranger cannot."""
    portal, de = mixed.portal_url, mixed.nodes[PUSH]
    alice, erin = login(portal, "alice"), login(portal, "erin")
    request_id = request_id_from(submit_request(alice, portal, [DE_LINE]))
    mixed.deliver()
    client = mailbox_client_for(de.app)
    client.wait = 2
    assert client.poll_once().applied == 1
    [part] = mixed.request(request_id).parts
    # From here on the portal has no route to the node: its registry entry leads nowhere.
    members = mixed.access.config["MEMBERS_FILE"]
    with open(members, encoding="utf-8") as fh:
        text = fh.read()
    with open(members, "w", encoding="utf-8") as fh:
        fh.write(text.replace(de.url, "http://127.0.0.1:9"))  # nothing listens: refused
    mixed.access.members.cache_clear()

    bob = login(de.url, "bob")  # the admin's pages stay on the node's own (loopback) port
    page_url = f"{de.url}/inbox/{part.id}"
    approved = bob.post(
        f"{page_url}/approve",
        data={"text": "Fine.", "conditions": "mta", "csrf_token": csrf(bob, page_url)},
        timeout=30,
    )
    assert approved.status_code == 200 and "Approved" in approved.text
    sent = bob.post(
        f"{page_url}/evidence",
        data={"condition": "mta", "kind": "mta_document", "csrf_token": csrf(bob, page_url)},
        files={"document": ("mta.pdf", MTA_PDF, "application/pdf")},
        timeout=30,
    )
    assert sent.status_code == 200, sent.text[-600:]
    mixed.deliver()  # node -> portal only

    page = alice.get(f"{portal}/requests/{request_id}", timeout=30).text
    [link] = re.findall(rf"/requests/{request_id}/parts/{part.id}/documents/([0-9a-f]{{32}})", page)
    url = f"{portal}/requests/{request_id}/parts/{part.id}/documents/{link}"
    mta = alice.get(url, timeout=30)
    assert mta.status_code == 200 and mta.content == MTA_PDF
    assert erin.get(url, timeout=30).status_code == 404
    assert open_for(mixed, PUSH) == []  # nothing was held for the node on the way
