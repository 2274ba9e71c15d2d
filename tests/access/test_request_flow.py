"""The main path on real parts: a researcher asks two biobanks in one request, each biobank's
admin decides at their own node, and the researcher follows each answer."""

from __future__ import annotations

import re

import pytest

from federation.access.lifecycle import State
from tests.access.conftest import Alliance, csrf, login, request_id_from, submit_request

pytestmark = [pytest.mark.keycloak, pytest.mark.engine]

DE_LINE = "de-stemcellbank:cell_line:BIONi010-C"
DE_COLLECTION = "de-stemcellbank:collection:de-neurodegeneration"
UK_LINE = "uk-hipsci:cell_line:WAe001-A"


def test_one_request_two_biobanks_each_decides_at_its_node(alliance: Alliance):
    alice = login(alliance.portal_url, "alice")
    resp = submit_request(alice, alliance.portal_url, [DE_LINE, DE_COLLECTION, UK_LINE])
    request_id = request_id_from(resp)
    assert "Your request was submitted" in resp.text

    # Before delivery both parts wait at the portal.
    page = alice.get(f"{alliance.portal_url}/requests/{request_id}", timeout=30).text
    assert page.count('data-state="submitted"') == 2

    alliance.deliver()
    page = alice.get(f"{alliance.portal_url}/requests/{request_id}", timeout=30).text
    assert page.count('data-state="under_review"') == 2

    # Each node received exactly its biobank's part, with the items it holds.
    de_parts = alliance.nodes["de-stemcellbank"].inbox.parts({"de-ipsc-bank"})
    uk_parts = alliance.nodes["uk-hipsci"].inbox.parts({"uk-pscbank"})
    assert [p.request_id for p in de_parts] == [request_id]
    assert [p.request_id for p in uk_parts] == [request_id]
    assert {i["id"] for i in de_parts[0].payload["items"]} == {"BIONi010-C", "de-neurodegeneration"}
    assert not alliance.nodes["cn-nsccr"].inbox.parts({"cn-nsccr-main", "cn-partner-ipsc-lab"})

    # Bob, admin of the German biobanks, approves at his node with an MTA condition.
    de_url = alliance.nodes["de-stemcellbank"].url
    bob = login(de_url, "bob")
    inbox = bob.get(f"{de_url}/inbox", timeout=30)
    assert "Neurodevelopment organoids" in inbox.text
    part_id = de_parts[0].id
    approved = bob.post(
        f"{de_url}/inbox/{part_id}/approve",
        data={
            "conditions": ["mta"],
            "text": "Please sign the MTA first.",
            "csrf_token": csrf(bob, f"{de_url}/inbox/{part_id}"),
        },
        timeout=30,
    )
    assert approved.status_code == 200 and "Approved" in approved.text

    alliance.deliver()  # the node reports the decision to the portal
    page = alice.get(f"{alliance.portal_url}/requests/{request_id}", timeout=30).text
    de_section = page[page.index(f'id="part-{part_id}"') :]
    assert re.search(r'data-state="approved"', de_section.split("</section>")[0])
    assert "A material transfer agreement (MTA) must be signed" in page
    assert page.count('data-state="under_review"') == 1  # the UK part is still being reviewed

    # The decision reached alice's notifications, too.
    notes = alice.get(f"{alliance.portal_url}/notifications", timeout=30).text
    assert "approved your request" in notes

    # The mirrored state at the portal equals the node's, event for event.
    node_part = alliance.nodes["de-stemcellbank"].inbox.part(part_id, {"de-ipsc-bank"})
    assert node_part.state == State.APPROVED
    assert [e.type for e in node_part.events] == ["receive", "approve"]
