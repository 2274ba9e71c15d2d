"""`cellfed demo`: the whole alliance on one machine, on its embedded defaults.

A real OpenSearch and a real Keycloak (the alliance realm of config/keycloak/), one node per
member of config/members.toml loaded with its demo catalogue from config/demo/, the indexer
watching every feed, the portal with login and access requests, the request broker and the
nodes' outboxes, and a local mail server that prints the e-mails CellFed sends.
"""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import click

from cellfed.config import PROJECT_ROOT
from cellfed.launch.keycloak import LocalKeycloak
from cellfed.launch.process import LaunchError
from cellfed.launch.search_engine import LocalSearchEngine
from cellfed.serve import RunningServer, serve_in_thread
from federation.node.app import create_app as create_node_app
from federation.node.importer import import_file
from federation.node.inbox import start_delivery as start_node_delivery
from federation.node.mailbox_client import mailbox_client_for, run_mailbox
from federation.node.push import pusher_for, run_pusher
from federation.node.store import store_of
from federation.registry import Member, load_members
from federation.trust import IssuerUnavailable, discover
from portal.access import start_delivery as start_portal_delivery
from portal.app import create_app as create_portal_app
from search.engine import SearchEngine
from search.indexer.app import create_app as create_indexer_app
from search.indexer.daemon import SyncDaemon
from search.indexer.rebuild import rebuild_if_outdated
from search.indexer.sync import Indexer

DEMO_DATA = PROJECT_ROOT / "config" / "demo"
DEMO_USERS = (
    ("alice", "researcher"),
    ("erin", "researcher"),
    ("bob", "admin of de-stemcellbank's biobanks"),
    ("dave", "admin of uk-hipsci's uk-pscbank"),
    ("chen", "admin of cn-nsccr's biobanks"),
    ("carol", "alliance operator"),
)


def demo_secret(client_id: str) -> str:
    """The demo realm's client secrets (config/keycloak/alliance-realm.json): demo only."""
    return f"{client_id}-demo-secret"


def ensure_idp(config: dict[str, Any]) -> LocalKeycloak | None:
    """Use the identity provider at OIDC_ISSUER if it answers; else start the local Keycloak."""
    issuer = config["OIDC_ISSUER"]
    try:
        discover(issuer, timeout=3)
        click.echo(f"Using the identity provider already running at {issuer}")
        return None
    except IssuerUnavailable:
        pass
    parsed = urlparse(issuer)
    if parsed.hostname != "127.0.0.1" or not issuer.rstrip("/").endswith("/realms/alliance"):
        raise LaunchError(
            f"OIDC_ISSUER {issuer} does not answer, and the demo only starts a "
            "local Keycloak at http://127.0.0.1:<port>/realms/alliance"
        )
    idp = LocalKeycloak(
        Path(config["ENGINE_HOME"]),
        Path(config["IDP_REALM_FILE"]),
        http_port=parsed.port or config["IDP_HTTP_PORT"],
        heap=config["IDP_HEAP"],
        java=config["ENGINE_JAVA"],
        admin_password=config["IDP_ADMIN_PASSWORD"],
    )
    click.echo(f"Starting Keycloak on {idp.url} (about a minute on a small machine) ...")
    seconds = idp.start()
    click.echo(f"Keycloak is up ({seconds:.1f}s)")
    return idp


def start_mail(config: dict[str, Any]):
    """A local mail server that prints what CellFed sends (if aiosmtpd is installed)."""
    try:
        from cellfed.launch.mailsink import MailSink
    except ImportError:
        return None

    def show(to: list[str], mail) -> None:
        click.echo(f"  [mail] to {', '.join(to)}: {mail['Subject']}")

    sink = MailSink(show).start()
    config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=sink.port, SMTP_STARTTLS=False)
    return sink


def ensure_engine(config: dict[str, Any]) -> LocalSearchEngine | None:
    """Use the engine at SEARCH_URL if it answers; else start the local one there."""
    if SearchEngine.from_config(config).ping():
        click.echo(f"Using the search engine already running at {config['SEARCH_URL']}")
        return None
    port = urlparse(config["SEARCH_URL"]).port or config["ENGINE_HTTP_PORT"]
    engine = LocalSearchEngine(
        Path(config["ENGINE_HOME"]),
        http_port=port,
        heap=config["ENGINE_HEAP"],
        java=config["ENGINE_JAVA"],
        name=config["SEARCH_ENGINE"],
        kind=config["SEARCH_ENGINE"],
    )
    click.echo(f"Starting {config['SEARCH_ENGINE']} on {engine.url} ...")
    seconds = engine.start()
    click.echo(f"The search engine is up ({seconds:.1f}s)")
    return engine


def run_demo(config: dict[str, Any], portal_port: int, workdir: Path) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per feed poll
    members = [_demo_mode(config, m) for m in load_members(config["MEMBERS_FILE"])]
    config = _demo_config(config, portal_port)
    engine = ensure_engine(config)
    idp = None
    servers: list[RunningServer] = []
    stop = threading.Event()
    mail = None
    daemon: SyncDaemon | None = None
    try:
        idp = ensure_idp(config)
        mail = start_mail(config)
        indexer = Indexer.from_config(config, members)
        indexer.prepare()
        daemon = SyncDaemon(
            indexer,
            config["SYNC_INTERVAL"],
            on_report=lambda r: click.echo(r.summary()) if r.pulled else None,
        )
        indexer_app = create_indexer_app(config, daemon)
        servers.append(serve_in_thread(indexer_app, config["DEMO_INDEXER_PORT"]))
        servers += _start_nodes(config, members, workdir, stop)
        _first_sync(indexer)
        daemon.start()
        config["MEMBERS_FILE"] = _members_file(members, workdir)  # the portal knows the modes
        portal = _start_portal(config, portal_port, workdir, stop)
        servers.append(portal)
        _greet(portal.url)
        _wait(stop)
    finally:
        stop.set()
        if daemon is not None:
            daemon.stop()
        for server in servers:
            server.stop()
        if mail is not None:
            mail.stop()
        if idp is not None:
            click.echo("Stopping Keycloak ...")
            idp.stop()
        if engine is not None:
            click.echo("Stopping the search engine ...")
            engine.stop()


def _demo_config(config: dict[str, Any], portal_port: int) -> dict[str, Any]:
    return {
        **config,
        "PORTAL_URL": f"http://127.0.0.1:{portal_port}",
        "INDEXER_POKE_URL": f"http://127.0.0.1:{config['DEMO_INDEXER_PORT']}",
        # Node-to-centre trust: the indexer reads feeds with its own tokens, nodes demand them.
        "INDEXER_CLIENT_SECRET": demo_secret("indexer"),
        "FEED_REQUIRE_TOKEN": True,
    }


def _demo_mode(config: dict[str, Any], member: Member) -> Member:
    """DEMO_PUSH_NODE runs in push mode: it pushes its feed, the indexer never calls it."""
    return replace(member, mode="push") if member.id == config["DEMO_PUSH_NODE"] else member


def _start_pusher(app: Any, stop: threading.Event) -> None:
    pusher = pusher_for(app)
    if pusher is not None:
        args = (pusher, stop, app.config["PUSH_INTERVAL"], app.config["PUSH_MAX_BACKOFF"])
        threading.Thread(target=run_pusher, args=args, name="push", daemon=True).start()


def _start_mailbox(app: Any, stop: threading.Event) -> None:
    """Push mode's access half: the node fetches its parts and actions from the portal."""
    client = mailbox_client_for(app)
    if client is not None:
        args = (client, stop, app.config["PUSH_MAX_BACKOFF"])
        threading.Thread(target=run_mailbox, args=args, name="mailbox", daemon=True).start()


def _members_file(members: list[Member], workdir: Path) -> str:
    """The registry as the demo runs it (DEMO_PUSH_NODE in push mode), for the portal."""
    path = workdir / "members.toml"
    path.write_text(
        "".join(
            f'[[member]]\nid = "{m.id}"\nname = "{m.name}"\nurl = "{m.url}"\nmode = "{m.mode}"\n\n'
            for m in members
        ),
        encoding="utf-8",
    )
    return str(path)


def _start_nodes(
    config: dict[str, Any], members: list[Member], workdir: Path, stop: threading.Event
) -> list[RunningServer]:
    """One node app per member, loaded with its demo catalogue, served with its outbox."""
    servers = []
    for member in members:
        node_config = {
            **config,
            "NODE_ID": member.id,
            "NODE_NAME": member.name,
            "NODE_URL": member.url,
            "DATABASE_URL": f"sqlite:///{workdir / member.id}.sqlite3",
            "OIDC_CLIENT_SECRET": demo_secret(member.id),
            "NODE_CONTACT_EMAIL": f"requests@{member.id}.example.org",
            "NODE_MODE": member.mode,
        }
        app = create_node_app(node_config)
        data = DEMO_DATA / f"{member.id}.json"
        if data.is_file():
            for line in import_file(store_of(app), data).lines():
                click.echo(line)
        servers.append(serve_in_thread(app, urlparse(member.url).port or 80))
        start_node_delivery(app, stop)
        if member.pushes:
            # Its port on loopback serves people (admin pages, inbox) only: the indexer
            # never calls it, and it fetches its access parts from the portal's mailbox.
            _start_pusher(app, stop)
            _start_mailbox(app, stop)
            click.echo(f"Node {member.id}: push mode (pushes its feed), inbox {member.url}/inbox")
            continue
        click.echo(f"Node {member.id}: feed {member.url}/api/v1/feed, inbox {member.url}/inbox")
    return servers


def _first_sync(indexer: Indexer) -> None:
    rebuilt = rebuild_if_outdated(indexer, grace=0)
    if rebuilt is not None:
        click.echo(f"Rebuilt the index for the current mapping: {rebuilt.index}")
    for report in indexer.sync_all():
        click.echo(report.summary())


def _start_portal(
    config: dict[str, Any], port: int, workdir: Path, stop: threading.Event
) -> RunningServer:
    portal_app = create_portal_app(
        {
            **config,
            "OIDC_CLIENT_SECRET": demo_secret("portal"),
            "PORTAL_DATABASE_URL": f"sqlite:///{workdir / 'portal.sqlite3'}",
            "ATTACHMENTS_DIR": str(workdir / "attachments"),
        }
    )
    portal = serve_in_thread(portal_app, port)
    start_portal_delivery(portal_app, stop)
    return portal


def _greet(url: str) -> None:
    click.secho(f"\nCellFed demo is running. Open {url}/?q=iPSC", bold=True)
    click.echo("Log in with these demo accounts (the password is the user name):")
    for user, role in DEMO_USERS:
        click.echo(f"  {user:6} {role}")
    click.echo("Press Ctrl-C to stop.")


def _wait(stop: threading.Event) -> None:
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
