"""Token validation (federation/trust.py) against our own keys, served over HTTP on loopback
by a small issuer (discovery document + JWKS), so every bad token can be made on demand."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from flask import Flask, jsonify, redirect
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from cellfed.serve import serve_in_thread
from federation.bearer import principal, require_token
from federation.trust import (
    BadSignature,
    ExpiredToken,
    InvalidClaims,
    IssuerUnavailable,
    MalformedToken,
    TokenVerifier,
    UnknownKey,
    UntrustedAlgorithm,
    WrongAudience,
    WrongIssuer,
    bearer_token,
)


@dataclass
class Issuer:
    url: str
    keys: list = field(default_factory=list)  # private keys whose public halves are served
    jwks_requests: int = 0
    other_requests: list[str] = field(default_factory=list)
    claimed_issuer: str | None = None
    redirect_discovery: int | None = None  # answer discovery with this redirect status
    redirect_jwks: int | None = None

    def publish(self, *keys) -> None:
        self.keys = list(keys)

    def sign(self, claims: dict, key=None, alg: str = "RS256", **header) -> str:
        key = key or self.keys[0]
        return jwt.encode({"alg": alg, "kid": key.kid, **header}, claims, key)

    def claims(self, **overrides) -> dict:
        now = int(time.time())
        base = {
            "iss": self.url,
            "sub": "user-1",
            "aud": "alliance-api",
            "azp": "portal",
            "iat": now,
            "exp": now + 300,
            "typ": "Bearer",
        }
        base.update(overrides)
        return {k: v for k, v in base.items() if v is not None}


def rsa(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    app = Flask("issuer")
    server = serve_in_thread(app)
    state = Issuer(server.url + "/realms/test")

    @app.get("/realms/test/.well-known/openid-configuration")
    def discovery():
        if state.redirect_discovery:
            return redirect(server.url + "/elsewhere/discovery", state.redirect_discovery)
        return jsonify(issuer=state.claimed_issuer or state.url, jwks_uri=state.url + "/certs")

    @app.get("/realms/test/certs")
    def certs():
        state.jwks_requests += 1
        if state.redirect_jwks:
            return redirect(server.url + "/elsewhere/certs", state.redirect_jwks)
        return jsonify(KeySet(state.keys).as_dict(private=False))

    @app.get("/elsewhere/<what>")
    def elsewhere(what):  # what a redirect would reach: a look-alike with its own keys
        state.other_requests.append(what)
        if what == "discovery":
            return jsonify(issuer=state.url, jwks_uri=server.url + "/elsewhere/certs")
        return jsonify(KeySet(state.keys).as_dict(private=False))

    @app.get("/attacker/certs")
    def attacker():
        state.other_requests.append("attacker")
        return jsonify({"keys": []})

    state.publish(rsa("k1"))
    yield state
    server.stop()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def verifier(issuer: Issuer, clock=None, **kwargs) -> TokenVerifier:
    return TokenVerifier(issuer.url, "alliance-api", clock=clock or time.monotonic, **kwargs)


def b64(data: dict | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_a_good_token_is_accepted_with_its_roles(issuer):
    token = issuer.sign(issuer.claims(roles=["researcher"]))
    principal = verifier(issuer).principal(token)
    assert principal.subject == "user-1"
    assert principal.client_id == "portal"
    assert principal.roles == {"researcher"}


def test_es256_is_accepted_too(issuer):
    key = ECKey.generate_key("P-256", parameters={"kid": "ec1", "use": "sig", "alg": "ES256"})
    issuer.publish(key)
    assert verifier(issuer).verify(issuer.sign(issuer.claims(), key, "ES256"))["sub"] == "user-1"


def test_another_issuer_is_refused(issuer):
    with pytest.raises(WrongIssuer, match="is not"):
        verifier(issuer).verify(issuer.sign(issuer.claims(iss="https://evil.example/realms/x")))


def test_a_token_for_another_audience_is_refused(issuer):
    token = issuer.sign(issuer.claims(aud=["de-stemcellbank"]))
    with pytest.raises(WrongAudience):
        verifier(issuer).verify(token)
    assert verifier(issuer).verify(token, audience="de-stemcellbank")["aud"] == ["de-stemcellbank"]
    with pytest.raises(WrongAudience):
        verifier(issuer).verify(issuer.sign(issuer.claims(aud=None)))


def test_an_expired_token_is_refused_beyond_the_leeway(issuer):
    now = int(time.time())
    with pytest.raises(ExpiredToken):
        verifier(issuer, leeway=30).verify(issuer.sign(issuer.claims(exp=now - 60)))
    # Within the leeway a slightly slow clock is forgiven.
    assert verifier(issuer, leeway=30).verify(issuer.sign(issuer.claims(exp=now - 5)))


def test_a_token_without_expiry_or_from_the_future_is_refused(issuer):
    with pytest.raises(InvalidClaims, match="exp"):
        verifier(issuer).verify(issuer.sign(issuer.claims(exp=None)))
    with pytest.raises(InvalidClaims, match="nbf|not yet"):
        verifier(issuer).verify(issuer.sign(issuer.claims(nbf=int(time.time()) + 3600)))


def test_right_header_wrong_key_is_a_bad_signature(issuer):
    impostor = rsa("k1")  # same kid as the published key, different key material
    with pytest.raises(BadSignature):
        verifier(issuer).verify(issuer.sign(issuer.claims(), impostor))


def test_alg_none_is_refused(issuer):
    token = f"{b64({'alg': 'none', 'kid': 'k1', 'typ': 'JWT'})}.{b64(issuer.claims())}."
    with pytest.raises(UntrustedAlgorithm, match="'none'"):
        verifier(issuer).verify(token)


def test_hmac_keyed_with_the_public_key_is_refused(issuer):
    # The classic confusion attack: sign with HMAC, using the published public key as secret.
    public_pem = issuer.keys[0].as_pem(private=False)
    signing_input = f"{b64({'alg': 'HS256', 'kid': 'k1'})}.{b64(issuer.claims())}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{b64(mac)}"
    with pytest.raises(UntrustedAlgorithm, match="HS256"):
        verifier(issuer).verify(token)


def test_a_jku_header_is_never_followed(issuer):
    attacker = rsa("evil")
    token = issuer.sign(
        issuer.claims(), attacker, jku=issuer.url.replace("realms/test", "attacker/certs")
    )
    with pytest.raises(UnknownKey, match="evil"):
        verifier(issuer).verify(token)
    assert issuer.other_requests == []


def test_a_rotated_key_is_picked_up_by_refetching_once(issuer):
    clock = Clock()
    v = verifier(issuer, clock=clock, jwks_cooldown=10)
    assert v.verify(issuer.sign(issuer.claims()))
    assert issuer.jwks_requests == 1
    old, new = issuer.keys[0], rsa("k2")
    issuer.publish(new, old)  # the provider rotates: new active key, old one still published
    clock.now += 11
    assert v.verify(issuer.sign(issuer.claims(), new))["sub"] == "user-1"
    assert issuer.jwks_requests == 2
    assert v.verify(issuer.sign(issuer.claims(), old))  # known key: no refetch
    assert issuer.jwks_requests == 2


def test_unknown_kids_cannot_make_us_hammer_the_issuer(issuer):
    clock = Clock()
    v = verifier(issuer, clock=clock, jwks_cooldown=10)
    v.verify(issuer.sign(issuer.claims()))
    for i in range(5):
        with pytest.raises(UnknownKey):
            v.verify(issuer.sign(issuer.claims(), rsa(f"random-{i}")))
    assert issuer.jwks_requests == 1  # all within the cooldown after the first fetch
    clock.now += 11
    with pytest.raises(UnknownKey):
        v.verify(issuer.sign(issuer.claims(), rsa("random-late")))
    assert issuer.jwks_requests == 2


def test_keys_are_refreshed_after_their_ttl(issuer):
    clock = Clock()
    v = verifier(issuer, clock=clock, jwks_ttl=600)
    v.verify(issuer.sign(issuer.claims()))
    clock.now += 601
    v.verify(issuer.sign(issuer.claims()))
    assert issuer.jwks_requests == 2


def test_id_tokens_and_access_tokens_are_not_interchangeable(issuer):
    id_token = issuer.sign(issuer.claims(typ="ID", aud="portal"))
    with pytest.raises(InvalidClaims, match="not an access token"):
        verifier(issuer).verify(id_token, audience="portal")
    assert verifier(issuer).verify(id_token, audience="portal", id_token=True)
    with pytest.raises(InvalidClaims, match="not an ID token"):
        verifier(issuer).verify(issuer.sign(issuer.claims(aud="portal")), "portal", id_token=True)


def test_a_look_alike_discovery_document_is_refused(issuer):
    issuer.claimed_issuer = "https://idp.example/realms/test"
    with pytest.raises(IssuerUnavailable, match="names an issuer other than"):
        verifier(issuer).verify(issuer.sign(issuer.claims()))


def test_an_unreachable_issuer_is_reported_as_such():
    v = TokenVerifier("http://127.0.0.1:9/realms/none", "alliance-api", timeout=2)
    claims = {"sub": "a", "iss": v.issuer}
    token = f"{b64({'alg': 'RS256', 'kid': 'x'})}.{b64(claims)}.{b64(b'sig')}"
    with pytest.raises(IssuerUnavailable):
        v.verify(token)


@pytest.mark.parametrize("raw", ["", "abc", "a.b", "a.b.c.d", "###.###.###"])
def test_garbage_is_malformed(issuer, raw):
    with pytest.raises(MalformedToken):
        verifier(issuer).verify(raw)


def test_unsafe_algorithms_cannot_be_configured():
    with pytest.raises(ValueError, match="HS256"):
        TokenVerifier("https://idp.example", "api", algorithms=["RS256", "HS256"])


def test_bearer_header_parsing():
    assert bearer_token("Bearer abc.def.ghi") == "abc.def.ghi"
    assert bearer_token("bearer  xyz ") == "xyz"
    assert bearer_token("Basic dXNlcjpwYXNz") is None
    assert bearer_token("Bearer ") is None
    assert bearer_token(None) is None


# -- redirects are refused (H2) ------------------------------------------------------------
@pytest.mark.parametrize("status", [302, 307, 308])
def test_a_redirected_discovery_document_is_refused(issuer, status):
    issuer.redirect_discovery = status
    with pytest.raises(IssuerUnavailable, match=f"HTTP {status}, a redirect"):
        verifier(issuer).verify(issuer.sign(issuer.claims()))
    assert issuer.other_requests == []


@pytest.mark.parametrize("status", [302, 307, 308])
def test_a_redirected_key_set_is_refused(issuer, status):
    issuer.redirect_jwks = status
    with pytest.raises(IssuerUnavailable, match=f"HTTP {status}, a redirect"):
        verifier(issuer).verify(issuer.sign(issuer.claims()))
    assert issuer.jwks_requests == 1 and issuer.other_requests == []


def test_a_failed_discovery_is_not_retried_within_the_cooldown(issuer):
    clock = Clock()
    issuer.redirect_discovery = 302
    v = verifier(issuer, clock=clock, jwks_cooldown=10)
    for _ in range(3):
        with pytest.raises(IssuerUnavailable):
            v.verify(issuer.sign(issuer.claims()))
    issuer.redirect_discovery = None
    with pytest.raises(IssuerUnavailable):  # still within the cooldown
        v.verify(issuer.sign(issuer.claims()))
    clock.now += 11
    assert v.verify(issuer.sign(issuer.claims()))["sub"] == "user-1"


# -- machine tokens (L12) ------------------------------------------------------------------
def machine_claims(issuer: Issuer, client: str = "portal", **overrides) -> dict:
    """What Keycloak puts in a client-credentials token (seen from the alliance realm): no
    ``sid`` or ``auth_time``, the service account's user name and realm role."""
    claims = {
        "azp": client,
        "sub": "775a4674-d434-51a5-b2d6-d6c88fa00072",
        "preferred_username": f"service-account-{client}",
        "roles": ["offline_access", "alliance-service", "default-roles-alliance"],
        "scope": "email profile",
    }
    return issuer.claims(**{**claims, **overrides})


def person_claims(issuer: Issuer, client: str = "portal", **overrides) -> dict:
    """A person's access token through the same client: same azp and audience."""
    claims = {
        "azp": client,
        "sub": "5b5a8ea0-9cbd-5fbd-87ea-4353eba8cc3a",
        "sid": "HHZrLZFl3AKxK-nNKZ_fT7I0",
        "auth_time": int(time.time()),
        "preferred_username": "alice",
        "email": "alice@example.org",
        "roles": ["researcher", "offline_access", "default-roles-alliance"],
        "scope": "openid email profile",
    }
    return issuer.claims(**{**claims, **overrides})


@pytest.fixture
def machine_api(issuer):
    """A JSON API that only the portal's service may call, as the nodes' access API is."""
    app = Flask("api")
    app.config["OIDC_ROLES_CLAIM"] = "roles"
    trusted = TokenVerifier(issuer.url, "alliance-api")

    @app.get("/parts")
    @require_token(lambda: trusted, lambda: "alliance-api", lambda: {"portal", "indexer"})
    def parts():
        return jsonify(client=principal().client_id)

    def call(claims: dict):
        token = issuer.sign(claims)
        return app.test_client().get("/parts", headers={"Authorization": f"Bearer {token}"})

    return call


def test_a_client_credentials_token_is_accepted(issuer, machine_api):
    assert machine_api(machine_claims(issuer)).json == {"client": "portal"}
    # The indexer's token has no profile scope, so no user name: its realm role says it.
    indexer = machine_claims(issuer, "indexer", preferred_username=None, scope="node-x")
    assert machine_api(indexer).status_code == 200


@pytest.mark.parametrize(
    "claims",
    [
        {},  # alice through the portal client: sid, her name, her roles
        {"roles": ["researcher", "alliance-service"]},  # a person given a machine role
        {"sid": None, "auth_time": None},  # no session claims, still a person's name
        {"sid": None, "preferred_username": None, "roles": ["researcher"]},  # no sign at all
    ],
)
def test_a_persons_token_is_refused_where_a_machine_is_expected(issuer, machine_api, claims):
    resp = machine_api(person_claims(issuer, **claims))
    assert resp.status_code == 403
    assert resp.json["error"] == "machine_token_required"


def test_a_session_claim_makes_any_token_a_persons(issuer, machine_api):
    resp = machine_api(machine_claims(issuer, session_state="abc"))
    assert resp.status_code == 403 and resp.json["error"] == "machine_token_required"
    other = machine_claims(issuer, client_id="indexer")  # client_id and azp disagree
    assert machine_api(other).status_code == 403


def test_a_nodes_person_cannot_poke_in_the_nodes_name(issuer):
    from search.indexer.app import node_poke_auth

    config = {
        "INDEXER_CLIENT_SECRET": "x",
        "OIDC_ISSUER": issuer.url,
        "OIDC_AUDIENCE": "alliance-api",
        "OIDC_ALGORITHMS": ["RS256"],
        "OIDC_LEEWAY": 30,
        "OIDC_JWKS_TTL": 600,
        "OIDC_JWKS_COOLDOWN": 10,
        "OIDC_TIMEOUT": 5,
    }
    check = node_poke_auth(config)
    node = machine_claims(issuer, "uk-hipsci", roles=["member-node"])
    check(f"Bearer {issuer.sign(node)}", "uk-hipsci")
    dave = person_claims(issuer, "uk-hipsci", preferred_username="dave", roles=["biobank-admin"])
    with pytest.raises(PermissionError, match="person"):
        check(f"Bearer {issuer.sign(dave)}", "uk-hipsci")
