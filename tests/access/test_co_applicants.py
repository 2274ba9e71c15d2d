"""Co-applicants on real parts: Alice (researcher) adds Erin, another researcher of the realm,
by her e-mail address; Erin signs in through Keycloak's login form (her address is verified
there), reads the request and writes to the biobank; Bob sees her message under her name and
her among the part's co-applicants at his node; Erin cannot withdraw; once Alice removes her,
the request is 404 for her and the node's list is empty again. An account whose address
Keycloak has not verified never takes up an invitation to that address."""

from __future__ import annotations

import html
import re
import uuid

import pytest

from portal.access.models import Collaborator
from tests.access.conftest import Alliance, csrf, login, request_id_from, submit_request
from tests.builders.realm_admin import RealmAdmin

pytestmark = [pytest.mark.keycloak, pytest.mark.engine]

DE_LINE = "de-stemcellbank:cell_line:BIONi010-C"  # biobank de-ipsc-bank (bob's)


def test_a_co_applicant_reads_and_writes_and_loses_access_when_removed(alliance: Alliance):
    portal, de = alliance.portal_url, alliance.nodes["de-stemcellbank"]
    alice = login(portal, "alice")
    request_id = request_id_from(
        submit_request(alice, portal, [DE_LINE], title="Organoids with a co-applicant")
    )
    page_url = f"{portal}/requests/{request_id}"
    added = alice.post(
        f"{page_url}/co-applicants",
        data={"email": "erin@example.org", "csrf_token": csrf(alice, page_url)},
        timeout=30,
    )
    assert added.status_code == 200 and "erin@example.org is a co-applicant now" in added.text
    alliance.deliver()
    [part] = de.inbox.parts({"de-ipsc-bank"})
    assert part.request_id == request_id

    # Erin signs in: the invitation binds to her account, and she reads the whole request.
    erin = login(portal, "erin")
    assert "Organoids with a co-applicant" in erin.get(f"{portal}/requests", timeout=30).text
    page = erin.get(page_url, timeout=30)
    assert page.status_code == 200 and "You are a co-applicant on this request" in page.text
    assert "Withdraw this part" not in page.text and "Add co-applicant" not in page.text
    sent = erin.post(
        f"{page_url}/parts/{part.id}/message",
        data={"text": "I run the organoid assays.", "csrf_token": csrf(erin, page_url)},
        timeout=30,
    )
    assert sent.status_code == 200, sent.text[:300]
    refused = erin.post(
        f"{page_url}/parts/{part.id}/withdraw",
        data={"csrf_token": csrf(erin, page_url)},
        timeout=30,
    )
    assert refused.status_code == 403
    api_url = f"{portal}/api/v1/access/requests/{request_id}/co-applicants"
    listed = erin.get(api_url, timeout=30).json()
    assert listed["role"] == "collaborator"
    assert [(c["name"], c["joined"]) for c in listed["co_applicants"]] == [
        ("Erin Researcher", True)
    ]
    # Someone who is neither owner nor co-applicant (a biobank admin at the portal): 404.
    stranger = login(portal, "bob")
    assert stranger.get(page_url, timeout=30).status_code == 404
    assert stranger.get(api_url, timeout=30).status_code == 404
    alliance.deliver()

    # At the node, Bob sees Erin's message under her name, and Erin among the co-applicants.
    bob = login(de.url, "bob")
    node_page = html.unescape(bob.get(f"{de.url}/inbox/{part.id}", timeout=30).text)
    assert re.search(r"Message</strong> by Erin Researcher", node_page), node_page[-3000:]
    assert "I run the organoid assays." in node_page
    listed = node_page[node_page.index('id="co-applicants"') :].split("</td>")[0]
    assert "Erin Researcher" in listed and "erin@example.org" in listed
    assert [e.type for e in de.inbox.part(part.id, {"de-ipsc-bank"}).events] == [
        "receive",
        "message",
    ]

    # Bob answers; the news reaches Alice and Erin alike.
    answered = bob.post(
        f"{de.url}/inbox/{part.id}/message",
        data={"text": "Thanks, noted.", "csrf_token": csrf(bob, f"{de.url}/inbox/{part.id}")},
        timeout=30,
    )
    assert answered.status_code == 200
    alliance.deliver()
    for who in (alice, erin):
        assert "sent you a message about" in who.get(f"{portal}/notifications", timeout=30).text

    # Alice removes Erin: from now on the request reads as missing to her.
    owner_page = alice.get(page_url, timeout=30).text
    [remove_url] = re.findall(
        r'action="(/requests/[^"]+/co-applicants/[0-9a-f]{32}/remove)"', owner_page
    )
    removed = alice.post(
        f"{portal}{remove_url}", data={"csrf_token": csrf(alice, page_url)}, timeout=30
    )
    assert removed.status_code == 200 and "is no longer a co-applicant" in removed.text
    assert erin.get(page_url, timeout=30).status_code == 404
    assert "Organoids with a co-applicant" not in erin.get(f"{portal}/requests", timeout=30).text
    alliance.deliver()
    node_page = bob.get(f"{de.url}/inbox/{part.id}", timeout=30).text
    listed = node_page[node_page.index('id="co-applicants"') :].split("</td>")[0]
    assert "erin@example.org" not in listed


def test_an_invitation_never_binds_to_an_unverified_address(alliance: Alliance):
    """Keycloak says the address is Uma's but not verified: she reads nothing, and the
    invitation waits for a verified sign-in."""
    admin = RealmAdmin(alliance.idp)  # skips on a reused provider whose admin is unknown
    portal = alliance.portal_url
    name = f"uma-{uuid.uuid4().hex[:6]}"
    alice = login(portal, "alice")
    request_id = request_id_from(submit_request(alice, portal, [DE_LINE], title="Not for Uma"))
    page_url = f"{portal}/requests/{request_id}"
    added = alice.post(
        f"{page_url}/co-applicants",
        data={"email": f"{name}@example.org", "csrf_token": csrf(alice, page_url)},
        timeout=30,
    )
    assert added.status_code == 200
    user_id = admin.create_unverified(name, f"{name}@example.org")
    try:
        uma = login(portal, name)
        assert uma.get(page_url, timeout=30).status_code == 404
        assert "Not for Uma" not in uma.get(f"{portal}/requests", timeout=30).text
        with alliance.access.sessions() as session:
            [row] = session.query(Collaborator).filter_by(request_id=request_id).all()
        assert (row.user_sub, row.bound_at) == (None, None)
    finally:
        admin.call("DELETE", f"/users/{user_id}")
