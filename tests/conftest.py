"""Shared fixtures: member nodes on loopback, the real search engine, the real databases
(SQLite and PostgreSQL), the real identity provider and an SMTP sink. The data the tests
build is in tests/builders/: import it from there, not from here."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from cellfed.config import PROJECT_ROOT
from cellfed.launch.keycloak import LocalKeycloak
from cellfed.launch.process import free_engine_port, free_port
from cellfed.launch.search_engine import LocalSearchEngine
from cellfed.serve import RunningServer, serve_in_thread
from federation.node.app import create_app as create_node_app
from federation.node.store import CatalogueStore, store_of
from federation.registry import Member
from search.aliases import drop_indices
from search.engine import SearchEngine
from tests.builders import Idp

# Properties are checked for what they hold, not how fast: hypothesis' 200 ms deadline per
# example failed a trivial property once on a busy machine.
settings.register_profile("cellfed", deadline=None)
settings.load_profile("cellfed")


# -- the real databases ----------------------------------------------------------------
@pytest.fixture(scope="session", autouse=True)
def _databases_outside_the_checkout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Apps a test builds without naming their databases (the defaults are files in the
    working directory) write them to a temporary folder, never into the checkout."""
    folder = tmp_path_factory.mktemp("default-databases")
    defaults = {
        "CELLFED_PORTAL_DATABASE_URL": f"sqlite:///{folder / 'portal.sqlite3'}",
        "CELLFED_DATABASE_URL": f"sqlite:///{folder / 'node.sqlite3'}",
    }
    added = {key: value for key, value in defaults.items() if key not in os.environ}
    os.environ.update(added)
    yield
    for key in added:
        os.environ.pop(key, None)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL: CELLFED_TEST_POSTGRES_URL, else a throwaway cluster started from
    Debian's postgresql package (make setup installs it) for this test session."""
    existing = os.environ.get("CELLFED_TEST_POSTGRES_URL")
    if existing:
        yield existing
        return
    from cellfed.launch.postgres import LocalPostgres
    from cellfed.launch.process import LaunchError

    try:
        local = LocalPostgres()
        local.start()
    except LaunchError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no PostgreSQL for the tests: {exc}")
    try:
        yield local.url
    finally:
        local.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind the node supports; on PostgreSQL a schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'node.sqlite3'}"
        return
    import sqlalchemy as sa

    server = request.getfixturevalue("postgres_url")
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        yield str(sa.make_url(server).update_query_dict({"options": f"-csearch_path={schema}"}))
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def store(database_url: str) -> Iterator[CatalogueStore]:
    s = CatalogueStore(database_url)
    s.create_schema()
    yield s
    s.dispose()


@pytest.fixture
def node_app(tmp_path: Path):
    return create_node_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'app.sqlite3'}",
            "NODE_ID": "test-node",
            "FEED_PAGE_SIZE": 2,
        }
    )


# -- the real search engine ------------------------------------------------------------
def _local_engine(kind: str, name: str, env: str) -> Iterator[str]:
    existing = os.environ.get(env)
    if existing:
        yield existing
        return
    home = Path(os.environ.get("CELLFED_ENGINE_HOME", PROJECT_ROOT / ".engines"))
    local = LocalSearchEngine(home, http_port=free_engine_port(), heap="512m", name=name, kind=kind)
    local.start(fresh=True)
    try:
        yield local.url
    finally:
        local.stop()


@pytest.fixture(scope="session")
def engine_url() -> Iterator[str]:
    """A real OpenSearch: the one at CELLFED_TEST_SEARCH_URL, else one started for the run."""
    yield from _local_engine("opensearch", "opensearch-test", "CELLFED_TEST_SEARCH_URL")


@pytest.fixture(scope="session")
def es7_url() -> Iterator[str]:
    """A real Elasticsearch 7.10.2: CELLFED_TEST_ES7_URL, else one started for the run."""
    yield from _local_engine("elasticsearch7", "es7-test", "CELLFED_TEST_ES7_URL")


@pytest.fixture(scope="session")
def idp() -> Iterator[Idp]:
    """A real Keycloak with the alliance realm: the one at CELLFED_TEST_ISSUER (its admin
    password in CELLFED_TEST_IDP_ADMIN_PASSWORD, if known), else one started for the run."""
    existing = os.environ.get("CELLFED_TEST_ISSUER")
    if existing:
        yield Idp(existing, os.environ.get("CELLFED_TEST_IDP_ADMIN_PASSWORD"))
        return
    home = Path(os.environ.get("CELLFED_ENGINE_HOME", PROJECT_ROOT / ".engines"))
    password = uuid.uuid4().hex
    local = LocalKeycloak(
        home,
        PROJECT_ROOT / "config" / "keycloak" / "alliance-realm.json",
        http_port=free_port(),
        name="keycloak-test",
        admin_password=password,
    )
    local.start()
    try:
        yield Idp(local.issuer, password)
    finally:
        local.stop()


@dataclass
class SmtpSink:
    """A real SMTP server on loopback that keeps what it receives, decoded."""

    messages: list[dict[str, Any]]
    port: int


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    from cellfed.launch.mailsink import MailSink

    messages: list[dict[str, Any]] = []

    def keep(to: list[str], mail) -> None:
        messages.append(
            {
                "to": to,
                "subject": str(mail["Subject"]),
                "message_id": str(mail["Message-ID"]),
                "body": mail.get_content(),
            }
        )

    sink = MailSink(keep).start()
    yield SmtpSink(messages, sink.port)
    sink.stop()


@pytest.fixture
def search_engine(engine_url: str) -> SearchEngine:
    return SearchEngine(engine_url, "opensearch")


@pytest.fixture(params=["opensearch", "elasticsearch7"])
def any_engine(request: pytest.FixtureRequest) -> Iterator[SearchEngine]:
    """Each supported engine in turn, for contract tests, with a clean index prefix."""
    url = request.getfixturevalue("engine_url" if request.param == "opensearch" else "es7_url")
    yield SearchEngine(url, request.param)


@pytest.fixture
def index_prefix(search_engine: SearchEngine) -> Iterator[str]:
    prefix = f"test-{uuid.uuid4().hex[:8]}-"
    yield prefix
    drop_indices(search_engine, prefix)


@dataclass
class RunningNode:
    member: Member
    store: CatalogueStore
    server: RunningServer


@pytest.fixture
def start_node(tmp_path: Path) -> Iterator[Callable[..., RunningNode]]:
    """Start member nodes as real HTTP servers on loopback ports."""
    running: list[RunningNode] = []

    def start(node_id: str, data: dict[str, Any] | None = None) -> RunningNode:
        from federation.node.importer import import_catalogue

        app = create_node_app(
            {
                "NODE_ID": node_id,
                "NODE_NAME": node_id.title(),
                "DATABASE_URL": f"sqlite:///{tmp_path / node_id}.sqlite3",
            }
        )
        store = store_of(app)
        if data is not None:
            report = import_catalogue(store, data, f"{node_id}.json")
            assert report.ok, report.lines()
        server = serve_in_thread(app)
        node = RunningNode(Member(node_id, node_id.title(), server.url), store, server)
        running.append(node)
        return node

    yield start
    for node in running:
        node.server.stop()
        node.store.dispose()
