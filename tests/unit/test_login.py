"""Login (federation/web/login.py) at a node and at the portal, against a small OIDC
provider of our own on loopback (discovery, keys, authorization and token endpoints), so
every answer a provider can give can be made on demand: who is logged in comes from the
provider's verified claims, the cookie carries only a session id, and a session ends for
good at logout, at its expiry, at the provider's back-channel logout, or when the provider
stops refreshing an administrator's session."""

from __future__ import annotations

import datetime as dt
import functools
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask, jsonify, redirect, request
from flask.sessions import SecureCookieSessionInterface
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from cellfed.serve import serve_in_thread
from federation.node.app import create_app as create_node_app
from federation.node.store import store_of
from federation.trust import BACKCHANNEL_LOGOUT_EVENT
from federation.web import sessions as session_module
from federation.web.login import ADMIN_LIFETIME, LIFETIME, RECHECK, User, login_of
from federation.web.sessions import SESSION_ID, digest
from portal.app import create_app as create_portal_app

NODE = "n1"
ALICE = {
    "sub": "alice-sub",
    "name": "Alice Researcher",
    "preferred_username": "alice",
    "email": "alice@example.org",
    "email_verified": True,
    "roles": ["researcher"],
    "biobanks": [],
}
DAVE = {
    "sub": "dave-sub",
    "name": "Dave Curator",
    "preferred_username": "dave",
    "email": "dave@example.org",
    "email_verified": True,
    "roles": ["biobank-admin"],
    "biobanks": [f"{NODE}:bank-a"],
}


@dataclass
class Provider:
    """What our provider will say: the person who logs in next, and whether it still
    refreshes their session."""

    url: str
    key: RSAKey
    person: dict[str, Any] = field(default_factory=lambda: dict(ALICE))
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    refresh_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)  # valid ones
    refreshes: int = 0

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        return jwt.encode({"alg": "RS256", "kid": self.key.kid, **header}, claims, self.key)

    def id_token(self, grant: dict[str, Any], **extra: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": self.url,
            "aud": grant["client_id"],
            "azp": grant["client_id"],
            "typ": "ID",
            "iat": now,
            "exp": now + 300,
            "sid": grant["sid"],
            **self.person,
            **extra,
        }
        return self.sign(claims)

    def logout_token(self, aud: str, **claims: Any) -> str:
        now = int(time.time())
        base = {
            "iss": self.url,
            "aud": aud,
            "typ": "Logout",
            "iat": now,
            "exp": now + 120,
            "jti": uuid.uuid4().hex,
            "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
            **claims,
        }
        return self.sign({k: v for k, v in base.items() if v is not None}, typ="logout+jwt")

    def answer(self, grant: dict[str, Any], **extra: Any) -> dict[str, Any]:
        refresh = f"rt-{uuid.uuid4().hex}"
        self.refresh_tokens[refresh] = grant
        return {
            "access_token": f"at-{uuid.uuid4().hex}",
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": self.id_token(grant, **extra),
            "refresh_token": refresh,
        }


@functools.cache
def signing_key(kid: str = "k1") -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})


@pytest.fixture
def provider() -> Iterator[Provider]:
    app = Flask("provider")
    server = serve_in_thread(app)
    state = Provider(server.url + "/realms/test", signing_key())
    base = "/realms/test"

    @app.get(f"{base}/.well-known/openid-configuration")
    def discovery():
        return jsonify(
            issuer=state.url,
            jwks_uri=state.url + "/certs",
            authorization_endpoint=state.url + "/auth",
            token_endpoint=state.url + "/token",
            end_session_endpoint=state.url + "/logout",
        )

    @app.get(f"{base}/certs")
    def certs():
        return jsonify(KeySet([state.key]).as_dict(private=False))

    @app.get(f"{base}/auth")
    def authorize():
        args = request.args
        assert args["code_challenge_method"] == "S256" and args["code_challenge"]
        code = uuid.uuid4().hex
        state.codes[code] = {
            "client_id": args["client_id"],
            "nonce": args["nonce"],
            "sid": f"sid-{uuid.uuid4().hex[:8]}",
        }
        back = f"{args['redirect_uri']}?code={code}&state={args['state']}&iss={state.url}"
        return redirect(back)

    @app.post(f"{base}/token")
    def token():
        form = request.form
        if form["grant_type"] == "authorization_code":
            grant = state.codes.pop(form["code"])
            return jsonify(state.answer(grant, nonce=grant["nonce"]))
        grant = state.refresh_tokens.pop(form.get("refresh_token", ""), None)  # rotated
        if grant is None:
            return jsonify(error="invalid_grant", error_description="Session not active"), 400
        state.refreshes += 1
        return jsonify(state.answer(grant))

    yield state
    server.stop()


@pytest.fixture
def node(tmp_path, provider):
    app = create_node_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'node.sqlite3'}",
            "NODE_ID": NODE,
            "OIDC_ISSUER": provider.url,
            "OIDC_CLIENT_SECRET": "node-secret",
            "SECRET_KEY": uuid.uuid4().hex,
        }
    )
    yield app
    store_of(app).dispose()


@pytest.fixture
def portal(tmp_path, provider):
    return create_portal_app(
        {
            "PORTAL_DATABASE_URL": f"sqlite:///{tmp_path / 'portal.sqlite3'}",
            "ATTACHMENTS_DIR": str(tmp_path / "attachments"),
            "OIDC_ISSUER": provider.url,
            "OIDC_CLIENT_SECRET": "portal-secret",
            "SECRET_KEY": uuid.uuid4().hex,
        }
    )


def log_in(app, provider: Provider, person: dict[str, Any], next_path: str = "/"):
    """A browser's round trip: our /login, the provider's authorization, our callback."""
    provider.person = dict(person)
    client = app.test_client()
    start = client.get("/login", query_string={"next": next_path})
    assert start.status_code == 302 and start.location.startswith(provider.url + "/auth?")
    answer = requests.get(start.location, allow_redirects=False, timeout=10)
    back = urlsplit(answer.headers["Location"])
    assert back.path == "/auth/callback"
    done = client.get(f"{back.path}?{back.query}")
    assert done.status_code == 302, done.get_data(as_text=True)[:500]
    assert done.location == next_path
    return client


def cookie_of(app, client) -> str | None:
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    return cookie.value if cookie else None


def session_data(app, client) -> dict[str, Any]:
    """What the browser's session cookie holds (it is signed, not encrypted)."""
    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    cookie = cookie_of(app, client)
    return dict(serializer.loads(cookie)) if cookie else {}


def row_of(app, client):
    sessions = login_of(app).sessions
    raw = session_data(app, client)[SESSION_ID]
    with sessions._begin() as session:
        return session.get(sessions.model, digest(raw))


@pytest.fixture
def later(monkeypatch):
    """Move the sessions' clock forward by some seconds."""

    def move(seconds: float) -> None:
        moved = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)
        monkeypatch.setattr(session_module, "utcnow", lambda: moved)

    return move


# -- the routes --------------------------------------------------------------------------
def test_login_sends_the_browser_to_the_provider_with_pkce_state_and_nonce(node, provider):
    resp = node.test_client().get("/login", query_string={"next": "/inbox"})
    assert resp.status_code == 302
    args = parse_qs(urlsplit(resp.location).query)
    assert args["client_id"] == [NODE] and args["response_type"] == ["code"]
    assert args["redirect_uri"] == ["http://localhost/auth/callback"]
    assert args["code_challenge_method"] == ["S256"]
    assert args["state"][0] and args["nonce"][0]


def test_the_callback_logs_in_and_lands_on_next(node, provider):
    client = log_in(node, provider, DAVE, "/inbox")
    assert client.get("/inbox").status_code == 200
    assert client.get("/admin/").status_code == 200  # dave administers bank-a here


def test_a_callback_from_another_provider_is_refused(node, provider):
    client = node.test_client()
    resp = client.get("/auth/callback", query_string={"code": "x", "iss": "https://evil"})
    assert resp.status_code == 400 and b"another identity provider" in resp.data


def test_logout_ends_the_providers_session_too(node, provider):
    client = log_in(node, provider, DAVE)
    id_token = row_of(node, client).id_token
    resp = client.post("/logout", data={"csrf_token": csrf(client)})
    assert resp.status_code == 302 and resp.location.startswith(provider.url + "/logout?")
    args = parse_qs(urlsplit(resp.location).query)
    assert args["id_token_hint"] == [id_token]
    assert args["post_logout_redirect_uri"] == ["http://localhost/auth/logged-out"]
    landed = client.get("/auth/logged-out")
    assert landed.status_code == 302 and landed.location == "/"


def csrf(client) -> str:
    with client.session_transaction() as session:
        return session.setdefault("_csrf", uuid.uuid4().hex)


# -- L1: the cookie carries a session id, and sessions end ----------------------------
def test_the_cookie_carries_only_a_session_id(node, provider):
    client = log_in(node, provider, DAVE)
    data = session_data(node, client)
    assert set(data) <= {SESSION_ID, "_csrf"}, data
    assert "dave" not in (cookie_of(node, client) or "").lower()
    row = row_of(node, client)
    assert (row.iss, row.sub, row.identity["name"]) == (provider.url, "dave-sub", "Dave Curator")
    assert row.id != data[SESSION_ID]  # the table holds the id's hash, not the id


def test_an_identity_written_into_the_cookie_opens_nothing(node, provider):
    """What the cookie used to carry, signed with the app's own key: no login any more."""
    client = node.test_client()
    with client.session_transaction() as session:
        session["user"] = User(
            provider.url, "dave-sub", "Dave", None, frozenset({"biobank-admin"}), frozenset()
        ).as_session()
    resp = client.get("/inbox")
    assert resp.status_code == 302 and "/login" in resp.location


def test_a_logged_out_session_cookie_replayed_is_refused(node, provider):
    client = log_in(node, provider, DAVE)
    captured = cookie_of(node, client)
    assert client.get("/inbox").status_code == 200
    client.post("/logout", data={"csrf_token": csrf(client)})

    thief = node.test_client()
    thief.set_cookie(node.config["SESSION_COOKIE_NAME"], captured)
    resp = thief.get("/inbox")
    assert resp.status_code == 302 and "/login" in resp.location
    assert thief.post("/admin/withdraw/cell_line/L1", data={}).status_code in (400, 401)


def test_an_expired_admin_session_is_refused(node, provider, later):
    admin = log_in(node, provider, DAVE)
    researcher = log_in(node, provider, ALICE)
    row = row_of(node, admin)
    assert row.expires_at - row.created_at == dt.timedelta(seconds=ADMIN_LIFETIME)
    assert ADMIN_LIFETIME <= 3600 < LIFETIME
    refreshes = provider.refreshes

    later(ADMIN_LIFETIME + 1)
    resp = admin.get("/inbox")
    assert resp.status_code == 302 and "/login" in resp.location
    assert SESSION_ID not in session_data(node, admin)  # the cookie forgets it too
    assert provider.refreshes == refreshes  # an expired session is not refreshed back
    assert researcher.get("/inbox").status_code == 403  # logged in, no biobank here

    later(LIFETIME + 1)
    assert researcher.get("/inbox").status_code == 302


def test_an_admins_roles_are_re_read_from_a_refreshed_token(node, provider, later):
    admin = log_in(node, provider, DAVE)
    assert admin.get("/admin/").status_code == 200
    provider.person = {**DAVE, "biobanks": []}  # the realm's admin takes bank-a away

    later(RECHECK - 10)
    assert admin.get("/admin/").status_code == 200  # not yet re-read
    assert provider.refreshes == 0
    later(RECHECK + 1)
    assert admin.get("/admin/").status_code == 403
    assert provider.refreshes == 1
    assert row_of(node, admin).identity["biobanks"] == []


def test_an_admin_session_ends_when_the_provider_no_longer_refreshes_it(node, provider, later):
    admin = log_in(node, provider, DAVE)
    provider.refresh_tokens.clear()  # logged out or disabled at the provider
    later(RECHECK + 1)
    resp = admin.get("/inbox")
    assert resp.status_code == 302 and "/login" in resp.location
    assert row_of_raw(node, admin).revoked_at is not None


def row_of_raw(app, client):
    """The row of the session the client had, after its cookie forgot it."""
    sessions = login_of(app).sessions
    with sessions._begin() as session:
        rows = session.query(sessions.model).all()
    return next(r for r in rows if r.sub == "dave-sub")


def test_researchers_sessions_keep_no_refresh_token(node, provider):
    assert row_of(node, log_in(node, provider, ALICE)).refresh_token is None
    assert row_of(node, log_in(node, provider, DAVE)).refresh_token


# -- L1: the provider's back-channel logout ----------------------------------------------
def backchannel(app, token: str):
    return app.test_client().post("/api/v1/auth/backchannel-logout", data={"logout_token": token})


def test_the_providers_back_channel_logout_ends_that_session(node, provider):
    first = log_in(node, provider, DAVE)
    second = log_in(node, provider, DAVE)  # another browser, another provider session
    sid = row_of(node, first).sid
    resp = backchannel(node, provider.logout_token(NODE, sub="dave-sub", sid=sid))
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    assert first.get("/inbox").status_code == 302
    assert second.get("/inbox").status_code == 200


def test_a_back_channel_logout_without_sid_ends_every_session_of_the_user(node, provider):
    clients = [log_in(node, provider, DAVE) for _ in range(2)]
    assert backchannel(node, provider.logout_token(NODE, sub="dave-sub")).status_code == 200
    assert [c.get("/inbox").status_code for c in clients] == [302, 302]


@pytest.mark.parametrize(
    "forge",
    [
        lambda p: p.logout_token("another-client", sub="dave-sub"),  # not for us
        lambda p: p.logout_token(NODE, sub="dave-sub", events=None),  # no logout event
        lambda p: p.logout_token(NODE, sub="dave-sub", nonce="n"),  # an ID token's nonce
        lambda p: p.logout_token(NODE, sub="dave-sub", typ="ID"),  # an ID token
        lambda p: p.logout_token(NODE, sub="dave-sub", iss="https://evil.example"),
        lambda p: jwt.encode(  # signed by someone else
            {"alg": "RS256", "kid": "k1"},
            {"iss": p.url, "aud": NODE, "sub": "dave-sub", "exp": int(time.time()) + 60},
            signing_key("another"),
        ),
        lambda p: "",
    ],
)
def test_a_back_channel_logout_the_provider_did_not_send_ends_nothing(node, provider, forge):
    client = log_in(node, provider, DAVE)
    resp = backchannel(node, forge(provider))
    assert resp.status_code == 400 and resp.json["error"] == "invalid_request"
    assert client.get("/inbox").status_code == 200


# -- M6: who the researcher is, as the provider verified it ---------------------------
def test_the_email_is_kept_only_when_the_provider_verified_it():
    claims = {"iss": "https://idp", "sub": "s", "name": "N", "email": "n@example.org"}
    for verified, kept in [(True, "n@example.org"), (False, None), ("true", None), (None, None)]:
        user = User.from_claims({**claims, "email_verified": verified}, "roles", "biobanks")
        assert user.email == kept, verified


def test_an_unverified_email_is_not_the_researchers_identity(portal, provider):
    mallory = {**ALICE, "sub": "m-sub", "email": "pi@famous.example", "email_verified": False}
    client = log_in(portal, provider, mallory)
    resp = client.post(
        "/requests",
        data={
            "csrf_token": csrf(client),
            "title": "Organoids",
            "description": "Derive cortical organoids to study migration defects.",
            "intended_use": "DUO:0000042",
            "ethics_ref": "EC-1",
        },
    )
    assert resp.status_code == 400
    assert b"e-mail address is not verified" in resp.data
    assert b"pi@famous.example" not in resp.data
    assert row_of(portal, client).identity["email"] is None


def test_a_verified_researcher_at_the_portal_keeps_her_address(portal, provider):
    client = log_in(portal, provider, ALICE)
    row = row_of(portal, client)
    assert row.identity["email"] == "alice@example.org"
    assert row.expires_at - row.created_at == dt.timedelta(seconds=LIFETIME)
