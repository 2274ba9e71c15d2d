"""Keycloak rotates its signing key (through its admin API): verifiers pick the new key up
without a restart, and stop trusting the old one once the provider drops it.

Runs in a realm of its own (imported from the alliance realm file under another name), so
the rotation cannot disturb the other tests' keys."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
import requests

from cellfed.config import PROJECT_ROOT
from federation.trust import TokenVerifier, UnknownKey
from tests.access.conftest import demo_secret

pytestmark = pytest.mark.keycloak


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def kid_of(token: str) -> str:
    raw = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))["kid"]


@pytest.fixture
def realm(idp):
    if not idp.admin_password:
        pytest.skip("the reused identity provider's admin password is unknown")
    base = idp.base_url
    token = requests.post(
        f"{base}/realms/master/protocol/openid-connect/token",
        data={
            "grant_type": "password",
            "client_id": "admin-cli",
            "username": "admin",
            "password": idp.admin_password,
        },
        timeout=30,
    ).json()["access_token"]
    admin = requests.Session()
    admin.headers["Authorization"] = f"Bearer {token}"
    rep = json.loads((PROJECT_ROOT / "config" / "keycloak" / "alliance-realm.json").read_text())
    rep["realm"] = name = f"rotation-{uuid.uuid4().hex[:8]}"
    for user in rep["users"]:
        user.pop("id", None)  # user ids are unique across realms
    admin.post(f"{base}/admin/realms", json=rep, timeout=60).raise_for_status()
    yield admin, f"{base}/admin/realms/{name}", f"{base}/realms/{name}"
    admin.delete(f"{base}/admin/realms/{name}", timeout=60)


def node_token(issuer: str) -> str:
    """A member node's own token: the central audience (the portal's carry only nodes')."""
    resp = requests.post(
        f"{issuer}/protocol/openid-connect/token",
        data={"grant_type": "client_credentials"},
        auth=("cn-nsccr", demo_secret("cn-nsccr")),
        timeout=30,
    )
    resp.raise_for_status()
    return resp.json()["access_token"]


def test_a_rotated_signing_key_is_picked_up(realm):
    admin, admin_url, issuer = realm
    clock = Clock()
    verifier = TokenVerifier(issuer, "alliance-api", clock=clock, jwks_cooldown=10, jwks_ttl=600)
    before = node_token(issuer)
    assert verifier.verify(before)["azp"] == "cn-nsccr"
    assert verifier.keys.fetches == 1

    realm_id = admin.get(admin_url, timeout=30).json()["id"]
    old_providers = [
        c["id"]
        for c in admin.get(
            f"{admin_url}/components", params={"type": "org.keycloak.keys.KeyProvider"}
        ).json()
        if c["providerId"] == "rsa-generated"
    ]
    created = admin.post(
        f"{admin_url}/components",
        json={
            "name": "rotated-rs256",
            "providerId": "rsa-generated",
            "providerType": "org.keycloak.keys.KeyProvider",
            "parentId": realm_id,
            "config": {
                "priority": ["500"],
                "keySize": ["2048"],
                "active": ["true"],
                "enabled": ["true"],
                "algorithm": ["RS256"],
            },
        },
        timeout=30,
    )
    assert created.status_code == 201, created.text
    after = node_token(issuer)
    assert kid_of(after) != kid_of(before)

    clock.now += 11  # past the refetch cooldown
    assert verifier.verify(after)["azp"] == "cn-nsccr"
    assert verifier.keys.fetches == 2  # one refetch, for the unknown kid
    assert verifier.verify(before)  # the old key is still published: its tokens stay valid

    # The provider drops the old key: once our key set is refreshed, its tokens are refused.
    for provider in old_providers:
        assert admin.delete(f"{admin_url}/components/{provider}", timeout=30).status_code == 204
    clock.now += 601  # past the key set's TTL
    assert verifier.verify(after)
    with pytest.raises(UnknownKey):
        verifier.verify(before)
