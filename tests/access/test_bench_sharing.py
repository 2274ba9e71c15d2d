"""From cart to bench on real parts (Keycloak logins, node and portal servers, the search
engine): a researcher asks for vials of a lot, the biobank's approval holds them and search
shows the lower stock, the MTA travels as evidence both ways, the node ships and the
researcher's receipt fulfils the part. Someone else's account sees none of it."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from federation.registry import Member
from search.indexer.sync import Indexer
from tests.access.conftest import Alliance, csrf, login, request_id_from, submit_request

pytestmark = [pytest.mark.keycloak, pytest.mark.engine]

UK_LINE = "uk-hipsci:cell_line:WAe001-A"
LOT = "WAe001-A-L01"  # 25 vials in the demo catalogue
PDF = b"%PDF-1.4\n% the biobank's MTA\n%%EOF\n"
SIGNED = b"%PDF-1.4\n% signed by the researcher\n%%EOF\n"


def reindex(alliance: Alliance) -> None:
    """One pass of the indexer over the nodes' feeds, as its daemon makes every few seconds."""
    members = [Member(n, n, node.url) for n, node in alliance.nodes.items()]
    indexer = Indexer(alliance.engine, members, alliance.index_prefix, page_size=500, timeout=10)
    assert all(r.ok for r in indexer.sync_all())
    alliance.engine.refresh(f"{alliance.index_prefix}*")


def published(alliance: Alliance) -> tuple[int, int, int]:
    """The line as search shows it: vials free in all lots; the lot's stock and held vials."""
    doc = alliance.access.service.lookup(UK_LINE)
    assert doc is not None
    [lot] = [x for x in doc["record"]["lots"] if x["lot_id"] == LOT]
    return doc["vials_available"], lot["vials_available"], lot.get("vials_held", 0)


def node_post(session, node_url: str, part_id: str, action: str, data=None, files=None):
    token = csrf(session, f"{node_url}/inbox/{part_id}")
    return session.post(
        f"{node_url}/inbox/{part_id}/{action}",
        data={**(data or {}), "csrf_token": token},
        files=files,
        timeout=30,
    )


def portal_post(session, portal: str, request_id: str, path: str, data=None, files=None):
    token = csrf(session, f"{portal}/requests/{request_id}")
    return session.post(
        f"{portal}/requests/{request_id}/{path}",
        data={**(data or {}), "csrf_token": token},
        files=files,
        timeout=30,
    )


def ask_for_vials(alliance: Alliance, alice) -> str:
    """Alice asks for 3 vials of the lot; 30 is more than it has and is refused first."""
    portal = alliance.portal_url
    cart = alice.post(
        f"{portal}/cart/add",
        data={"uid": UK_LINE, "csrf_token": csrf(alice, f"{portal}/cart")},
        timeout=30,
    )
    assert f"lot {LOT}: 25 vials" in cart.text  # the cart shows what is available now
    for quantity in ("30", "3"):
        alice.post(
            f"{portal}/cart/amount",
            data={
                "uid": UK_LINE,
                "quantity": quantity,
                "lot_id": LOT,
                "csrf_token": csrf(alice, f"{portal}/cart"),
            },
            timeout=30,
        )
        resp = submit_request(alice, portal, [], title="Retinal organoids")
        if quantity == "30":
            assert resp.status_code == 400
            assert f"{UK_LINE}: 30 vial(s) of lot {LOT} asked, 25 available now" in resp.text
    return request_id_from(resp)


def test_from_cart_to_bench(alliance: Alliance):
    portal, uk = alliance.portal_url, alliance.nodes["uk-hipsci"].url
    alice, erin, dave = login(portal, "alice"), login(portal, "erin"), login(uk, "dave")
    assert published(alliance) == (25, 25, 0)
    request_id = ask_for_vials(alliance, alice)
    alliance.deliver()
    [part] = alliance.request(request_id).parts
    assert part.items[0]["quantity"] == 3 and part.items[0]["lot_id"] == LOT

    # Dave approves at his node with an MTA, holding the 3 vials for ten days.
    page = dave.get(f"{uk}/inbox/{part.id}", timeout=30).text
    assert f"3 vial(s) of lot {LOT}" in page
    until = (dt.date.today() + dt.timedelta(days=10)).isoformat()
    approved = node_post(
        dave, uk, part.id, "approve-with-holds",
        {f"hold|WAe001-A|{LOT}": "3", "until": until, "conditions": "mta"},
    )  # fmt: skip
    assert approved.status_code == 200 and "the vials are held" in approved.text
    reindex(alliance)
    assert published(alliance) == (22, 25, 3)

    # The MTA: dave's document, alice's signed copy, dave's countersignature.
    sent = node_post(
        dave, uk, part.id, "evidence", {"condition": "mta", "kind": "mta_document"},
        files={"document": ("mta.pdf", PDF, "application/pdf")},
    )  # fmt: skip
    assert sent.status_code == 200
    alliance.deliver()
    page = alice.get(f"{portal}/requests/{request_id}", timeout=30).text
    [link] = re.findall(rf"/requests/{request_id}/parts/{part.id}/documents/([0-9a-f]{{32}})", page)
    mta = alice.get(f"{portal}/requests/{request_id}/parts/{part.id}/documents/{link}", timeout=30)
    assert mta.status_code == 200 and mta.content == PDF
    theft = erin.get(f"{portal}/requests/{request_id}/parts/{part.id}/documents/{link}", timeout=30)
    assert theft.status_code == 404
    signed = portal_post(
        alice, portal, request_id, f"parts/{part.id}/signed-copy",
        files={"document": ("mta-signed.pdf", SIGNED, "application/pdf")},
    )  # fmt: skip
    assert signed.status_code == 200 and "waiting for the biobank" in signed.text
    assert portal_post(
        erin, portal, request_id, f"parts/{part.id}/signed-copy",
        files={"document": ("x.pdf", SIGNED, "application/pdf")},
    ).status_code == 404  # fmt: skip
    alliance.deliver()
    page = dave.get(f"{uk}/inbox/{part.id}", timeout=30).text
    [copy_id] = re.findall(rf"/inbox/{part.id}/evidence/([0-9a-f]{{32}})\">mta-signed.pdf", page)
    fetched = dave.get(f"{uk}/inbox/{part.id}/evidence/{copy_id}", timeout=30)
    assert fetched.status_code == 200 and fetched.content == SIGNED  # through the portal
    countersigned = node_post(
        dave, uk, part.id, "evidence", {"condition": "mta", "kind": "countersignature"},
        files={"document": ("mta-final.pdf", PDF, "application/pdf")},
    )  # fmt: skip
    assert countersigned.status_code == 200

    # Dave ships 3 vials on dry ice; the stock goes down for good.
    today = dt.date.today().isoformat()
    shipped = node_post(
        dave, uk, part.id, "ship",
        {"carrier": "World Courier", "tracking_number": "WC 42", "shipped_on": today,
         "conditions": "dry_ice", f"ship|WAe001-A|{LOT}": "3"},
    )  # fmt: skip
    assert shipped.status_code == 200 and "Shipment recorded" in shipped.text
    reindex(alliance)
    assert published(alliance) == (22, 22, 0)
    alliance.deliver()
    page = alice.get(f"{portal}/requests/{request_id}", timeout=30).text
    assert 'data-state="shipped"' in page and "tracking number WC 42" in page
    notes = alice.get(f"{portal}/notifications", timeout=30).text
    assert "has shipped the material" in notes

    # Alice confirms receipt: erin cannot, a date in the future is refused, then fulfilled.
    receipt = {"received_on": today, "state": "good", "note": "All frozen."}
    assert (
        portal_post(erin, portal, request_id, f"parts/{part.id}/receipt", receipt).status_code
        == 404
    )
    # A typed date may be UTC's tomorrow (the person's own today, further east): two days on.
    later = (dt.date.today() + dt.timedelta(days=2)).isoformat()
    early = portal_post(
        alice, portal, request_id, f"parts/{part.id}/receipt", {**receipt, "received_on": later}
    )
    assert early.status_code == 400 and f"received on: {later} is in the future" in early.text
    done = portal_post(alice, portal, request_id, f"parts/{part.id}/receipt", receipt)
    assert done.status_code == 200
    alliance.deliver()
    page = alice.get(f"{portal}/requests/{request_id}", timeout=30).text
    assert 'data-state="fulfilled"' in page
    node_part = alliance.nodes["uk-hipsci"].inbox.part(part.id, {"uk-pscbank"})
    assert [e.type for e in node_part.events] == [
        "receive",
        "approve",
        "evidence",
        "evidence",
        "evidence",
        "ship",
        "confirm_receipt",
    ]
    assert node_part.events[-1].text == f"Received on {today}; state on arrival: good. All frozen."
