"""Terms that match and jurisdiction rules on real parts: Keycloak logins, the real index,
the portal and the Chinese node as HTTP servers. A line the Chinese biobank marks with
China's HGR regulation and a consent scope that excludes genetic modification: the cart
flags it before submission, a request from Germany without an approval reference is refused
with nothing stored, with the reference the node's admin sees it (and only they do), and
the node refuses to approve the incompatible line (no override by default)."""

from __future__ import annotations

import copy
import json

import pytest
import requests
from sqlalchemy import func, select

from cellfed.config import PROJECT_ROOT
from federation.node.importer import import_catalogue
from federation.node.store import store_of
from federation.registry import load_members
from portal.access.models import AccessRequest
from schemas.consent import DIMENSIONS
from search.indexer.sync import Indexer
from tests.access.conftest import Alliance, csrf, login, request_id_from, submit_request

pytestmark = [pytest.mark.keycloak, pytest.mark.engine]

CN = "cn-hgr-2019"
NODE = "cn-nsccr"
NO_MODIFICATION = {name: "allowed" for name in DIMENSIONS} | {"genetic_modification": "not_allowed"}
MARKED = {"WAe009-A": NO_MODIFICATION, "chHES-3": {name: "allowed" for name in DIMENSIONS}}
LINE, OTHER = f"{NODE}:cell_line:WAe009-A", f"{NODE}:cell_line:chHES-3"
DECLARATION = {
    **{f"consent_{name}": "no" for name in [*DIMENSIONS, "not_for_profit"]},
    "consent_research_use": "yes",
    "consent_not_for_profit": "yes",
    "consent_genetic_modification": "yes",
    "country": "DE",
    "institution": "Charité Berlin",
}


@pytest.fixture(scope="module")
def marked(alliance: Alliance) -> Alliance:
    """The Chinese node marks two lines with the HGR rule and a consent scope; re-indexed."""
    node = alliance.nodes[NODE]
    doc = json.loads((PROJECT_ROOT / "config" / "demo" / f"{NODE}.json").read_text())
    doc = copy.deepcopy(doc)
    for line in doc["cell_lines"]:
        if line["id"] in MARKED:
            line["access"] = {
                **line["access"],
                "consent_scope": MARKED[line["id"]],
                "export_rules": [CN],
            }
    assert import_catalogue(store_of(node.app), doc, f"{NODE}-marked.json").ok
    members = load_members(node.config["MEMBERS_FILE"])
    indexer = Indexer(alliance.engine, members, alliance.index_prefix, page_size=500, timeout=10)
    assert all(r.ok for r in indexer.sync_all())
    return alliance


def requests_stored(alliance: Alliance) -> int:
    with alliance.access.sessions() as session:
        return session.scalar(select(func.count()).select_from(AccessRequest))


def test_the_cart_flags_an_incompatible_line_before_submission(marked: Alliance):
    portal = marked.portal_url
    alice = login(portal, "alice")
    token = csrf(alice, f"{portal}/cart")
    assert alice.post(f"{portal}/cart/add", data={"uid": LINE, "csrf_token": token}).ok
    form = {
        "title": "Edited neurons",
        "intended_use": "DUO:0000006",
        "csrf_token": csrf(alice, f"{portal}/cart"),
        **DECLARATION,
    }
    page = alice.post(f"{portal}/cart/check", data=form, timeout=30)
    assert page.status_code == 200
    assert 'class="verdict verdict-incompatible"' in page.text
    assert "the line&#39;s consent excludes genetic modification" in page.text
    assert 'id="rule-cn-hgr-2019"' in page.text  # the form asks for the HGR reference
    assert 'name="hgr_approval_reference"' in page.text
    assert 'value="Edited neurons"' in page.text  # what was typed is kept


def test_hgr_material_from_abroad_needs_its_reference_and_the_admin_sees_it(marked: Alliance):
    portal = marked.portal_url
    alice = login(portal, "alice")
    before = requests_stored(marked)
    refused = submit_request(alice, portal, [LINE, OTHER], title="HGR lines", **DECLARATION)
    assert refused.status_code == 400
    assert "jurisdiction_references.cn-hgr-2019: Human genetic resources approval" in refused.text
    assert requests_stored(marked) == before  # nothing partly stored

    token = csrf(alice, f"{portal}/cart")
    given = alice.post(
        f"{portal}/requests",
        data={
            "title": "HGR lines",
            "description": "Derive cortical organoids to study neuronal migration defects.",
            "intended_use": "DUO:0000006",
            "ethics_ref": "EC-2026-042",
            "hgr_approval_reference": "HGR-2026-0118",
            "csrf_token": token,
            **DECLARATION,
        },
        timeout=30,
    )
    request_id = request_id_from(given)
    marked.deliver()
    [part] = marked.request(request_id).parts

    # Chen, the Chinese biobanks' admin, sees the node's own verdicts and the reference.
    node_url = marked.nodes[NODE].url
    chen = login(node_url, "chen")
    page = chen.get(f"{node_url}/inbox/{part.id}", timeout=30).text
    assert 'id="verdict-cell_line-WAe009-A"' in page
    verdict = page[page.index('id="verdict-cell_line-WAe009-A"') :].split("</li>")[0]
    assert "Incompatible" in verdict and "excludes genetic modification" in verdict
    assert "HGR-2026-0118" in page
    declared = page[page.index('id="declared"') :].split("</p>")[0]
    assert "The project will involve: research use; genetic modification." in declared
    assert "does not allow approving it" in page

    # The node's policy allows no override: approving is refused and changes nothing.
    approve = chen.post(
        f"{node_url}/inbox/{part.id}/approve",
        data={
            "override_reason": "trusted",
            "csrf_token": csrf(chen, f"{node_url}/inbox/{part.id}"),
        },
        timeout=30,
    )
    assert approve.status_code == 409
    assert "(WAe009-A) is incompatible with the project&#39;s terms" in approve.text
    assert marked.nodes[NODE].inbox.part(part.id, {part.biobank_id}).state == "under_review"

    # Someone else's admin (Bob runs German biobanks) sees neither verdicts nor reference.
    bob = login(node_url, "bob")
    other = bob.get(f"{node_url}/inbox/{part.id}", timeout=30)
    assert other.status_code == 403 and "HGR-2026-0118" not in other.text


def test_a_request_from_inside_china_needs_no_reference(marked: Alliance):
    portal = marked.portal_url
    erin = login(portal, "erin")
    inside = {**DECLARATION, "country": "CN", "institution": "Peking University"}
    resp = submit_request(erin, portal, [OTHER], title="Domestic", **inside)
    assert request_id_from(resp)


def test_the_consent_facet_finds_lines_by_what_their_consent_allows(marked: Alliance):
    api = f"{marked.portal_url}/api/v1/search"
    allows = requests_get(api, {"consent": "genetic_modification", "size": "50"})
    assert {h["uid"] for h in allows["hits"]} == {OTHER}
    every = requests_get(api, {"size": "50"})
    [facet] = [f for f in every["facets"] if f["name"] == "consent"]
    counts = {v["value"]: v["count"] for v in facet["values"]}
    assert counts["research_use"] == 2 and counts["genetic_modification"] == 1


def requests_get(url: str, params: dict[str, str]) -> dict:
    resp = requests.get(url, params=params, timeout=30)
    assert resp.status_code == 200, resp.text[:300]
    return resp.json()
