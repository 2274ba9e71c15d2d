"""The main path on real parts: a researcher asks two biobanks in one request, each biobank's
admin decides at their own node, and the researcher follows each answer."""

from __future__ import annotations

import re

import pytest

from schemas.lifecycle import State
from tests.access.conftest import Alliance, csrf, login, request_id_from, submit_request

pytestmark = [pytest.mark.keycloak, pytest.mark.engine]

DE_LINE = "de-stemcellbank:cell_line:BIONi010-C"
DE_COLLECTION = "de-stemcellbank:collection:de-neurodegeneration"
UK_LINE = "uk-hipsci:cell_line:WAe001-A"
DE_LINE_UNIKLINIK = "de-stemcellbank:cell_line:UKKi006-A"


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


def decide(session, node_url: str, part_id: str, event: str, **form) -> object:
    token = csrf(session, f"{node_url}/inbox/{part_id}")
    return session.post(
        f"{node_url}/inbox/{part_id}/{event}", data={**form, "csrf_token": token}, timeout=30
    )


def researcher_acts(session, portal: str, request_id: str, part_id: str, event: str, text=""):
    token = csrf(session, f"{portal}/requests/{request_id}")
    return session.post(
        f"{portal}/requests/{request_id}/parts/{part_id}/{event}",
        data={"text": text, "csrf_token": token},
        timeout=30,
    )


def test_questions_answers_and_a_reasoned_rejection(alliance: Alliance):
    portal, de = alliance.portal_url, alliance.nodes["de-stemcellbank"].url
    alice = login(portal, "alice")
    request_id = request_id_from(
        submit_request(alice, portal, [DE_LINE_UNIKLINIK], title="Cardiac")
    )
    alliance.deliver()
    [part] = alliance.request(request_id).parts
    bob = login(de, "bob")

    # Rejecting needs a reason; the refusal changes nothing.
    refused = decide(bob, de, part.id, "reject", text="  ")
    assert refused.status_code == 409 and "a reason is required" in refused.text
    # Fulfilling before approval is not a step the machine knows.
    refused = decide(bob, de, part.id, "fulfil")
    assert (
        refused.status_code == 409 and "cannot fulfil a part that is under review" in refused.text
    )

    assert decide(bob, de, part.id, "request_info", text="Which passages?").status_code == 200
    alliance.deliver()
    page = alice.get(f"{portal}/requests/{request_id}", timeout=30).text
    assert 'data-state="information_requested"' in page and "Which passages?" in page

    # Alice answers; her answer is pending until the node confirms it.
    resp = researcher_acts(alice, portal, request_id, part.id, "provide_info", "Below p30.")
    assert resp.status_code == 200 and "waiting for the biobank" in resp.text
    # A second state change while the first is on its way is refused.
    again = researcher_acts(alice, portal, request_id, part.id, "withdraw")
    assert again.status_code == 409 and "still on its way" in again.text
    alliance.deliver()
    page = alice.get(f"{portal}/requests/{request_id}", timeout=30).text
    assert 'data-state="under_review"' in page and "waiting for the biobank" not in page

    assert decide(bob, de, part.id, "reject", text="Line out of stock.").status_code == 200
    alliance.deliver()
    page = alice.get(f"{portal}/requests/{request_id}", timeout=30).text
    assert 'data-state="rejected"' in page and "Line out of stock." in page
    # Nothing more can be done to a rejected part, by either side.
    late = researcher_acts(alice, portal, request_id, part.id, "withdraw")
    assert late.status_code == 409 and "cannot withdraw a part that is rejected" in late.text
    node_part = alliance.nodes["de-stemcellbank"].inbox.part(part.id, {"de-uniklinik-core"})
    assert [e.type for e in node_part.events] == [
        "receive",
        "request_info",
        "provide_info",
        "reject",
    ]
    # The audit trail at the portal shows who did what, in order, with the node's numbers.
    mirrored = alliance.request(request_id).parts[0]
    assert [(e.seq, e.type, e.actor_name) for e in mirrored.events] == [
        (None, "submit", "Alice Researcher"),
        (1, "receive", "de-stemcellbank (test)"),
        (2, "request_info", "Bob Biobanker"),
        (3, "provide_info", "Alice Researcher"),
        (4, "reject", "Bob Biobanker"),
    ]


def test_a_researcher_withdraws_and_the_node_sees_it(alliance: Alliance):
    portal, uk = alliance.portal_url, alliance.nodes["uk-hipsci"].url
    alice = login(portal, "alice")
    request_id = request_id_from(submit_request(alice, portal, [UK_LINE], title="Withdrawn"))
    alliance.deliver()
    [part] = alliance.request(request_id).parts
    assert researcher_acts(alice, portal, request_id, part.id, "withdraw").status_code == 200
    alliance.deliver()
    assert alliance.nodes["uk-hipsci"].inbox.part(part.id, {"uk-pscbank"}).state == "withdrawn"
    page = alice.get(f"{portal}/requests/{request_id}", timeout=30).text
    assert 'data-state="withdrawn"' in page
    dave = login(uk, "dave")
    refused = decide(dave, uk, part.id, "approve")
    assert refused.status_code == 409 and "cannot approve a part that is withdrawn" in refused.text


def test_logout_ends_the_session_here_and_at_the_provider(alliance: Alliance):
    portal = alliance.portal_url
    alice = login(portal, "alice")
    token = csrf(alice, f"{portal}/cart")
    out = alice.post(f"{portal}/logout", data={"csrf_token": token}, timeout=30)
    assert out.status_code == 200 and out.url.startswith(portal), (out.url, out.text[:300])
    gone = alice.get(f"{portal}/requests", allow_redirects=False, timeout=30)
    assert gone.status_code == 302 and "/login" in gone.headers["Location"]
    # The provider's session ended too: logging in again asks for the password.
    again = alice.get(f"{portal}/login", timeout=30)
    assert 'id="kc-form-login"' in again.text


def test_a_login_answer_that_was_not_asked_for_is_refused(alliance: Alliance):
    from tests.access.conftest import LoopbackSession

    portal = alliance.portal_url
    stranger = LoopbackSession()
    resp = stranger.get(f"{portal}/auth/callback?code=abc&state=forged", timeout=30)
    assert resp.status_code == 400 and "log in again" in resp.text
    resp = stranger.get(f"{portal}/auth/callback?code=abc&state=x&iss=https://evil", timeout=30)
    assert resp.status_code == 400 and "another identity provider" in resp.text
    assert stranger.get(f"{portal}/requests", allow_redirects=False).status_code == 302
