"""The admin's pages for holds, evidence and shipment at a real node app: plain forms with the
CSRF field, refusals shown on the part's page with nothing changed, and someone else's
admin gets 404 for every one of them (IDOR)."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest

from federation.node.app import create_app
from federation.node.importer import import_catalogue
from federation.node.inbox.service import inbox_of
from federation.node.store import store_of
from federation.web.login import SESSION_ID, User, open_session
from tests.builders import catalogue, cell_line
from tests.unit.stock_helpers import lots, receive

P1 = "1" * 32
NODE = "test-node"


@pytest.fixture
def app(tmp_path):
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'n.sqlite3'}", "NODE_ID": NODE})
    stock = [{"lot_id": "A", "vials_available": 5}, {"lot_id": "B", "vials_available": 2}]
    assert import_catalogue(store_of(app), catalogue(cell_line("L1", lots=stock)), "t").ok
    receive(inbox_of(app), P1)
    return app


def signed_in(app, sub: str, biobank: str):
    client = app.test_client()
    user = User.from_session(
        {
            "iss": "https://idp.example",
            "sub": sub,
            "name": sub.capitalize(),
            "roles": ["biobank-admin"],
            "biobanks": [f"{NODE}:{biobank}"],
        }
    )
    with client.session_transaction() as session:
        session[SESSION_ID] = open_session(app, user)
    return client


def csrf(client) -> str:
    page = client.get(f"/inbox/{P1}").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_an_admin_holds_vials_adds_evidence_and_ships_through_the_pages(app):
    bob = signed_in(app, "bob", "bb-berlin")
    page = bob.get(f"/inbox/{P1}").get_data(as_text=True)
    assert 'name="hold|L1|A"' in page and "(5 free of 5)" in page
    token = csrf(bob)
    approve = {"csrf_token": token, "hold|L1|A": "3", "until": "2099-01-01", "conditions": "fee"}
    refused = bob.post(f"/inbox/{P1}/approve-with-holds", data={**approve, "until": "2020-01-01"})
    assert refused.status_code == 409
    assert "hold until 2020-01-01: the date is in the past" in refused.get_data(as_text=True)
    assert lots(store_of(app)) == {"A": (5, 0), "B": (2, 0)}
    # HOLD_MAX_DAYS caps how far ahead: 2099 is too far; a date within it works.
    far = bob.post(f"/inbox/{P1}/approve-with-holds", data=approve)
    assert far.status_code == 409 and "at most 90 days ahead" in far.get_data(as_text=True)
    soon = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    done = bob.post(f"/inbox/{P1}/approve-with-holds", data={**approve, "until": soon})
    assert done.status_code == 302
    assert lots(store_of(app)) == {"A": (5, 3), "B": (2, 0)}
    page = bob.get(f"/inbox/{P1}").get_data(as_text=True)
    assert "Vials held" in page and "Record the shipment" in page
    ship = {
        "csrf_token": token,
        "carrier": "Courier",
        "tracking_number": "T1",
        "shipped_on": dt.date.today().isoformat(),
        "conditions": "dry_ice",
        "ship|L1|A": "3",
    }
    early = bob.post(f"/inbox/{P1}/ship", data=ship)
    assert early.status_code == 409
    assert "condition fee: missing the biobank" in early.get_data(as_text=True)
    met = bob.post(
        f"/inbox/{P1}/evidence",
        data={"csrf_token": token, "condition": "fee", "kind": "met", "note": "Invoice paid"},
    )
    assert met.status_code == 302
    shipped = bob.post(f"/inbox/{P1}/ship", data=ship)
    assert shipped.status_code == 302
    assert lots(store_of(app)) == {"A": (2, 0), "B": (2, 0)}
    page = bob.get(f"/inbox/{P1}").get_data(as_text=True)
    assert "Sent on" in page and "tracking number T1" in page


def test_someone_elses_admin_gets_404_everywhere(app):
    bob = signed_in(app, "bob", "bb-berlin")
    token = csrf(bob)
    eve = signed_in(app, "eve", "bb-other")
    with eve.session_transaction() as session:
        session["_csrf"] = token
    for path, data in [
        (f"/inbox/{P1}/approve-with-holds", {"hold|L1|A": "1", "until": "2099-01-01"}),
        (f"/inbox/{P1}/evidence", {"condition": "fee", "kind": "met", "note": "x"}),
        (f"/inbox/{P1}/release", {"text": "not mine"}),
        (f"/inbox/{P1}/ship", {"carrier": "c", "tracking_number": "t", "conditions": "dry_ice"}),
    ]:
        assert eve.post(path, data={**data, "csrf_token": token}).status_code == 404
    assert eve.get(f"/inbox/{P1}/evidence/{'9' * 32}").status_code == 404
    assert lots(store_of(app)) == {"A": (5, 0), "B": (2, 0)}
    assert inbox_of(app).part(P1, {"bb-berlin"}).state == "under_review"


def test_a_document_of_the_wrong_type_is_refused_on_the_page(app):
    bob = signed_in(app, "bob", "bb-berlin")
    token = csrf(bob)
    soon = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    data = {"csrf_token": token, "hold|L1|A": "1", "until": soon, "conditions": "mta"}
    assert bob.post(f"/inbox/{P1}/approve-with-holds", data=data).status_code == 302
    sent = bob.post(
        f"/inbox/{P1}/evidence",
        data={
            "csrf_token": token,
            "condition": "mta",
            "kind": "mta_document",
            "document": (io.BytesIO(b"just words"), "mta.txt"),
        },
        content_type="multipart/form-data",
    )
    assert sent.status_code == 409
    assert "mta.txt: the biobank&#39;s mta document must be a PDF document, not text/plain" in (
        sent.get_data(as_text=True)
    )
