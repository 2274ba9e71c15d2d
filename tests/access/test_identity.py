"""Who a biobank sees, and how long a login lasts, with the real Keycloak and the shipped
realm: the requester's identity is the provider's verified claims (M6); a login is a
server-side session that logout, the provider (back-channel logout) and a short admin
lifetime end (L1); node-scoped tokens carry the node's audience alone (L12); and the
account console works, with the identity read-only."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import json
import re
import secrets
import time
import uuid
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import update

from federation.web.login import login_of
from federation.web.sessions import SESSION_ID, digest
from tests.access.conftest import (
    FORM_ACTION,
    Alliance,
    LoopbackSession,
    csrf,
    login,
    machine_token,
    request_id_from,
    submit_request,
)
from tests.builders.realm_admin import RealmAdmin

pytestmark = [pytest.mark.keycloak, pytest.mark.engine]

DE_LINE = "de-stemcellbank:cell_line:BIONi010-C"
BACKCHANNEL = "/api/v1/auth/backchannel-logout"


def claims_of(token: str) -> dict:
    raw = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))


# -- the realm's admin API ---------------------------------------------------------------
@pytest.fixture(scope="module")
def admin(alliance: Alliance) -> RealmAdmin:
    return RealmAdmin(alliance.idp)


@pytest.fixture
def back_channel(admin: RealmAdmin) -> Iterator:
    """Point clients' back-channel logout at this test's apps (the realm names the demo's
    ports), and put the realm's URLs back afterwards."""
    changed: dict[str, str | None] = {}

    def point(client_id: str, app_url: str) -> None:
        before = admin.back_channel_to(client_id, app_url + BACKCHANNEL)
        changed.setdefault(client_id, before)

    yield point
    for client_id, before in changed.items():
        admin.back_channel_to(client_id, before or "")


def login_row(app, session: requests.Session):
    """The server-side row of the login a requests session holds at ``app``."""
    cookie = session.cookies.get(app.config["SESSION_COOKIE_NAME"], domain="127.0.0.1")
    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    raw = serializer.loads(cookie)[SESSION_ID]
    sessions = login_of(app).sessions
    with sessions._begin() as db:
        return db.get(sessions.model, digest(raw))


def logged_in(session: requests.Session, url: str) -> bool:
    resp = session.get(url, allow_redirects=False, timeout=30)
    if resp.status_code == 302:
        assert "/login" in resp.headers["Location"]
        return False
    assert resp.status_code == 200, (resp.status_code, resp.text[:300])
    return True


def eventually(check, seconds: float = 10) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.2)
    return check()


# -- M6: the researcher identity a biobank sees -------------------------------------------
def test_the_biobank_sees_the_providers_verified_identity(alliance: Alliance):
    alice = login(alliance.portal_url, "alice")
    request_id = request_id_from(submit_request(alice, alliance.portal_url, [DE_LINE]))
    alliance.deliver()
    [part] = alliance.request(request_id).parts
    researcher = alliance.nodes["de-stemcellbank"].inbox.part(part.id, {"de-ipsc-bank"})
    researcher = researcher.payload["researcher"]
    assert researcher["iss"] == alliance.idp.issuer
    assert (researcher["name"], researcher["email"]) == ("Alice Researcher", "alice@example.org")

    de = alliance.nodes["de-stemcellbank"].url
    page = login(de, "bob").get(f"{de}/inbox/{part.id}", timeout=30).text
    assert "alice@example.org</a> (verified by the identity provider)" in page
    assert f"account {researcher['sub']} at {alliance.idp.issuer}" in html.unescape(page)


def test_an_unverified_email_is_not_shown_as_the_requesters_identity(
    alliance: Alliance, admin: RealmAdmin
):
    name = f"uma-{uuid.uuid4().hex[:6]}"
    user_id = admin.create_unverified(name, f"{name}@famous-institute.example")
    try:
        uma = login(alliance.portal_url, name)
        assert login_row(alliance.portal_app, uma).identity["email"] is None
        before = {
            node_id: len(node.inbox.parts({"de-ipsc-bank"}))
            for node_id, node in alliance.nodes.items()
        }
        resp = submit_request(uma, alliance.portal_url, [DE_LINE])
        assert resp.status_code == 400
        assert "e-mail address is not verified" in resp.text
        alliance.deliver()
        after = {
            node_id: len(node.inbox.parts({"de-ipsc-bank"}))
            for node_id, node in alliance.nodes.items()
        }
        assert after == before  # no biobank received anything from her
    finally:
        admin.call("DELETE", f"/users/{user_id}")


# -- L1: sessions end ---------------------------------------------------------------------
def test_a_logged_out_session_cookie_replayed_is_refused(alliance: Alliance):
    portal = alliance.portal_url
    alice = login(portal, "alice")
    captured = alice.cookies.get("cellfed_portal", domain="127.0.0.1")
    assert captured and logged_in(alice, f"{portal}/requests")
    out = alice.post(f"{portal}/logout", data={"csrf_token": csrf(alice, f"{portal}/cart")})
    assert out.status_code == 200 and out.url.startswith(portal)

    thief = LoopbackSession()
    thief.cookies.set("cellfed_portal", captured, domain="127.0.0.1")
    assert not logged_in(thief, f"{portal}/requests")


def test_the_providers_logout_ends_the_apps_sessions(
    alliance: Alliance, admin: RealmAdmin, back_channel
):
    portal, de = alliance.portal_url, alliance.nodes["de-stemcellbank"].url
    back_channel("portal", portal)
    back_channel("de-stemcellbank", de)
    alice = login(portal, "alice")
    bob = login(de, "bob")
    assert logged_in(alice, f"{portal}/requests") and logged_in(bob, f"{de}/inbox")

    # The realm's admin signs alice out everywhere: Keycloak posts a logout token to the portal.
    admin.call("POST", f"/users/{admin.user_id('alice')}/logout")
    assert eventually(lambda: not logged_in(alice, f"{portal}/requests"))
    assert logged_in(bob, f"{de}/inbox")  # another person's session is untouched

    admin.call("POST", f"/users/{admin.user_id('bob')}/logout")
    assert eventually(lambda: not logged_in(bob, f"{de}/inbox"))


def test_a_forged_back_channel_logout_ends_nothing(alliance: Alliance):
    portal = alliance.portal_url
    alice = login(portal, "alice")
    row = login_row(alliance.portal_app, alice)
    id_token = row.id_token  # the provider's signature, but an ID token, not a logout token
    resp = requests.post(f"{portal}{BACKCHANNEL}", data={"logout_token": id_token}, timeout=30)
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_request"
    machine = machine_token(alliance.idp, "portal")  # an access token
    resp = requests.post(f"{portal}{BACKCHANNEL}", data={"logout_token": machine}, timeout=30)
    assert resp.status_code == 400
    assert logged_in(alice, f"{portal}/requests")


def test_an_admins_session_is_short_and_rereads_roles_from_the_provider(
    alliance: Alliance, admin: RealmAdmin
):
    node = alliance.nodes["de-stemcellbank"]
    name = f"ada-{uuid.uuid4().hex[:6]}"
    user_id = admin.create_user(
        name,
        roles=["biobank-admin"],
        email=f"{name}@example.org",
        emailVerified=True,
        firstName="Ada",
        lastName="Admin",
        attributes={"biobanks": ["de-stemcellbank:de-ipsc-bank"]},
    )
    try:
        ada = login(node.url, name)
        assert logged_in(ada, f"{node.url}/admin/")
        row = login_row(node.app, ada)
        assert row.expires_at - row.created_at == dt.timedelta(hours=1)
        first_refresh = row.refresh_token
        assert first_refresh

        # Her rights are taken away at the provider; a while later the node knows.
        role = admin.call("GET", "/roles/biobank-admin").json()
        admin.call("DELETE", f"/users/{user_id}/role-mappings/realm", json=[role])
        assert ada.get(f"{node.url}/admin/", timeout=30).status_code == 200  # not yet re-read
        age(node.app, row.id, checked=dt.timedelta(minutes=6))
        assert ada.get(f"{node.url}/admin/", timeout=30).status_code == 403
        renewed = login_row(node.app, ada)
        assert "biobank-admin" not in renewed.identity["roles"]

        # Back as an admin, then the session outlives its hour: it is over.
        admin.call("POST", f"/users/{user_id}/role-mappings/realm", json=[role])
        ada = login(node.url, name)
        assert logged_in(ada, f"{node.url}/admin/")
        age(node.app, login_row(node.app, ada).id, expired=True)
        assert not logged_in(ada, f"{node.url}/admin/")
    finally:
        admin.call("DELETE", f"/users/{user_id}")


def age(app, row_id: str, *, checked: dt.timedelta | None = None, expired: bool = False):
    """Make a session look older than it is (its last check, or its expiry)."""
    sessions = login_of(app).sessions
    model = sessions.model
    now = dt.datetime.now(dt.UTC)
    values = {"checked_at": now - checked} if checked else {"expires_at": now}
    with sessions._begin() as db:
        db.execute(update(model).where(model.id == row_id).values(**values))


# -- L12: a node-scoped token is for that node only ---------------------------------------
@pytest.mark.parametrize("client_id", ["portal", "indexer"])
def test_node_scoped_tokens_carry_only_the_nodes_audience(alliance: Alliance, client_id):
    token = machine_token(alliance.idp, client_id, "node-uk-hipsci")
    assert claims_of(token)["aud"] == "uk-hipsci"
    replayed = requests.post(
        f"{alliance.portal_url}/api/v1/access/events",
        json={},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert replayed.status_code == 401 and replayed.json()["error"] == "audience"
    # A node's own token is the central audience's, as the portal's events API wants.
    assert "alliance-api" in claims_of(machine_token(alliance.idp, "uk-hipsci"))["aud"]


# -- the account console ------------------------------------------------------------------
def account_console_token(issuer: str, username: str) -> str:
    browser = LoopbackSession()
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    redirect_uri = f"{issuer}/account/"
    page = browser.get(
        f"{issuer}/protocol/openid-connect/auth",
        params={
            "client_id": "account-console",
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": "openid",
            "state": uuid.uuid4().hex,
            "code_challenge": challenge.rstrip(b"=").decode(),
            "code_challenge_method": "S256",
        },
        timeout=30,
    )
    action = html.unescape(FORM_ACTION.search(page.text).group(1))
    done = browser.post(
        action,
        data={"username": username, "password": username, "credentialId": ""},
        allow_redirects=False,
        timeout=30,
    )
    code = parse_qs(urlsplit(done.headers["Location"]).query)["code"][0]
    tokens = requests.post(
        f"{issuer}/protocol/openid-connect/token",
        data={
            "grant_type": "authorization_code",
            "client_id": "account-console",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        },
        timeout=30,
    )
    assert tokens.status_code == 200, tokens.text
    return tokens.json()["access_token"]


def test_the_account_console_works_and_the_identity_stays_read_only(alliance: Alliance):
    issuer = alliance.idp.issuer
    token = account_console_token(issuer, "erin")
    assert "manage-account" in claims_of(token)["resource_access"]["account"]["roles"]
    http = requests.Session()
    http.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/json"})
    me = http.get(f"{issuer}/account/", timeout=30)
    assert me.status_code == 200, me.text  # was 403 for everyone: no "roles" scope
    before = me.json()
    for name, value in (("email", "pi@famous-institute.example"), ("firstName", "Famous")):
        resp = http.post(f"{issuer}/account/", json={**before, name: value}, timeout=30)
        assert resp.status_code == 400 and "read-only" in resp.text, (name, resp.text)
    after = http.get(f"{issuer}/account/", timeout=30).json()
    assert (after["email"], after["firstName"]) == (before["email"], before["firstName"])
    # The portal's tokens still carry no account roles: the scope is the console's alone.
    assert "resource_access" not in claims_of(machine_token(alliance.idp, "portal"))


def test_the_portal_and_nodes_tokens_keep_their_shape(alliance: Alliance):
    """The realm's new scope and clients changed nothing for the alliance's own clients."""
    bob = login(alliance.nodes["de-stemcellbank"].url, "bob")
    row = login_row(alliance.nodes["de-stemcellbank"].app, bob)
    claims = claims_of(row.id_token)
    assert claims["aud"] == "de-stemcellbank" and "resource_access" not in claims
    assert "biobank-admin" in claims["roles"] and claims["email_verified"] is True
    assert re.fullmatch(r"[\w-]+", claims["sid"])
