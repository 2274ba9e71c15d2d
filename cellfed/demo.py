"""`cellfed demo`: the whole alliance on one machine, on its embedded defaults.

A real OpenSearch, one node per member of config/members.toml loaded with its demo
catalogue from config/demo/, the indexer watching every feed, and the portal.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import click

from cellfed.config import PROJECT_ROOT
from cellfed.launch.search_engine import LocalSearchEngine
from cellfed.serve import RunningServer, serve_in_thread
from federation.node.app import create_app as create_node_app
from federation.node.importer import import_file
from federation.registry import load_members
from portal.app import create_app as create_portal_app
from search.daemon import SyncDaemon
from search.engine import SearchEngine
from search.indexer import Indexer
from search.indexer_app import create_app as create_indexer_app

DEMO_DATA = PROJECT_ROOT / "config" / "demo"


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
    members = load_members(config["MEMBERS_FILE"])
    engine = ensure_engine(config)
    servers: list[RunningServer] = []
    stop = threading.Event()
    daemon: SyncDaemon | None = None
    indexer_port = config["DEMO_INDEXER_PORT"]
    config = {**config, "INDEXER_POKE_URL": f"http://127.0.0.1:{indexer_port}"}
    try:
        indexer = Indexer.from_config(config, members)
        indexer.prepare()
        daemon = SyncDaemon(
            indexer,
            config["SYNC_INTERVAL"],
            on_report=lambda r: r.pulled and click.echo(r.summary()),
        )
        servers.append(serve_in_thread(create_indexer_app(config, daemon), indexer_port))
        for member in members:
            node_config = {
                **config,
                "NODE_ID": member.id,
                "NODE_NAME": member.name,
                "DATABASE_URL": f"sqlite:///{workdir / member.id}.sqlite3",
            }
            app = create_node_app(node_config)
            data = DEMO_DATA / f"{member.id}.json"
            if data.is_file():
                for line in import_file(app.extensions["cellfed.store"], data).lines():
                    click.echo(line)
            servers.append(serve_in_thread(app, urlparse(member.url).port or 80))
            click.echo(f"Node {member.id} serves its feed at {member.url}/api/v1/feed")

        for report in indexer.sync_all():
            click.echo(report.summary())
        daemon.start()

        portal = serve_in_thread(create_portal_app(config), portal_port)
        servers.append(portal)
        click.secho(f"\nCellFed demo is running. Open {portal.url}/?q=iPSC", bold=True)
        click.echo("Press Ctrl-C to stop.")
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
    finally:
        stop.set()
        if daemon is not None:
            daemon.stop()
        for server in servers:
            server.stop()
        if engine is not None:
            click.echo("Stopping the search engine ...")
            engine.stop()
