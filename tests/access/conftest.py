"""A whole alliance on loopback for the access-request tests: real Keycloak, real OpenSearch,
member nodes and the portal as real HTTP servers, logins through Keycloak's own login form."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from cellfed.config import PROJECT_ROOT
from cellfed.demo import demo_secret
from cellfed.launch.process import free_port
from cellfed.serve import RunningServer, serve_in_thread
from federation.node.app import create_app as create_node_app
from federation.node.importer import import_file
from federation.node.inbox.service import inbox_of
from federation.node.store import store_of
from federation.registry import load_members
from portal.access.context import access_of
from portal.app import create_app as create_portal_app
from search.aliases import drop_indices
from search.engine import SearchEngine
from search.indexer.sync import Indexer
from tests.builders import Idp

DEMO_NODES = ("cn-nsccr", "de-stemcellbank", "uk-hipsci")


@dataclass
class NodeServer:
    id: str
    port: int
    config: dict[str, Any]
    app: Any = None
    server: RunningServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start (or restart) the node on its port, on its database as it was left."""
        self.app = create_node_app(self.config)
        self.server = serve_in_thread(self.app, self.port)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
            store_of(self.app).dispose()

    @property
    def inbox(self):
        return inbox_of(self.app)

    @property
    def outbox(self):
        return inbox_of(self.app).outbox


@dataclass
class Alliance:
    idp: Idp
    portal_app: Any
    portal_server: RunningServer
    nodes: dict[str, NodeServer]
    index_prefix: str
    engine: SearchEngine
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def portal_url(self) -> str:
        return self.portal_server.url

    @property
    def access(self):
        return access_of(self.portal_app)

    def request(self, request_id: str):
        """A request as its owner sees it (read through the service, as the pages do)."""
        from federation.web.login import User
        from portal.access.models import AccessRequest

        with self.access.sessions() as session:
            row = session.get(AccessRequest, request_id)
            owner = User(
                row.owner_iss, row.owner_sub, row.owner_name, None, frozenset(), frozenset()
            )
        return self.access.service.request_of(owner, request_id)

    def deliver(self, rounds: int = 5, later: float = 0) -> None:
        """Run every outbox until nothing is due. ``later``: pretend that many seconds have
        passed (retries after a backoff are due then) instead of waiting."""
        for _ in range(rounds):
            now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=later)
            attempted = self.access.outbox.run_once(now).attempted
            for node in self.nodes.values():
                if node.server is not None:
                    attempted += node.outbox.run_once(now).attempted
            if not attempted:
                return

    def stop(self) -> None:
        self.portal_server.stop()
        for node in self.nodes.values():
            node.stop()


def start_demo_node(node_id: str, port: int, common: dict[str, Any], workdir: Path) -> NodeServer:
    """A node on ``port`` with its demo catalogue, its database under ``workdir``."""
    node = NodeServer(
        node_id,
        port,
        {
            **common,
            "NODE_ID": node_id,
            "NODE_NAME": f"{node_id} (test)",
            "DATABASE_URL": f"sqlite:///{workdir / node_id}.sqlite3",
            "OIDC_CLIENT_SECRET": demo_secret(node_id),
        },
    )
    node.start()
    demo = PROJECT_ROOT / "config" / "demo" / f"{node_id}.json"
    assert import_file(store_of(node.app), demo).ok
    return node


def start_alliance(
    idp: Idp,
    engine_url: str,
    workdir: Path,
    node_ids: tuple[str, ...] = DEMO_NODES,
    **portal_overrides: Any,
) -> Alliance:
    workdir.mkdir(parents=True, exist_ok=True)
    ports = {node_id: free_port() for node_id in node_ids}
    members_file = workdir / "members.toml"
    members_file.write_text(
        "".join(
            f'[[member]]\nid = "{n}"\nname = "{n}"\nurl = "http://127.0.0.1:{p}"\n\n'
            for n, p in ports.items()
        )
    )
    portal_port = free_port()
    portal_url = f"http://127.0.0.1:{portal_port}"
    common = {
        "OIDC_ISSUER": idp.issuer,
        "MEMBERS_FILE": str(members_file),
        "PORTAL_URL": portal_url,
        "SECRET_KEY": uuid.uuid4().hex,
    }
    nodes = {n: start_demo_node(n, p, common, workdir) for n, p in ports.items()}

    engine = SearchEngine(engine_url)
    prefix = f"test-{uuid.uuid4().hex[:8]}-"
    indexer = Indexer(engine, load_members(members_file), prefix, page_size=500, timeout=10)
    indexer.prepare()
    assert all(r.ok for r in indexer.sync_all())

    portal_app = create_portal_app(
        {
            **common,
            "SEARCH_URL": engine_url,
            "INDEX_PREFIX": prefix,
            "OIDC_CLIENT_SECRET": demo_secret("portal"),
            "PORTAL_DATABASE_URL": f"sqlite:///{workdir / 'portal.sqlite3'}",
            "ATTACHMENTS_DIR": str(workdir / "attachments"),
            **portal_overrides,
        }
    )
    server = serve_in_thread(portal_app, portal_port)
    return Alliance(idp, portal_app, server, nodes, prefix, engine)


@pytest.fixture(scope="module")
def alliance(idp: Idp, engine_url: str, tmp_path_factory) -> Iterator[Alliance]:
    running = start_alliance(idp, engine_url, tmp_path_factory.mktemp("alliance"))
    yield running
    running.stop()
    drop_indices(running.engine, running.index_prefix)


# -- a person at a browser, without a browser --------------------------------------------
FORM_ACTION = re.compile(r'<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"', re.S)
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class LoopbackSession(requests.Session):
    """A client that, like a browser, sends Secure cookies to 127.0.0.1 over plain http
    (loopback is a "potentially trustworthy" origin); Keycloak marks its cookies Secure."""

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        for cookie in self.cookies:
            if cookie.secure and cookie.domain in ("127.0.0.1", "localhost"):
                cookie.secure = False
        return super().prepare_request(request)


def login(app_url: str, username: str, password: str | None = None) -> requests.Session:
    """Log in at an app through Keycloak's real login form; returns the logged-in session."""
    session = LoopbackSession()
    page = session.get(f"{app_url}/login", timeout=30)
    assert page.status_code == 200, page.text[:500]
    match = FORM_ACTION.search(page.text)
    assert match, f"no Keycloak login form at {page.url}"
    done = session.post(
        html.unescape(match.group(1)),
        data={"username": username, "password": password or username, "credentialId": ""},
        timeout=30,
    )
    assert done.url.startswith(app_url), f"login of {username} ended at {done.url}"
    assert done.status_code == 200, done.text[:500]
    return session


def csrf(session: requests.Session, page_url: str) -> str:
    match = CSRF.search(session.get(page_url, timeout=30).text)
    assert match, f"no CSRF token on {page_url}"
    return match.group(1)


def machine_token(idp: Idp, client_id: str, scope: str | None = None) -> str:
    data = {"grant_type": "client_credentials"}
    if scope:
        data["scope"] = scope
    resp = requests.post(
        f"{idp.issuer}/protocol/openid-connect/token",
        data=data,
        auth=(client_id, demo_secret(client_id)),
        timeout=30,
    )
    resp.raise_for_status()
    return resp.json()["access_token"]


def submit_request(
    session: requests.Session,
    portal_url: str,
    uids: list[str],
    title: str = "Neurodevelopment organoids",
    files: list[tuple[str, bytes]] | None = None,
    **fields: str,
) -> requests.Response:
    for uid in uids:
        resp = session.post(
            f"{portal_url}/cart/add",
            data={"uid": uid, "csrf_token": csrf(session, f"{portal_url}/cart")},
            timeout=30,
        )
        assert resp.status_code == 200, resp.text[:300]
    form = {
        "title": title,
        "description": "Derive cortical organoids to study neuronal migration defects.",
        "intended_use": "DUO:0000006",
        "ethics_ref": "EC-2026-042",
        "csrf_token": csrf(session, f"{portal_url}/cart"),
        **fields,
    }
    upload = [("attachments", (name, data)) for name, data in (files or [])]
    return session.post(f"{portal_url}/requests", data=form, files=upload or None, timeout=30)


def request_id_from(resp: requests.Response) -> str:
    match = re.search(r"/requests/([0-9a-f]{32})", resp.url)
    assert match, f"not on a request page: {resp.url} ({resp.status_code}) {resp.text[:300]}"
    return match.group(1)


def as_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, default=str)
