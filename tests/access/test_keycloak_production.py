"""Keycloak in production mode, as the launcher starts it: ``kc.sh build`` and
``kc.sh start --optimized`` on a throwaway PostgreSQL, HTTPS only with a certificate from a
throwaway CA (verified, never ignored), a strict hostname, health on the management
interface, the alliance realm imported with secrets and passwords of the test's own.

Also the shipped realm's user profile (finding M6): a researcher cannot change their own
e-mail or names, neither on Keycloak's update-profile form nor through the account API, so
what a biobank sees of them is what the provider's administrators set.

One Keycloak for the module. Its start-to-healthy time and resident memory (``ps -o rss``
of the JVM) are printed: run with ``-s`` to see them."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import psycopg
import pytest
import requests

from cellfed.config import PROJECT_ROOT
from cellfed.launch.keycloak import LocalKeycloak, jdbc_url
from cellfed.launch.postgres import LocalPostgres
from cellfed.launch.process import LaunchError, free_port
from cellfed.launch.tls import throwaway_ca
from federation.trust import TokenVerifier

pytestmark = pytest.mark.keycloak

REALM_FILE = PROJECT_ROOT / "config" / "keycloak" / "alliance-realm.json"
LOGIN_FORM = re.compile(r'<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"', re.S)
UPDATE_PROFILE_FORM = re.compile(
    r'<form[^>]*id="kc-update-profile-form"[^>]*action="([^"]+)"', re.S
)
PROVIDER_MANAGED = ("email", "firstName", "lastName")


@dataclass
class Production:
    kc: LocalKeycloak
    database_url: str
    client_secrets: dict[str, str]
    user_passwords: dict[str, str]

    def session(self) -> requests.Session:
        http = requests.Session()
        # The throwaway CA, and nothing else: without trust_env=False, REQUESTS_CA_BUNDLE
        # (if set) would override a session's verify (requests' documented precedence).
        http.trust_env = False
        http.verify = self.kc.verify
        return http


def distinct_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


@pytest.fixture(scope="module")
def production(tmp_path_factory) -> Iterator[Production]:
    workdir = tmp_path_factory.mktemp("keycloak-production")
    try:
        postgres = LocalPostgres(database="keycloak")
        postgres.start()
    except LaunchError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no PostgreSQL for Keycloak: {exc}")
    try:
        realm = json.loads(REALM_FILE.read_text())
        client_secrets = {c["clientId"]: secrets.token_urlsafe(24) for c in realm["clients"]}
        user_passwords = {
            u["username"]: secrets.token_urlsafe(16)
            for u in realm["users"]
            if any(c.get("type") == "password" for c in u.get("credentials", []))
        }
        https_port, management_port = distinct_ports(2)
        kc = LocalKeycloak(
            Path(os.environ.get("CELLFED_ENGINE_HOME", PROJECT_ROOT / ".engines")),
            REALM_FILE,
            name="keycloak-production-test",
            run_dir=workdir,  # pid file, log and server tree: this run's own
            production=True,
            database_url=postgres.url,
            tls=throwaway_ca(workdir / "tls", names=("localhost", "127.0.0.1")),
            hostname="localhost",
            https_port=https_port,
            management_port=management_port,
            admin_password=uuid.uuid4().hex,
            client_secrets=client_secrets,
            user_passwords=user_passwords,
        )
        seconds = kc.start()
        rss = kc.resident_kib()
        print(
            f"\nKeycloak production mode: healthy {seconds:.1f}s after start "
            f"(of which kc.sh build {kc.build_seconds:.1f}s), "
            f"JVM resident memory {rss / 1024 if rss else float('nan'):.0f} MiB "
            f"(heap limit {kc.heap})"
        )
        try:
            yield Production(kc, postgres.url, client_secrets, user_passwords)
            rss = kc.resident_kib()
            print(
                "\nKeycloak production mode: "
                f"{rss / 1024 if rss else float('nan'):.0f} MiB resident after the module's tests"
            )
        finally:
            kc.stop()
    finally:
        postgres.stop()


# -- the server as deployed -------------------------------------------------------------
def test_health_is_reported_on_the_management_interface(production):
    http = production.session()
    kc = production.kc
    for check in ("ready", "live", "started"):
        resp = http.get(f"{kc.management_url}/health/{check}", timeout=10)
        assert resp.status_code == 200, resp.text
        assert resp.json()["status"] == "UP"
    ready = http.get(f"{kc.management_url}/health/ready", timeout=10).json()
    assert {"name": "Keycloak Initialized", "status": "UP"} in ready["checks"], ready
    # ... and not on the public interface
    assert http.get(f"{kc.url}/health/ready", timeout=10).status_code == 404


def test_https_only_with_a_strict_hostname(production):
    kc = production.kc
    http = production.session()
    meta = http.get(f"{kc.issuer}/.well-known/openid-configuration", timeout=10).json()
    assert meta["issuer"] == f"https://localhost:{kc.https_port}/realms/alliance"
    assert all(
        meta[key].startswith(f"https://localhost:{kc.https_port}/")
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri")
    )
    # The hostname is fixed: asking by address (or by another Host) changes nothing.
    by_address = http.get(
        f"https://127.0.0.1:{kc.https_port}/realms/alliance/.well-known/openid-configuration",
        headers={"Host": "evil.example"},
        timeout=10,
    )
    assert by_address.json()["issuer"] == meta["issuer"]
    # A client that trusts only the system's CAs refuses the server.
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(kc.issuer, timeout=10, verify=True)
    # No plain-HTTP listener: the HTTPS port does not speak HTTP.
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"http://localhost:{kc.https_port}/realms/alliance", timeout=10)


def test_the_realm_lives_in_postgres(production):
    url = production.database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url) as conn:
        realms = {row[0] for row in conn.execute("SELECT name FROM realm")}
        clients = {
            row[0]
            for row in conn.execute(
                "SELECT c.client_id FROM client c JOIN realm r ON r.id = c.realm_id"
                " WHERE r.name = 'alliance'"
            )
        }
    assert {"master", "alliance"} <= realms
    assert {"portal", "indexer", "cn-nsccr", "account-console"} <= clients


def test_a_client_gets_a_token_with_its_own_secret(production):
    kc = production.kc
    http = production.session()
    token_url = f"{kc.issuer}/protocol/openid-connect/token"
    resp = http.post(
        token_url,
        data={"grant_type": "client_credentials"},
        auth=("cn-nsccr", production.client_secrets["cn-nsccr"]),
        timeout=30,
    )
    assert resp.status_code == 200, resp.text
    claims = TokenVerifier(kc.issuer, "alliance-api", http=http).verify(resp.json()["access_token"])
    assert claims["azp"] == "cn-nsccr"
    assert claims["iss"] == kc.issuer
    # The realm file's demo secret was replaced before the import.
    demo = http.post(
        token_url,
        data={"grant_type": "client_credentials"},
        auth=("cn-nsccr", "cn-nsccr-demo-secret"),
        timeout=30,
    )
    assert demo.status_code == 401


# -- the user profile (M6) ------------------------------------------------------------
def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_claims(token: str) -> dict:
    raw = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))


def admin_session(production: Production) -> requests.Session:
    http = production.session()
    http.headers["Authorization"] = f"Bearer {production.kc.admin_token()}"
    return http


def user_as_admin_sees_it(production: Production, username: str) -> dict:
    users = admin_session(production).get(
        f"{production.kc.url}/admin/realms/alliance/users",
        params={"username": username, "exact": "true"},
        timeout=30,
    )
    users.raise_for_status()
    return users.json()[0]


def sign_in(
    production: Production, http: requests.Session, username: str, **params: str
) -> tuple[requests.Response, str, str]:
    """Through the real login form as the account console does (code flow with PKCE);
    returns the response to the password form, the redirect URI and the PKCE verifier."""
    kc = production.kc
    verifier = secrets.token_urlsafe(48)
    redirect_uri = f"{kc.issuer}/account/"
    query = {
        "client_id": "account-console",
        "response_type": "code",
        "scope": "openid",
        "redirect_uri": redirect_uri,
        "state": secrets.token_urlsafe(8),
        "nonce": secrets.token_urlsafe(8),
        "code_challenge": b64url(hashlib.sha256(verifier.encode()).digest()),
        "code_challenge_method": "S256",
        **params,
    }
    page = http.get(f"{kc.issuer}/protocol/openid-connect/auth?{urlencode(query)}", timeout=30)
    assert page.status_code == 200, page.text[:500]
    form = LOGIN_FORM.search(page.text)
    assert form, f"no login form at {page.url}"
    done = http.post(
        html.unescape(form.group(1)),
        data={
            "username": username,
            "password": production.user_passwords[username],
            "credentialId": "",
        },
        allow_redirects=False,
        timeout=30,
    )
    assert done.status_code == 302, done.text[:1000]
    return done, redirect_uri, verifier


def test_the_update_profile_form_refuses_a_new_email_or_name(production):
    """The path the shipped realm offers a user (an application, or the user, may ask for
    it with kc_action=UPDATE_PROFILE): the fields are read-only, a forged post is refused."""
    http = production.session()
    done, _, _ = sign_in(production, http, "erin", kc_action="UPDATE_PROFILE")
    page = http.get(done.headers["Location"], timeout=30)
    form = UPDATE_PROFILE_FORM.search(page.text)
    assert form, page.text[:1000]
    for name in PROVIDER_MANAGED:
        field = re.search(rf'<input[^>]*\bname="{name}"[^>]*>', page.text, re.S)
        assert field and re.search(r"\sdisabled\b", field.group(0)), (name, field)
    refused = http.post(
        html.unescape(form.group(1)),
        data={
            "username": "erin",
            "email": "pi@famous-institute.example",
            "firstName": "Famous",
            "lastName": "Principal-Investigator",
        },
        allow_redirects=False,
        timeout=30,
    )
    assert refused.status_code == 200  # the form again, with errors, not a redirect onwards
    assert refused.text.count("This field is read only") == len(PROVIDER_MANAGED)
    erin = user_as_admin_sees_it(production, "erin")
    assert (erin["email"], erin["firstName"], erin["lastName"], erin["emailVerified"]) == (
        "erin@example.org",
        "Erin",
        "Researcher",
        True,
    )


def test_the_account_api_refuses_a_new_email_or_name(production):
    """The account console's REST API. The shipped realm has no "roles" client scope, so
    the console's tokens carry no account roles and the API answers 403 to everyone; this
    test maps those roles in (as a deployment enabling the console would) to show the user
    profile, not that accident, is what refuses the change."""
    kc = production.kc
    admin = admin_session(production)
    console = admin.get(
        f"{kc.url}/admin/realms/alliance/clients", params={"clientId": "account-console"}
    ).json()[0]
    admin.post(
        f"{kc.url}/admin/realms/alliance/clients/{console['id']}/protocol-mappers/models",
        json={
            "name": "account roles (test)",
            "protocol": "openid-connect",
            "protocolMapper": "oidc-usermodel-client-role-mapper",
            "config": {
                "usermodel.clientRoleMapping.clientId": "account",
                "claim.name": "resource_access.${client_id}.roles",
                "multivalued": "true",
                "jsonType.label": "String",
                "access.token.claim": "true",
            },
        },
        timeout=30,
    ).raise_for_status()

    http = production.session()
    done, redirect_uri, verifier = sign_in(production, http, "alice")
    location = done.headers["Location"]
    assert location.startswith(redirect_uri), location  # no profile page in between
    tokens = http.post(
        f"{kc.issuer}/protocol/openid-connect/token",
        data={
            "grant_type": "authorization_code",
            "client_id": "account-console",
            "code": parse_qs(urlsplit(location).query)["code"][0],
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        },
        timeout=30,
    )
    assert tokens.status_code == 200, tokens.text
    access = tokens.json()["access_token"]
    assert "manage-account" in jwt_claims(access)["resource_access"]["account"]["roles"]
    http.headers.update({"Authorization": f"Bearer {access}", "Accept": "application/json"})
    account_url = f"{kc.issuer}/account/"
    me = http.get(account_url, params={"userProfileMetadata": "true"}, timeout=30)
    assert me.status_code == 200, me.text
    before = me.json()
    assert (before["email"], before["emailVerified"]) == ("alice@example.org", True)
    metadata = {a["name"]: a for a in before["userProfileMetadata"]["attributes"]}
    for name in PROVIDER_MANAGED:
        assert metadata[name]["readOnly"] is True, metadata[name]

    unchanged = {k: before[k] for k in ("username", *PROVIDER_MANAGED)}
    assert http.post(account_url, json=unchanged, timeout=30).status_code == 204  # the API works
    for name, value in (
        ("email", "pi@famous-institute.example"),
        ("firstName", "Famous"),
        ("lastName", "Principal-Investigator"),
    ):
        resp = http.post(account_url, json={**unchanged, name: value}, timeout=30)
        assert resp.status_code == 400, (name, resp.status_code, resp.text)
        assert resp.json()["errorMessage"] == "error-user-attribute-read-only"
    after = http.get(account_url, timeout=30).json()
    assert {k: after[k] for k in PROVIDER_MANAGED} == {k: before[k] for k in PROVIDER_MANAGED}


def test_the_realm_reports_the_profile_as_provider_managed(production):
    kc = production.kc
    profile = admin_session(production).get(
        f"{kc.url}/admin/realms/alliance/users/profile", timeout=30
    )
    assert profile.status_code == 200, profile.text
    attributes = {a["name"]: a for a in profile.json()["attributes"]}
    for name in PROVIDER_MANAGED:
        assert attributes[name]["permissions"]["edit"] == ["admin"], attributes[name]
        assert "user" in attributes[name]["permissions"]["view"]
    assert attributes["biobanks"]["permissions"] == {"view": ["admin"], "edit": ["admin"]}


# -- what production mode refuses (nothing is started) ---------------------------------
@pytest.fixture
def unstarted(tmp_path):
    def make(**overrides) -> LocalKeycloak:
        https_port, management_port = distinct_ports(2)
        options = {
            "production": True,
            "database_url": "postgresql://keycloak@127.0.0.1:1/keycloak",
            "tls": throwaway_ca(tmp_path / "tls"),
            "hostname": "localhost",
            "https_port": https_port,
            "management_port": management_port,
            "admin_password": uuid.uuid4().hex,
            "name": "keycloak-unstarted",
            **overrides,
        }
        return LocalKeycloak(tmp_path / "home", REALM_FILE, **options)

    return make


def test_production_mode_refuses_the_demo_credentials(unstarted):
    with pytest.raises(LaunchError, match="demo credentials.*client portal.*user alice"):
        unstarted().start()
    with pytest.raises(LaunchError, match="user alice"):
        unstarted(client_secrets={"portal": "x" * 24, "indexer": "y" * 24}).start()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"admin_password": "admin"}, "admin password"),
        ({"tls": None}, "needs TLS"),
        ({"database_url": None}, "needs a PostgreSQL"),
        ({"hostname": None}, "needs a hostname"),
        ({"client_secrets": {"no-such-client": "x"}}, "no-such-client"),
    ],
)
def test_production_mode_refuses_an_incomplete_setup(unstarted, overrides, message):
    with pytest.raises(LaunchError, match=message):
        unstarted(**overrides).start()


def test_database_urls_become_jdbc_urls_without_credentials():
    assert jdbc_url("postgresql+psycopg://kc:s%40cret@db.internal:5433/idp?sslmode=require") == (
        "jdbc:postgresql://db.internal:5433/idp?sslmode=require",
        "kc",
        "s@cret",
    )
    assert jdbc_url("postgresql://[::1]/keycloak") == (
        "jdbc:postgresql://[::1]/keycloak",
        None,
        None,
    )
    assert jdbc_url("jdbc:postgresql://db/kc") == ("jdbc:postgresql://db/kc", None, None)
    with pytest.raises(LaunchError):
        jdbc_url("mysql://db/kc")
