"""The production smoke test: the central side and one member node in production mode
(``CELLFED_ENV=production``) on loopback, every public face HTTPS with certificates of a
throwaway CA made here, nothing verified less than a deployment would.

* Keycloak in production mode (``kc.sh build`` + ``start --optimized``) on a throwaway
  PostgreSQL, the alliance realm with secrets and passwords of this run; its start-up time
  and resident memory are measured and printed (run with ``-s`` to see them).
* The node joins as an operator would make it: ``cellfed node init``, then
  ``cellfed alliance add-member --instance`` against that Keycloak (its admin API, over TLS
  checked with the CA), ``node migrate``, ``node import``; then ``node serve`` (gunicorn with
  the certificate: GUNICORN_CMD_ARGS) and ``node worker``, from the instance file alone.
* The central side: ``index serve`` (reads the node with its own client's tokens),
  ``portal migrate``, ``portal serve`` (gunicorn, TLS) and ``portal worker``.
* Every Python process trusts the throwaway CA through REQUESTS_CA_BUNDLE, nothing else.
  Chromium trusts exactly the server key of this run (``--ignore-certificate-errors-spki-
  list`` with its SPKI hash; any other certificate is still refused), so the browser checks
  the TLS of every page as it would for a public CA.

A researcher then signs in through Keycloak's real login page in Chromium, searches, and
submits an access request, which the portal's worker delivers to the node and the node
takes into its inbox; the security headers of the pages and APIs are checked on the way. One
Keycloak for the module; about two minutes in all.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from cellfed.config import PROJECT_ROOT
from cellfed.launch.keycloak import LocalKeycloak
from cellfed.launch.process import LaunchError, free_port
from cellfed.launch.tls import TlsFiles, throwaway_ca
from search.aliases import drop_indices
from search.engine import SearchEngine
from tests.builders import catalogue, cell_line
from tests.production.processes import CellfedService, cellfed_env, run_cellfed

pytestmark = [pytest.mark.keycloak, pytest.mark.browser, pytest.mark.engine]

REALM_FILE = PROJECT_ROOT / "config" / "keycloak" / "alliance-realm.json"
NODE_ID = "fr-smoke"
LINE = "SMOKE-iPSC-1"
RESEARCHER = "alice"


@dataclass
class Deployment:
    workdir: Path
    tls: TlsFiles
    engine_url: str
    ports: dict[str, int]  # node, portal, indexer
    prefix: str = field(default_factory=lambda: f"test-smoke-{uuid.uuid4().hex[:8]}-")
    kc: LocalKeycloak | None = None
    passwords: dict[str, str] = field(default_factory=dict)
    client_secrets: dict[str, str] = field(default_factory=dict)
    services: list[CellfedService] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)

    @property
    def node_url(self) -> str:
        return f"https://127.0.0.1:{self.ports['node']}"

    @property
    def portal_url(self) -> str:
        return f"https://127.0.0.1:{self.ports['portal']}"

    @property
    def indexer_url(self) -> str:  # plain http, on loopback only (production allows that)
        return f"http://127.0.0.1:{self.ports['indexer']}"

    @property
    def issuer(self) -> str:
        assert self.kc is not None
        return self.kc.issuer

    @property
    def members(self) -> Path:
        return self.workdir / "members.toml"

    @property
    def gunicorn_tls(self) -> str:
        return f"--certfile={self.tls.certificate} --keyfile={self.tls.key}"

    def http(self) -> requests.Session:
        """A client that trusts the throwaway CA and nothing else (trust_env off: an
        inherited REQUESTS_CA_BUNDLE must not widen it)."""
        session = requests.Session()
        session.trust_env = False
        session.verify = str(self.tls.ca)
        return session

    def start(self, name: str, args: list[str], env: dict[str, str], ready=None) -> None:
        service = CellfedService(name, args, env, self.workdir)
        self.services.append(service)
        seconds = service.start(ready, timeout=90)
        if ready is not None:
            self.figures[f"{name} ready (s)"] = seconds

    def stop(self) -> None:
        for service in reversed(self.services):
            service.stop()


def distinct_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def spki_hash(tls: TlsFiles) -> str:
    """base64(SHA-256(SubjectPublicKeyInfo)) of the server certificate, as Chromium wants it."""
    leaf = x509.load_pem_x509_certificates(Path(tls.certificate).read_bytes())[0]
    der = leaf.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def wait_until(check, timeout: float, what: str) -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what} did not happen within {timeout:.0f}s")
        time.sleep(0.5)
    return time.monotonic() - started


# -- the deployment, step by step ------------------------------------------------------
def realm_for(d: Deployment) -> Path:
    """The shipped realm with its portal client sent back to this run's portal; new secrets
    for every client and passwords for every user (production mode refuses the demo's)."""
    realm = json.loads(REALM_FILE.read_text())
    portal = next(c for c in realm["clients"] if c["clientId"] == "portal")
    portal["rootUrl"] = d.portal_url
    portal["redirectUris"] = [f"{d.portal_url}/auth/callback"]
    portal["attributes"]["post.logout.redirect.uris"] = f"{d.portal_url}/auth/logged-out"
    if "backchannel.logout.url" in portal["attributes"]:
        logout = f"{d.portal_url}/api/v1/auth/backchannel-logout"
        portal["attributes"]["backchannel.logout.url"] = logout
    d.client_secrets = {c["clientId"]: secrets.token_urlsafe(32) for c in realm["clients"]}
    d.passwords = {
        u["username"]: secrets.token_urlsafe(16)
        for u in realm["users"]
        if any(c.get("type") == "password" for c in u.get("credentials", []))
    }
    path = d.workdir / "alliance-realm.json"
    path.write_text(json.dumps(realm))
    return path


def start_keycloak(d: Deployment, database_url: str) -> None:
    https_port, management_port = distinct_ports(2)
    d.kc = LocalKeycloak(
        Path(os.environ.get("CELLFED_ENGINE_HOME", PROJECT_ROOT / ".engines")),
        realm_for(d),
        name="keycloak-smoke",
        run_dir=d.workdir / "keycloak",
        production=True,
        database_url=database_url,
        tls=d.tls,
        hostname="localhost",
        https_port=https_port,
        management_port=management_port,
        admin_password=uuid.uuid4().hex,
        client_secrets=d.client_secrets,
        user_passwords=d.passwords,
    )
    d.figures["Keycloak healthy after start (s)"] = d.kc.start()
    d.figures["of which kc.sh build (s)"] = d.kc.build_seconds
    d.figures["Keycloak resident after start (MiB)"] = (d.kc.resident_kib() or 0) / 1024


def join_node(d: Deployment) -> dict[str, str]:
    """What the node's operator and the alliance's operator run; returns the node's
    environment (its instance file, the CA, gunicorn's TLS files: nothing else)."""
    instance_dir = d.workdir / "node"
    run_cellfed(
        *("node", "init", "--id", NODE_ID, "--name", "Smoke Test Biobank"),
        *("--url", d.node_url, "--dir", str(instance_dir), "--issuer", d.issuer),
        *("--portal-url", d.portal_url, "--indexer-url", d.indexer_url),
        env=cellfed_env(),
    )
    instance = instance_dir / "cellfed.toml"
    assert d.kc is not None
    operator = cellfed_env(
        {
            "ENV": "production",
            "OIDC_ISSUER": d.issuer,
            "IDP_ADMIN_PASSWORD": d.kc.admin_password,
            "MEMBERS_FILE": str(d.members),
        }
    )
    run_cellfed(
        *("alliance", "add-member", "--id", NODE_ID, "--name", "Smoke Test Biobank"),
        *("--url", d.node_url, "--instance", str(instance), "--ca", str(d.tls.ca)),
        env=operator,
    )
    env = cellfed_env(
        {"CONFIG": str(instance)},
        REQUESTS_CA_BUNDLE=str(d.tls.ca),
        GUNICORN_CMD_ARGS=d.gunicorn_tls,
    )
    run_cellfed("node", "migrate", env=env)
    data = d.workdir / "catalogue.json"
    data.write_text(json.dumps(catalogue(cell_line(LINE, name=LINE))))
    run_cellfed("node", "import", str(data), env=env)
    return env


def start_node(d: Deployment, env: dict[str, str]) -> None:
    http = d.http()
    serve = ["node", "serve", "--port", str(d.ports["node"]), "--workers", "2"]
    d.start("node", serve, env, lambda: http.get(f"{d.node_url}/readyz", timeout=5).ok)
    d.start("node-worker", ["node", "worker"], env)


def central_env(d: Deployment, **settings: str) -> dict[str, str]:
    common = {
        "ENV": "production",
        "OIDC_ISSUER": d.issuer,
        "SEARCH_URL": d.engine_url,
        "INDEX_PREFIX": d.prefix,
        "MEMBERS_FILE": str(d.members),
    }
    return cellfed_env({**common, **settings}, REQUESTS_CA_BUNDLE=str(d.tls.ca))


def start_indexer(d: Deployment) -> None:
    env = central_env(d, INDEXER_CLIENT_SECRET=d.client_secrets["indexer"], SYNC_INTERVAL="1")
    serve = ["index", "serve", "--port", str(d.ports["indexer"])]
    health = f"{d.indexer_url}/api/v1/health"
    d.start("indexer", serve, env, lambda: requests.get(health, timeout=5).ok)
    engine = SearchEngine(d.engine_url)
    uid = f"{NODE_ID}:cell_line:{LINE}"
    d.figures["node searchable after the indexer started (s)"] = wait_until(
        lambda: engine.mget(f"{d.prefix}catalogue", [uid]), 60, "the indexer's first sync"
    )


def start_portal(d: Deployment) -> None:
    env = central_env(
        d,
        SECRET_KEY=secrets.token_urlsafe(48),
        OIDC_CLIENT_SECRET=d.client_secrets["portal"],
        PORTAL_URL=d.portal_url,
        PORTAL_DATABASE_URL=f"sqlite:///{d.workdir / 'portal.sqlite3'}",
        ATTACHMENTS_DIR=str(d.workdir / "attachments"),
    )
    env["GUNICORN_CMD_ARGS"] = d.gunicorn_tls
    run_cellfed("portal", "migrate", env=env)
    http = d.http()
    serve = ["portal", "serve", "--port", str(d.ports["portal"]), "--workers", "2"]
    d.start("portal", serve, env, lambda: http.get(f"{d.portal_url}/readyz", timeout=5).ok)
    d.start("portal-worker", ["portal", "worker"], env)


@pytest.fixture(scope="module")
def deployment(engine_url, tmp_path_factory) -> Iterator[Deployment]:
    from cellfed.launch.postgres import LocalPostgres

    workdir = tmp_path_factory.mktemp("production")
    try:
        postgres = LocalPostgres(database="keycloak")
        postgres.start()
    except LaunchError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no PostgreSQL for Keycloak: {exc}")
    ports = dict(zip(("node", "portal", "indexer"), distinct_ports(3), strict=True))
    d = Deployment(
        workdir, throwaway_ca(workdir / "tls", ("localhost", "127.0.0.1")), engine_url, ports
    )
    began = time.monotonic()
    try:
        start_keycloak(d, postgres.url)
        start_node(d, join_node(d))
        start_indexer(d)
        start_portal(d)
        d.figures["whole deployment up (s)"] = time.monotonic() - began
        yield d
        assert d.kc is not None
        d.figures["Keycloak resident after the tests (MiB)"] = (d.kc.resident_kib() or 0) / 1024
        print("\nProduction smoke test figures:")
        for name, value in d.figures.items():
            print(f"  {name}: {value:.1f}")
    finally:
        d.stop()
        if d.kc is not None:
            d.kc.stop()
        postgres.stop()
        drop_indices(SearchEngine(engine_url), d.prefix)


# -- what a researcher's browser sees ---------------------------------------------------
def in_a_thread(work):
    """Playwright's sync API in a thread of its own: the browser tests' session-wide
    Playwright (tests/browser/conftest.py) may be running in this one, and two cannot."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(work).result()


def researcher_story(d: Deployment, documents: dict[str, dict[str, str]]) -> list[dict]:
    """Search, open the line, add it to the cart, sign in at Keycloak, submit the request
    and see the node acknowledge it. Returns the browser's cookies at the end."""
    from playwright.sync_api import expect, sync_playwright

    from tests.browser.conftest import ARGS, CHROMIUM

    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: `make setup` installs Debian's chromium")
    trust_this_key_only = f"--ignore-certificate-errors-spki-list={spki_hash(d.tls)}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=[*ARGS, trust_this_key_only]
        )
        try:
            context = browser.new_context()  # ignore_https_errors stays off
            context.set_default_timeout(30_000)
            page = context.new_page()

            def keep(response) -> None:
                if response.request.resource_type == "document":
                    documents[response.url] = response.all_headers()

            page.on("response", keep)
            page.goto(f"{d.portal_url}/?q={LINE}")
            expect(page.locator("#results-heading")).to_contain_text("1 cell line")
            page.get_by_role("link", name=LINE, exact=True).click()
            expect(page.get_by_role("heading", level=1)).to_have_text(LINE)
            page.get_by_role("button", name="Add to request").click()
            expect(page.get_by_role("status")).to_contain_text("Added")
            page.get_by_role("link", name=re.compile("Request cart")).click()

            page.get_by_role("link", name="Log in").first.click()
            assert d.kc is not None and page.url.startswith(f"{d.kc.url}/realms/alliance/")
            page.get_by_label("Username or email").fill(RESEARCHER)
            page.get_by_label("Password", exact=True).fill(d.passwords[RESEARCHER])
            page.get_by_role("button", name="Sign In").click()
            expect(page).to_have_url(re.compile(r"/cart$"))

            page.get_by_label("Project title").fill("Smoke test of the production mode")
            page.get_by_label(re.compile("What you will do")).fill(
                "Differentiate the line into cardiomyocytes and check its karyotype."
            )
            page.get_by_label("Ethics approval reference").fill("EC-SMOKE-1")
            page.get_by_role("button", name="Submit the request").click()
            expect(page.get_by_role("status")).to_contain_text("Your request was submitted")

            # The portal's worker delivers the part; the node takes it and says so.
            def acknowledged() -> bool:
                page.reload()
                return page.locator("[data-state=under_review]").count() == 1

            d.figures["request delivered and under review at the node (s)"] = wait_until(
                acknowledged, 60, "the node's acknowledgement of the request"
            )
            return context.cookies()
        finally:
            browser.close()


def test_a_researcher_signs_in_through_keycloak_searches_and_asks(deployment):
    documents: dict[str, dict[str, str]] = {}
    cookies = in_a_thread(lambda: researcher_story(deployment, documents))

    ours = {url: h for url, h in documents.items() if url.startswith(deployment.portal_url)}
    assert len(ours) >= 5, sorted(documents)  # search, record, cart, callback's target, request
    for url, headers in ours.items():
        assert_security_headers(url, headers)
    # The node keeps the part in its own database, for its biobank's admins.
    node_db = sa.create_engine(f"sqlite:///{deployment.workdir / 'node' / 'node.sqlite3'}")
    with node_db.connect() as connection:
        parts = connection.execute(sa.text("SELECT biobank_id, state FROM access_parts")).all()
    node_db.dispose()
    assert [tuple(p) for p in parts] == [("bb-berlin", "under_review")]

    portal_cookies = [c for c in cookies if c["domain"] == "127.0.0.1"]
    assert portal_cookies  # the login session
    for cookie in portal_cookies:
        assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Lax", cookie


# -- what every response carries --------------------------------------------------------
def assert_security_headers(url: str, headers) -> None:
    headers = {k.lower(): v for k, v in dict(headers).items()}
    csp = headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in csp, (url, csp)
    assert "default-src 'self'" in csp or "default-src 'none'" in csp, (url, csp)
    assert "base-uri 'none'" in csp, (url, csp)
    assert headers.get("strict-transport-security", "").startswith("max-age="), url
    assert headers.get("referrer-policy") == "strict-origin-when-cross-origin", url
    assert headers.get("x-content-type-options") == "nosniff", url
    assert headers.get("x-frame-options") == "DENY", url


def test_pages_and_apis_carry_the_security_headers(deployment):
    d = deployment
    http = d.http()
    uid = f"{NODE_ID}:cell_line:{LINE}"
    answers = {
        "portal search page": http.get(f"{d.portal_url}/?q={LINE}"),
        "portal record page": http.get(f"{d.portal_url}/records/{uid}"),
        "portal search API": http.get(f"{d.portal_url}/api/v1/search", params={"q": LINE}),
        "portal error page": http.get(f"{d.portal_url}/records/{NODE_ID}:cell_line:nope"),
        "node front page": http.get(f"{d.node_url}/"),
        "node feed without a token": http.get(f"{d.node_url}/api/v1/feed"),
        "node health": http.get(f"{d.node_url}/healthz"),
    }
    assert answers["portal search API"].json()["total"] >= 1
    assert answers["portal error page"].status_code == 404
    assert answers["node feed without a token"].status_code == 401  # FEED_REQUIRE_TOKEN
    for name, resp in answers.items():
        assert_security_headers(name, resp.headers)
    assert (
        "form-action 'self' " + d.kc.url
        in answers["portal search page"].headers["Content-Security-Policy"]
    )


# -- TLS, and what production refuses ---------------------------------------------------
def test_every_public_face_is_https_that_the_ca_vouches_for(deployment):
    d = deployment
    assert d.kc is not None
    faces = [f"{d.portal_url}/healthz", f"{d.node_url}/healthz", d.kc.issuer]
    trusting = d.http()
    for url in faces:
        assert trusting.get(url, timeout=10).status_code == 200, url
        system_store = requests.Session()
        system_store.trust_env = False
        with pytest.raises(requests.exceptions.SSLError):
            system_store.get(url, timeout=10)  # not a certificate of a public CA
        plain = url.replace("https://", "http://", 1)
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(plain, timeout=10)  # no plain HTTP on the HTTPS port
    members = d.members.read_text()
    assert f'url = "{d.node_url}"' in members  # add-member wrote the node's https URL


def test_production_refuses_an_open_feed_and_a_demo_secret(deployment):
    d = deployment
    instance = d.workdir / "node" / "cellfed.toml"
    open_feed = cellfed_env({"CONFIG": str(instance), "FEED_REQUIRE_TOKEN": "false"})
    refused = run_cellfed("node", "serve", "--port", str(free_port()), env=open_feed, check=False)
    assert refused.returncode == 1
    assert "FEED_REQUIRE_TOKEN is false" in refused.stderr
    demo = central_env(
        d,
        SECRET_KEY="short",
        OIDC_CLIENT_SECRET="portal-demo-secret",
        PORTAL_URL="http://portal.example.org",
    )
    refused = run_cellfed("portal", "serve", "--port", str(free_port()), env=demo, check=False)
    assert refused.returncode == 1
    for setting in ("SECRET_KEY is 5 bytes", "OIDC_CLIENT_SECRET is the demo", "PORTAL_URL is"):
        assert setting in refused.stderr, refused.stderr
