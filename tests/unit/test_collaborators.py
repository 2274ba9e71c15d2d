"""Co-applicants on access requests (portal/access/membership.py, collaborators.py and their
pages and API; the node's half in federation/node/inbox/co_applicants.py): invited by e-mail,
bound at the first sign-in with that address verified, they read and write and do nothing
else; every object endpoint of the access feature is tried by the owner, a co-applicant, a
stranger and a removed co-applicant, listed from the app's url map so that a new endpoint
without a row here fails."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import html
import io
import re

import pytest
from flask.testing import FlaskClient

from federation.database import new_id
from federation.node.app import create_app as create_node_app
from federation.node.identity import IDENTITY_KEY, identity_of
from federation.node.inbox.co_applicants import co_applicants_of
from federation.node.inbox.models import InboxPart
from federation.node.inbox.service import inbox_of
from federation.node.store import store_of
from federation.trust import Principal, TokenError
from federation.web.login import SESSION_ID, User, open_session
from portal.access.attachments import check_upload
from portal.access.membership import Role, role_of
from portal.access.models import Collaborator, Notification, PortalOutbox
from portal.access.service import RequestNotFound, SubmissionInvalid
from schemas.access import EventSchema
from tests.builders.portal_app import CSRF_TOKEN, LINE_ONE, MEMBERS, SqlitePortal, node_event

ISS = "https://idp.example.org"
ALICE = User(ISS, "alice", "Alice Owner", "alice@example.org", frozenset(), frozenset())
ERIN = User(ISS, "erin", "Erin Co", "erin@example.org", frozenset(), frozenset())
MALLORY = User(ISS, "mallory", "Mallory", "mallory@example.org", frozenset(), frozenset())
# Erin's address, claimed by an account whose provider did not verify it: User keeps no
# address then (federation/web/login.py), so this account cannot be Erin's.
UNVERIFIED = User(ISS, "eve", "Eve", None, frozenset(), frozenset())
TOKEN = CSRF_TOKEN
DOCS = {
    "n1:cell_line:L1": LINE_ONE,
}
PROJECT = {
    "title": "Cardiomyocyte maturation",
    "description": "We differentiate iPSC lines into cardiomyocytes and compare them.",
    "intended_use": "DUO:0000042",
    "ethics_ref": "EK-12/2026",
}
PDF = b"%PDF-1.7\nethics approval\n%%EOF\n"


class Portal(SqlitePortal):
    """The portal on SQLite with one biobank at node n1; nothing is delivered here (the
    outbox's messages are read from its table)."""

    def __init__(self, tmp_path, **config) -> None:
        super().__init__(tmp_path, MEMBERS, DOCS, **config)
        self.co = self.access.collaborators

    def submit(self) -> tuple[str, str, str]:
        """Alice's request: (request id, its part's id, its attachment's id)."""
        checked = [check_upload(io.BytesIO(PDF), "ethics.pdf", 1024)]
        request_id = self.service.submit(ALICE, PROJECT, ["n1:cell_line:L1"], checked)
        found = self.service.request_of(ALICE, request_id)
        return request_id, found.parts[0].id, found.attachments[0].id

    def node_event(
        self, part_id: str, event: str, actor: str, state: str, seq: int, document=None
    ) -> None:
        extra = {"document": document} if document is not None else {}  # evidence's document
        raw = node_event(part_id, event, actor, state, seq, **extra)
        self.service.apply_events("n1", part_id, [EventSchema().load(raw)])

    def messages(self, kind: str) -> list[PortalOutbox]:
        with self.access.sessions() as session:
            return [m for m in self.access.outbox.pending(session) if m.kind == kind]

    def notes(self, user: User) -> list[str]:
        return [n.text for n in self.service.notifications(user)]

    def role(self, user: User, request_id: str) -> Role:
        with self.access.sessions() as session:
            return role_of(session, user, request_id)


@pytest.fixture
def portal(tmp_path):
    portal = Portal(tmp_path)
    yield portal
    portal.access.engine.dispose()


@pytest.fixture
def shared(portal):
    """Alice's request with Erin as a co-applicant who has signed in once."""
    request_id, part_id, attachment_id = portal.submit()
    portal.co.add(ALICE, request_id, "Erin@Example.org ")
    assert portal.client(ERIN).get("/requests").status_code == 200  # binds the invitation
    return request_id, part_id, attachment_id


# -- who may read ------------------------------------------------------------------------
def test_an_invitation_binds_at_the_first_sign_in_with_the_address_verified(portal):
    request_id, _, _ = portal.submit()
    portal.co.add(ALICE, request_id, "erin@example.org")
    assert portal.role(ERIN, request_id) is Role.NONE  # not bound before she signs in
    assert portal.client(UNVERIFIED).get(f"/requests/{request_id}").status_code == 404
    assert portal.co.bind(UNVERIFIED) == 0

    page = portal.client(ERIN).get(f"/requests/{request_id}")
    assert page.status_code == 200 and "Cardiomyocyte maturation" in page.text
    assert "You are a co-applicant on this request" in page.text
    assert portal.role(ERIN, request_id) is Role.COLLABORATOR
    assert portal.role(ALICE, request_id) is Role.OWNER
    assert portal.role(MALLORY, request_id) is Role.NONE
    listing = portal.client(ERIN).get("/requests").text
    assert "Cardiomyocyte maturation" in listing and "you are a co-applicant" in listing

    # Bound to Erin's account now: another account with the address later gets nothing.
    other = User(ISS, "erin-2", "Erin Two", "erin@example.org", frozenset(), frozenset())
    assert portal.co.bind(other) == 0 and portal.role(other, request_id) is Role.NONE
    with portal.access.sessions() as session:
        [row] = session.query(Collaborator).all()
    assert (row.user_iss, row.user_sub, row.name) == (ISS, "erin", "Erin Co")
    assert "Erin Co joined your request" in portal.notes(ALICE)[0]


@pytest.mark.parametrize(
    ("email", "says"),
    [
        ("", "e-mail address is missing"),
        ("not-an-address", "'not-an-address' is not valid"),
        ("ALICE@example.org", "is your own address"),
        ("x" * 320 + "@example.org", "is not valid"),
    ],
)
def test_a_bad_address_is_refused_naming_it_and_nothing_is_stored(portal, email, says):
    request_id, _, _ = portal.submit()
    with pytest.raises(SubmissionInvalid, match=re.escape(says)):
        portal.co.add(ALICE, request_id, email)
    page = portal.client(ALICE).post(
        f"/requests/{request_id}/co-applicants", data={"email": email, "csrf_token": TOKEN}
    )
    assert page.status_code == 400 and "Not added" in page.text
    assert portal.co.listing(ALICE, request_id)[1] == [] and portal.messages("co_applicants") == []


def test_the_same_address_twice_and_more_than_the_setting_allows_are_refused(tmp_path):
    portal = Portal(tmp_path, COLLABORATORS_MAX=2)
    request_id, _, _ = portal.submit()
    portal.co.add(ALICE, request_id, "erin@example.org")
    with pytest.raises(SubmissionInvalid, match="co-applicant on this request already"):
        portal.co.add(ALICE, request_id, "ERIN@example.org")
    portal.co.add(ALICE, request_id, "frank@example.org")
    with pytest.raises(SubmissionInvalid, match="has 2 co-applicants, the most it may have"):
        portal.co.add(ALICE, request_id, "gina@example.org")
    assert [c.email for c in portal.co.listing(ALICE, request_id)[1]] == [
        "erin@example.org",
        "frank@example.org",
    ]
    portal.access.engine.dispose()


# -- what a co-applicant may do ----------------------------------------------------------
def test_a_co_applicants_message_goes_to_the_node_under_her_name(portal, shared):
    request_id, part_id, _ = shared
    erin = portal.client(ERIN)
    sent = erin.post(
        f"/requests/{request_id}/parts/{part_id}/message",
        data={"text": "I run the assays; ask me.", "csrf_token": TOKEN},
    )
    assert sent.status_code == 302
    [action] = [m.payload["action"] for m in portal.messages("action")]
    assert (action["type"], action["actor_name"], action["actor_sub"]) == (
        "message",
        "Erin Co",
        "erin",
    )
    assert action["text"] == "I run the assays; ask me."
    page = erin.get(f"/requests/{request_id}").text
    assert "Send a message" in page and "Withdraw this part" not in page
    assert "Add co-applicant" not in page  # only the owner's page has the form


def test_a_co_applicant_cannot_withdraw_answer_or_change_co_applicants(portal, shared):
    request_id, part_id, _ = shared
    portal.node_event(part_id, "receive", "node", "under_review", 1)
    portal.node_event(part_id, "request_info", "biobank", "information_requested", 2)
    erin = portal.client(ERIN)
    for event in ("withdraw", "provide_info"):
        resp = erin.post(
            f"/requests/{request_id}/parts/{part_id}/{event}",
            data={"text": "an answer", "csrf_token": TOKEN},
        )
        assert resp.status_code == 403 and "only the request's owner" in html.unescape(resp.text)
    added = erin.post(
        f"/requests/{request_id}/co-applicants",
        data={"email": "frank@example.org", "csrf_token": TOKEN},
    )
    assert added.status_code == 403
    assert portal.messages("action") == []
    assert [c.email for c in portal.co.listing(ALICE, request_id)[1]] == ["erin@example.org"]
    owner_page = portal.client(ALICE).get(f"/requests/{request_id}").text
    assert "Send the information" in owner_page and "Withdraw this part" in owner_page


def test_a_co_applicants_page_has_no_receipt_form_and_no_keep_waiting(portal, shared):
    request_id, part_id, _ = shared
    portal.node_event(part_id, "receive", "node", "under_review", 1)
    portal.node_event(part_id, "approve", "biobank", "approved", 2)
    portal.node_event(part_id, "ship", "biobank", "shipped", 3)
    owner = portal.client(ALICE).get(f"/requests/{request_id}").text
    erin = portal.client(ERIN).get(f"/requests/{request_id}").text
    assert "Confirm receipt" in owner and "Confirm receipt" not in erin
    assert f"/parts/{part_id}/receipt" not in erin and f"/parts/{part_id}/keep-waiting" not in erin


def test_a_co_applicants_act_is_refused_whatever_she_sends(portal, shared):
    request_id, part_id, _ = shared
    erin = portal.client(ERIN)
    for path, data in [
        ("receipt", {"received_on": "not a date"}),
        ("signed-copy", {}),
        ("signed-copy", {"document": (io.BytesIO(b"just words"), "mta.txt")}),
    ]:
        resp = erin.post(
            f"/requests/{request_id}/parts/{part_id}/{path}", data={**data, "csrf_token": TOKEN}
        )
        assert resp.status_code == 403 and "only the request's owner" in html.unescape(resp.text)
    assert len(portal.service.request_of(ALICE, request_id).attachments) == 1


def test_co_applicants_share_the_requests_notifications_until_removed(portal, shared):
    request_id, part_id, _ = shared
    portal.node_event(part_id, "receive", "node", "under_review", 1)
    assert "Biobank one received your request" in portal.notes(ERIN)[0]
    assert "Biobank one received your request" in portal.notes(ALICE)[0]
    [erin_row] = portal.co.listing(ALICE, request_id)[1]
    portal.co.remove(ALICE, request_id, erin_row.id)
    portal.node_event(part_id, "approve", "biobank", "approved", 2)
    assert not any("approved" in text for text in portal.notes(ERIN))
    assert "Biobank one approved your request" in portal.notes(ALICE)[0]


def test_every_change_sends_the_parts_node_the_whole_list(portal, shared):
    request_id, part_id, _ = shared
    [erin_row] = portal.co.listing(ALICE, request_id)[1]
    portal.co.remove(ALICE, request_id, erin_row.id)
    sent = [m.payload for m in portal.messages("co_applicants")]
    assert [m.target for m in portal.messages("co_applicants")] == ["n1"] * 3
    assert {p["part_id"] for p in sent} == {part_id}
    # invited; joined (now with her name); removed
    assert [[(c["name"], c["email"]) for c in p["co_applicants"]] for p in sent] == [
        [(None, "erin@example.org")],
        [("Erin Co", "erin@example.org")],
        [],
    ]


def test_a_removed_co_applicant_reads_nothing_and_is_not_bound_again(portal, shared):
    request_id, _, _ = shared
    [erin_row] = portal.co.listing(ALICE, request_id)[1]
    removed = portal.client(ALICE).post(
        f"/requests/{request_id}/co-applicants/{erin_row.id}/remove", data={"csrf_token": TOKEN}
    )
    assert removed.status_code == 302
    assert portal.client(ERIN).get(f"/requests/{request_id}").status_code == 404
    assert portal.co.bind(ERIN) == 0
    assert "Cardiomyocyte maturation" not in portal.client(ERIN).get("/requests").text
    with pytest.raises(RequestNotFound):
        portal.co.remove(ALICE, request_id, erin_row.id)  # removed once, not twice


# -- the JSON twin -----------------------------------------------------------------------
def test_the_api_lists_adds_and_removes_with_the_sessions_csrf_token(portal):
    request_id, _, _ = portal.submit()
    alice = portal.client(ALICE)
    url = f"/api/v1/access/requests/{request_id}/co-applicants"
    assert portal.app.test_client().get(url).status_code == 401
    unsigned = alice.post(url, json={"email": "erin@example.org"})
    assert unsigned.status_code == 403 and "X-CSRF-Token" in unsigned.json["detail"]
    forged = alice.post(url, json={"email": "erin@example.org"}, headers={"X-CSRF-Token": "x"})
    assert forged.status_code == 403 and portal.co.listing(ALICE, request_id)[1] == []

    added = alice.post(url, json={"email": "erin@example.org"}, headers={"X-CSRF-Token": TOKEN})
    assert added.status_code == 201 and added.json["role"] == "owner"
    [row] = added.json["co_applicants"]
    assert (row["email"], row["name"], row["joined"]) == ("erin@example.org", None, False)
    bad = alice.post(url, json={"email": "nope"}, headers={"X-CSRF-Token": TOKEN})
    assert bad.status_code == 400 and "'nope' is not valid" in bad.json["detail"]
    assert alice.post(url, data="x", headers={"X-CSRF-Token": TOKEN}).status_code == 400

    seen = portal.client(ERIN).get(url)
    assert seen.status_code == 200 and seen.json["role"] == "collaborator"
    assert seen.json["co_applicants"][0]["joined"] is True
    gone = alice.delete(f"{url}/{row['id']}", headers={"X-CSRF-Token": TOKEN})
    assert gone.status_code == 200 and gone.json["co_applicants"] == []
    assert portal.client(ERIN).get(url).status_code == 404


# -- every object endpoint, for everyone -------------------------------------------------
OBJECT_ARGS = {"request_id", "part_id", "attachment_id", "collaborator_id", "evidence_id"}
SIGNED_COPY = object()  # stands for a fresh signed-MTA upload (a file is read once)
RECEIPT = {"received_on": dt.date.today().isoformat(), "state": "good"}
# endpoint -> (method, path with {r} {p} {a} {c} {e}, form or JSON, expected status for:
#   the owner, the co-applicant, a stranger, a removed co-applicant). None: not tried.
# A co-applicant reads what the owner reads (the request, its attachments, the biobank's
# documents, whom it waits on) and sends messages; every other act is the owner's (403).
# The owner's 409 on an act: past the membership check, refused by the part's state.
CASES: dict[str, list[tuple[str, str, dict, tuple[int | None, ...]]]] = {
    "access.request_page": [("GET", "/requests/{r}", {}, (200, 200, 404, 404))],
    "access.attachment": [("GET", "/requests/{r}/attachments/{a}", {}, (200, 200, 404, 404))],
    "access.act": [
        ("POST", "/requests/{r}/parts/{p}/message", {"text": "hi"}, (302, 302, 404, 404)),
        ("POST", "/requests/{r}/parts/{p}/withdraw", {}, (None, 403, 404, 404)),
    ],
    "collaborators.add": [
        ("POST", "/requests/{r}/co-applicants", {"email": "x@example.org"}, (302, 403, 404, 404))
    ],
    "collaborators.remove": [
        ("POST", "/requests/{r}/co-applicants/{c}/remove", {}, (None, 403, 404, 404))
    ],
    "collaborators_api.listing": [
        ("GET", "/api/v1/access/requests/{r}/co-applicants", {}, (200, 200, 404, 404))
    ],
    "collaborators_api.add": [
        (
            "POST",
            "/api/v1/access/requests/{r}/co-applicants",
            {"email": "y@example.org"},
            (201, 403, 404, 404),
        )
    ],
    "collaborators_api.remove": [
        ("DELETE", "/api/v1/access/requests/{r}/co-applicants/{c}", {}, (None, 403, 404, 404))
    ],
    "sharing.receipt": [("POST", "/requests/{r}/parts/{p}/receipt", RECEIPT, (409, 403, 404, 404))],
    "sharing.signed_copy": [
        ("POST", "/requests/{r}/parts/{p}/signed-copy", SIGNED_COPY, (409, 403, 404, 404))
    ],
    # The biobank's document, kept at the portal as its node sent it with the event.
    "sharing.document": [
        ("GET", "/requests/{r}/parts/{p}/documents/{e}", {}, (200, 200, 404, 404))
    ],
    "waiting.keep_waiting": [
        ("POST", "/requests/{r}/parts/{p}/keep-waiting", {}, (409, 403, 404, 404))
    ],
    "waiting.waiting_json": [("GET", "/api/v1/requests/{r}/waiting", {}, (200, 200, 404, 404))],
    # The nodes' API: a researcher's session is no node token, whoever holds it.
    "access_api.attachment": [
        ("GET", "/api/v1/access/parts/{p}/attachments/{a}", {}, (401, 401, 401, 401))
    ],
}


def test_every_object_endpoint_of_a_request_is_in_the_table(portal):
    # every blueprint: an endpoint taking a request, part or their objects needs rows
    found = {
        rule.endpoint for rule in portal.app.url_map.iter_rules() if rule.arguments & OBJECT_ARGS
    }
    assert found == set(CASES), "a new object endpoint needs its rows in CASES"


def test_every_object_endpoint_answers_each_role_as_the_table_says(portal, shared):
    request_id, part_id, attachment_id = shared
    portal.co.add(ALICE, request_id, "frank@example.org")
    frank = User(ISS, "frank", "Frank Former", "frank@example.org", frozenset(), frozenset())
    portal.client(frank).get("/requests")  # bound ...
    rows = {c.email: c.id for c in portal.co.listing(ALICE, request_id)[1]}
    portal.co.remove(ALICE, request_id, rows["frank@example.org"])  # ... and removed
    portal.node_event(part_id, "receive", "node", "under_review", 1)
    mta = {"filename": "mta.pdf", "content": base64.b64encode(PDF).decode()}
    portal.node_event(part_id, "evidence", "biobank", "under_review", 2, mta)
    evidence_id = portal.service.request_of(ALICE, request_id).parts[0].events[-1].id
    ids = {"r": request_id, "p": part_id, "a": attachment_id, "c": rows["erin@example.org"]}
    ids["e"] = evidence_id
    people = (ALICE, ERIN, MALLORY, frank)
    for endpoint, cases in CASES.items():
        for method, path, body, expected in cases:
            url = path.format(**ids)
            for who, status in zip(people, expected, strict=True):
                if status is None:
                    continue
                resp = _call(portal.client(who), method, url, body)
                text = resp.get_data(as_text=True)
                resp.close()  # a download's file handle
                assert resp.status_code == status, (endpoint, url, who.sub, text[-600:])
    # Nothing the others tried was stored: no signed copy, no choice to keep waiting.
    kept = portal.service.request_of(ALICE, request_id).attachments
    assert sorted(a.filename for a in kept) == ["ethics.pdf", "mta.pdf"]
    assert portal.messages("action") and all(
        m.payload["action"]["type"] == "message" for m in portal.messages("action")
    )
    # Nothing the others tried changed the list: Erin is still on it, Frank is not.
    assert [c.email for c in portal.co.listing(ALICE, request_id)[1]] == [
        "erin@example.org",
        "x@example.org",
        "y@example.org",
    ]


def _call(client: FlaskClient, method: str, url: str, body: dict):
    if url.startswith("/api/"):
        return client.open(url, method=method, json=body or None, headers={"X-CSRF-Token": TOKEN})
    if method == "GET":
        return client.get(url)
    if body is SIGNED_COPY:
        body = {"document": (io.BytesIO(PDF), "signed-mta.pdf")}
    return client.post(url, data={**body, "csrf_token": TOKEN})


def test_notifications_of_others_are_not_shared(portal, shared):
    request_id, _, _ = shared
    with portal.access.sessions.begin() as session:
        portal.service._notify(session, ERIN.iss, ERIN.sub, None, "just for Erin", request_id)
    assert "just for Erin" in portal.notes(ERIN)
    assert "just for Erin" not in portal.notes(ALICE)
    with portal.access.sessions() as session:
        assert session.query(Notification).filter_by(text="just for Erin").count() == 1


# -- at the node -------------------------------------------------------------------------
PORTAL_TOKEN = {"Authorization": "Bearer a-token-of-the-portal"}


class PortalVerifier:
    """Trusts one token: the portal's own (client-credentials) token."""

    def principal(self, raw: str, audience, roles_claim: str) -> Principal:
        if raw != PORTAL_TOKEN["Authorization"].split()[1]:
            raise TokenError("bad_signature", "not a token of this test")
        claims = {"iss": ISS, "sub": "service-account-portal", "azp": "portal"}
        return Principal(claims, frozenset({"alliance-service"}))


@pytest.fixture
def node(tmp_path):
    app = create_node_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'n.sqlite3'}", "NODE_ID": "n1"})
    app.extensions[IDENTITY_KEY] = dataclasses.replace(identity_of(app), verifier=PortalVerifier())
    part_id = new_id()
    with inbox_of(app).sessions.begin() as session:
        researcher = {"iss": ISS, "sub": "alice", "name": "Alice Owner", "email": None}
        payload = {"project": PROJECT, "researcher": researcher, "biobank_name": "Biobank one"}
        payload |= {"items": [], "attachments": []}
        session.add(
            InboxPart(
                id=part_id,
                request_id=new_id(),
                biobank_id="bb1",
                state="under_review",
                content_hash="0" * 64,
                payload=payload,
            )
        )
    yield app, part_id
    store_of(app).dispose()


def test_the_node_keeps_the_latest_list_and_shows_it_to_the_parts_admins_only(node):
    app, part_id = node
    client = app.test_client()
    url = f"/api/v1/access/parts/{part_id}/co-applicants"
    joined = {"name": "Erin Co", "email": "erin@example.org", "added_at": "2026-12-01T10:00:00Z"}
    invited = {"name": None, "email": "frank@example.org", "added_at": "2026-12-01T10:05:00Z"}
    body = {"part_id": part_id, "co_applicants": [joined, invited]}
    assert client.put(url, json=body).status_code == 401  # the portal's token only
    for _ in range(2):  # a repeat changes nothing
        resp = client.put(url, json=body, headers=PORTAL_TOKEN)
        assert resp.status_code == 200 and resp.json["co_applicants"] == 2
    with inbox_of(app).sessions() as session:
        kept = [(c.name, c.email) for c in co_applicants_of(session, part_id)]
    assert kept == [("Erin Co", "erin@example.org"), (None, "frank@example.org")]

    admin = app.test_client()
    bob = User(ISS, "bob", "Bob", None, frozenset({"biobank-admin"}), frozenset({"n1:bb1"}))
    with admin.session_transaction() as session:
        session[SESSION_ID] = open_session(app, bob)
    page = admin.get(f"/inbox/{part_id}").text
    assert "Erin Co" in page and "frank@example.org" in page and "not signed in yet" in page
    dave = User(ISS, "dave", "Dave", None, frozenset({"biobank-admin"}), frozenset({"n1:bb2"}))
    other = app.test_client()
    with other.session_transaction() as session:
        session[SESSION_ID] = open_session(app, dave)
    assert other.get(f"/inbox/{part_id}").status_code == 404  # another biobank's part

    emptied = client.put(url, json={"part_id": part_id, "co_applicants": []}, headers=PORTAL_TOKEN)
    assert emptied.status_code == 200 and "Erin Co" not in admin.get(f"/inbox/{part_id}").text


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"part_id": "b" * 32, "co_applicants": []}, 400, "is not the URL's"),
        ({"part_id": "a" * 32, "co_applicants": [{"email": "x"}]}, 400, "co_applicants"),
        ("not an object", 400, "send a JSON object"),
    ],
)
def test_the_node_refuses_a_bad_list_and_keeps_what_it_had(node, body, status, says):
    app, part_id = node
    url = f"/api/v1/access/parts/{'a' * 32}/co-applicants"
    resp = app.test_client().put(url, json=body, headers=PORTAL_TOKEN)
    assert resp.status_code == status and says in resp.json["detail"]
    unknown = {"part_id": "a" * 32, "co_applicants": []}
    missing = app.test_client().put(url, json=unknown, headers=PORTAL_TOKEN)
    assert missing.status_code == 404  # no such part at this node
    with inbox_of(app).sessions() as session:
        assert co_applicants_of(session, part_id) == []


def test_invitations_share_one_budget_across_the_page_and_the_api(tmp_path):
    portal = Portal(tmp_path, RATE_LIMIT_INVITATIONS="2/hour")
    request_id, _, _ = portal.submit()
    alice = portal.client(ALICE)
    page = alice.post(
        f"/requests/{request_id}/co-applicants",
        data={"email": "erin@example.org", "csrf_token": TOKEN},
    )
    url = f"/api/v1/access/requests/{request_id}/co-applicants"
    api = alice.post(url, json={"email": "frank@example.org"}, headers={"X-CSRF-Token": TOKEN})
    third = alice.post(url, json={"email": "gina@example.org"}, headers={"X-CSRF-Token": TOKEN})
    assert (page.status_code, api.status_code, third.status_code) == (302, 201, 429)
    assert [c.email for c in portal.co.listing(ALICE, request_id)[1]] == [
        "erin@example.org",
        "frank@example.org",
    ]
    assert alice.get(url).status_code == 200  # reading is not an invitation
    portal.access.engine.dispose()
