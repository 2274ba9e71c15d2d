"""Every object endpoint of a node (a part and what hangs on it: its page, holds, evidence,
documents, shipment, and the API the portal calls) tried by everyone who might: the portal's
token, the part's biobank admin, another biobank's admin at the same node, a researcher's
session and nobody. Listed from the node's url map, so a new endpoint without a row fails.
(The admin's record pages are tests/unit/test_admin_authz.py's.)"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import io

import pytest
from flask import Flask
from flask.testing import FlaskClient

from federation.node.app import create_app
from federation.node.identity import IDENTITY_KEY, identity_of
from federation.node.importer import import_catalogue
from federation.node.inbox.models import ConditionEvidence
from federation.node.inbox.service import inbox_of
from federation.node.store import store_of
from federation.web.csrf import SESSION_KEY
from federation.web.login import SESSION_ID, User, open_session
from schemas.access import PartSchema
from tests.builders import catalogue, cell_line
from tests.unit.stock_helpers import lots, part
from tests.unit.test_collaborators import PORTAL_TOKEN, PortalVerifier

NODE = "test-node"
P1 = "1" * 32
TOKEN = "a-csrf-token-of-this-session"
PDF = b"%PDF-1.7\nthe biobank's MTA\n%%EOF\n"
ATTACHMENT = {
    "id": "a" * 32,
    "filename": "ethics.pdf",
    "content_type": "application/pdf",
    "size": 10,
    "sha256": "0" * 64,
}


BOB = User.from_session(
    {"iss": "https://idp.example", "sub": "bob", "name": "Bob", "roles": ["biobank-admin"],
     "biobanks": [f"{NODE}:bb-berlin"]}
)  # fmt: skip
EVE = User.from_session(
    {"iss": "https://idp.example", "sub": "eve", "name": "Eve", "roles": ["biobank-admin"],
     "biobanks": [f"{NODE}:bb-other"]}
)  # fmt: skip
# Alice requested the part: at the node she is a signed-in researcher, no biobank's admin.
ALICE = User.from_session(
    {"iss": "https://idp.example.org", "sub": "s1", "name": "Alice", "roles": ["researcher"]}
)
WHO = ("portal", "admin", "other admin", "researcher", "nobody")
MTA = object()  # stands for a fresh upload of the biobank's MTA (a file is read once)


def payload() -> dict:
    return {**part(P1), "attachments": [ATTACHMENT]}


# endpoint -> (method, path with {p} {a} {e}, form or JSON, expected status for: the
# portal's token, the part's admin, another biobank's admin, a researcher, nobody).
# None: not tried (release and ship are the admin's in test_sharing_pages.py). The admin's
# 409 and 503: past the check, refused by the part's state, or at the portal that is not
# reachable here (no client secret). Pages: a token is no login (a GET goes to the login
# page, 302; a POST is 401); a researcher administers nothing here (403).
PAGE_NO_LOGIN = 302
CASES: dict[str, list[tuple[str, str, object, tuple[int | None, ...]]]] = {
    "inbox.part_page": [("GET", "/inbox/{p}", {}, (PAGE_NO_LOGIN, 200, 404, 403, PAGE_NO_LOGIN))],
    "inbox.act": [("POST", "/inbox/{p}/message", {"text": "hi"}, (401, 302, 404, 403, 401))],
    "inbox.attachment": [
        ("GET", "/inbox/{p}/attachments/{a}", {}, (PAGE_NO_LOGIN, 503, 404, 403, PAGE_NO_LOGIN))
    ],
    "sharing.approve": [
        (
            "POST",
            "/inbox/{p}/approve-with-holds",
            {"hold|L1|A": "1", "until": "{soon}"},
            (401, 409, 404, 403, 401),
        )
    ],
    "sharing.evidence": [("POST", "/inbox/{p}/evidence", MTA, (401, 302, 404, 403, 401))],
    "sharing.document": [
        ("GET", "/inbox/{p}/evidence/{e}", {}, (PAGE_NO_LOGIN, 200, 404, 403, PAGE_NO_LOGIN))
    ],
    "sharing.release": [("POST", "/inbox/{p}/release", {"text": "x"}, (401, None, 404, 403, 401))],
    "sharing.ship": [
        (
            "POST",
            "/inbox/{p}/ship",
            {"carrier": "c", "tracking_number": "t", "conditions": "dry_ice", "ship|L1|A": "1"},
            (401, None, 404, 403, 401),
        )
    ],
    # The portal's API: its token only; no session opens it, whoever holds it.
    "inbox_api.put_part": [("PUT", "/api/v1/access/parts/{p}", "PART", (200, 401, 401, 401, 401))],
    "inbox_api.post_action": [
        ("POST", "/api/v1/access/parts/{p}/actions", {}, (400, 401, 401, 401, 401))
    ],
    "co_applicants_api.put_co_applicants": [
        (
            "PUT",
            "/api/v1/access/parts/{p}/co-applicants",
            {"part_id": P1, "co_applicants": []},
            (200, 401, 401, 401, 401),
        )
    ],
}


@pytest.fixture
def app(tmp_path):
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'n.sqlite3'}", "NODE_ID": NODE})
    app.extensions[IDENTITY_KEY] = dataclasses.replace(identity_of(app), verifier=PortalVerifier())
    stock = [{"lot_id": "A", "vials_available": 5}, {"lot_id": "B", "vials_available": 2}]
    assert import_catalogue(store_of(app), catalogue(cell_line("L1", lots=stock)), "t").ok
    inbox_of(app).receive(PartSchema().load(copy.deepcopy(payload())))
    yield app
    store_of(app).dispose()


def client(app: Flask, user: User | None) -> FlaskClient:
    client = app.test_client()
    with client.session_transaction() as session:
        if user is not None:
            session[SESSION_ID] = open_session(app, user)
        session[SESSION_KEY] = TOKEN  # so that a refusal is never the CSRF check's
    return client


def approved_with_an_mta(app: Flask) -> str:
    """Bob approves with one vial held and an MTA, and uploads it: the evidence's id."""
    soon = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    bob = client(app, BOB)
    data = {"csrf_token": TOKEN, "hold|L1|A": "1", "until": soon, "conditions": "mta"}
    assert bob.post(f"/inbox/{P1}/approve-with-holds", data=data).status_code == 302
    assert _call(bob, "POST", f"/inbox/{P1}/evidence", MTA).status_code == 302
    with inbox_of(app).sessions() as session:
        [row] = session.query(ConditionEvidence).filter_by(part_id=P1).all()
        return row.id


def test_every_object_endpoint_of_a_part_is_in_the_table(app):
    found = {rule.endpoint for rule in app.url_map.iter_rules() if "part_id" in rule.arguments}
    assert found == set(CASES), "a new object endpoint of a part needs its rows in CASES"


def test_every_object_endpoint_answers_each_caller_as_the_table_says(app):
    evidence_id = approved_with_an_mta(app)
    soon = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    ids = {"p": P1, "a": ATTACHMENT["id"], "e": evidence_id}
    callers = (None, BOB, EVE, ALICE, None)
    for endpoint, cases in CASES.items():
        for method, path, body, expected in cases:
            url = path.format(**ids)
            if isinstance(body, dict):
                body = {
                    k: v.format(soon=soon) if isinstance(v, str) else v for k, v in body.items()
                }
            for who, user, status in zip(WHO, callers, expected, strict=True):
                if status is None:
                    continue
                headers = PORTAL_TOKEN if who == "portal" else {}
                resp = _call(client(app, user), method, url, body, headers)
                text = resp.get_data(as_text=True)
                resp.close()
                assert resp.status_code == status, (endpoint, url, who, text[-400:])
                if user is None and status == PAGE_NO_LOGIN:
                    assert "/login" in resp.headers["Location"]
    # Nobody but Bob changed anything: one vial held, the part still approved.
    assert lots(store_of(app)) == {"A": (5, 1), "B": (2, 0)}
    assert inbox_of(app).part(P1, {"bb-berlin"}).state == "approved"


def _call(client: FlaskClient, method: str, url: str, body: object, headers: dict | None = None):
    headers = headers or {}
    if url.startswith("/api/"):
        json = payload() if body == "PART" else body
        return client.open(url, method=method, json=json, headers=headers)
    if method == "GET":
        return client.get(url, headers=headers)
    if body is MTA:
        document = (io.BytesIO(PDF), "mta.pdf")
        body = {"condition": "mta", "kind": "mta_document", "document": document}
    assert isinstance(body, dict)
    return client.post(url, data={**body, "csrf_token": TOKEN}, headers=headers)
