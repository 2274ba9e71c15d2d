"""The `cellfed` command: engine, member node, indexer, portal and demo."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click

from cellfed.config import PROJECT_ROOT, load_config
from cellfed.launch.opensearch import LocalOpenSearch
from cellfed.launch.process import LaunchError


def _config(**overrides: Any) -> dict[str, Any]:
    return load_config({k: v for k, v in overrides.items() if v is not None})


@click.group()
def main() -> None:
    """CellFed: find and request cell lines across a biobank alliance."""


# -- engine ----------------------------------------------------------------------------
@main.group()
def engine() -> None:
    """Run a local OpenSearch (from Maven Central) for the demo and the tests."""


def _local_engine(port: int | None) -> LocalOpenSearch:
    config = load_config()
    return LocalOpenSearch(
        Path(config["ENGINE_HOME"]),
        http_port=port or config["ENGINE_HTTP_PORT"],
        heap=config["ENGINE_HEAP"],
        java=config["ENGINE_JAVA"],
    )


@engine.command("start")
@click.option("--port", type=int, help="HTTP port (default ENGINE_HTTP_PORT, 9251)")
@click.option("--fresh", is_flag=True, help="Delete the engine's data first")
def engine_start(port: int | None, fresh: bool) -> None:
    """Start OpenSearch in the background and wait until it is healthy."""
    local = _local_engine(port)
    try:
        seconds = local.start(fresh=fresh)
    except LaunchError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"OpenSearch is up at {local.url} after {seconds:.1f}s (pid {local.process.pid()})")


@engine.command("stop")
@click.option("--port", type=int)
def engine_stop(port: int | None) -> None:
    """Stop the background OpenSearch."""
    local = _local_engine(port)
    if not local.process.running():
        click.echo("OpenSearch is not running")
        return
    local.stop()
    click.echo("OpenSearch stopped")


@engine.command("classpath")
def engine_classpath() -> None:
    """Resolve the engine's jars with Maven now (setup does this once)."""
    from cellfed.launch.java import maven_classpath

    home = Path(load_config()["ENGINE_HOME"])
    try:
        cp = maven_classpath("opensearch", home)
    except LaunchError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{len(cp.split(':'))} jars resolved")


# -- identity provider -----------------------------------------------------------------
@main.group()
def idp() -> None:
    """Run a local Keycloak (from Maven Central) with the alliance realm, for demo and tests."""


def _local_idp(port: int | None):
    from cellfed.launch.keycloak import LocalKeycloak

    config = load_config()
    return LocalKeycloak(
        Path(config["ENGINE_HOME"]),
        Path(config["IDP_REALM_FILE"]),
        http_port=port or config["IDP_HTTP_PORT"],
        heap=config["IDP_HEAP"],
        java=config["ENGINE_JAVA"],
        admin_password=config["IDP_ADMIN_PASSWORD"],
    )


@idp.command("start")
@click.option("--port", type=int, help="HTTP port (default IDP_HTTP_PORT, 8180)")
def idp_start(port: int | None) -> None:
    """Start Keycloak in the background, import the realm afresh, wait until it answers."""
    local = _local_idp(port)
    try:
        seconds = local.start()
    except LaunchError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Keycloak is up after {seconds:.1f}s (pid {local.process.pid()})")
    click.echo(f"issuer: {local.issuer}")


@idp.command("fetch")
def idp_fetch() -> None:
    """Unpack Keycloak from Maven Central into ENGINE_HOME now (setup does this once)."""
    from cellfed.launch.keycloak import keycloak_dist

    try:
        dist = keycloak_dist(Path(load_config()["ENGINE_HOME"]))
    except LaunchError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Keycloak is unpacked in {dist}")


@idp.command("stop")
@click.option("--port", type=int)
def idp_stop(port: int | None) -> None:
    """Stop the background Keycloak."""
    local = _local_idp(port)
    if not local.process.running():
        click.echo("Keycloak is not running")
        return
    local.stop()
    click.echo("Keycloak stopped")


# -- member node -----------------------------------------------------------------------
@main.group()
def node() -> None:
    """A member biobank's node: its catalogue and publish API."""


def _node_app(node_id: str | None, name: str | None, db: str | None):
    from federation.node.app import create_app

    return create_app(_config(NODE_ID=node_id, NODE_NAME=name, DATABASE_URL=db))


@node.command("serve")
@click.option("--id", "node_id", help="Node id, as in the member registry")
@click.option("--name", help="Human name of the node")
@click.option("--db", help="SQLAlchemy database URL")
@click.option("--port", type=int, default=5100, show_default=True)
def node_serve(node_id: str | None, name: str | None, db: str | None, port: int) -> None:
    """Serve the node and run its outbox (development server; use gunicorn in production)."""
    import threading

    from federation.node.access import start_delivery

    app = _node_app(node_id, name, db)
    start_delivery(app, threading.Event())
    app.run(host="127.0.0.1", port=port)


@node.command("deliver")
@click.option("--id", "node_id", help="Node id, as in the member registry")
@click.option("--db", help="SQLAlchemy database URL")
def node_deliver(node_id: str | None, db: str | None) -> None:
    """Run the node's outbox (decisions to the portal, e-mail) until stopped; for nodes
    served by gunicorn, where `node serve` does not run it."""
    import threading

    app = _node_app(node_id, None, db)
    try:
        app.extensions["cellfed.node_outbox"].run_forever(
            threading.Event(), app.config["DELIVERY_INTERVAL"]
        )
    except KeyboardInterrupt:
        pass


@node.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--db", help="SQLAlchemy database URL")
@click.option("--dry-run", is_flag=True, help="Check and report, store nothing")
def node_import(path: Path, db: str | None, dry_run: bool) -> None:
    """Import a JSON catalogue file: all records or, if anything is wrong, none."""
    from federation.node.importer import import_file

    app = _node_app(None, None, db)
    report = import_file(app.extensions["cellfed.store"], path, dry_run=dry_run)
    for line in report.lines():
        click.echo(line, err=not report.ok)
    if not report.ok:
        sys.exit(1)


@node.command("withdraw")
@click.argument("kind", type=click.Choice(["biobank", "collection", "cell_line"]))
@click.argument("local_id")
@click.option("--db", help="SQLAlchemy database URL")
def node_withdraw(kind: str, local_id: str, db: str | None) -> None:
    """Withdraw a record: it leaves the catalogue as a tombstone in the feed."""
    from federation.node.store import InUse, NotFound

    store = _node_app(None, None, db).extensions["cellfed.store"]
    try:
        store.delete(kind, local_id)
    except (NotFound, InUse) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{kind} {local_id} withdrawn")


# -- indexer ---------------------------------------------------------------------------
@main.group()
def index() -> None:
    """The central indexer: federate the member nodes' feeds into the search engine."""


def _indexer(members_file: str | None):
    from federation.registry import RegistryError, load_members
    from search.indexer import Indexer

    config = _config(MEMBERS_FILE=members_file)
    try:
        members = load_members(config["MEMBERS_FILE"])
    except RegistryError as exc:
        raise click.ClickException(str(exc)) from None
    return Indexer.from_config(config, members), config


@index.command("sync")
@click.option("--members", "members_file", help="Member registry TOML file")
def index_sync(members_file: str | None) -> None:
    """Pull every node's changes once. Exits 1 if a node could not be synced."""
    indexer, _ = _indexer(members_file)
    indexer.prepare()
    failed = False
    with click.progressbar(
        indexer.members, label="Syncing nodes", item_show_func=lambda m: m.id if m else ""
    ) as members:
        reports = [indexer.sync_node(m) for m in members]
    for report in reports:
        failed |= not report.ok
        click.echo(report.summary())
        for q in report.quarantined:
            click.echo(f"  quarantined {q.kind} {q.id} (seq {q.seq}): {q.reason}")
    if failed:
        sys.exit(1)


@index.command("watch")
@click.option("--members", "members_file", help="Member registry TOML file")
def index_watch(members_file: str | None) -> None:
    """Sync every SYNC_INTERVAL seconds until stopped."""
    from search.indexer import watch

    indexer, config = _indexer(members_file)
    try:
        watch(
            indexer,
            config["SYNC_INTERVAL"],
            lambda: False,
            report=lambda r: click.echo(f"{time.strftime('%H:%M:%S')} {r.summary()}"),
        )
    except KeyboardInterrupt:
        pass


# -- portal and demo -------------------------------------------------------------------
@main.group()
def portal() -> None:
    """The researcher-facing portal."""


@portal.command("serve")
@click.option("--port", type=int, default=5000, show_default=True)
def portal_serve(port: int) -> None:
    """Serve the portal and run the request broker (development server; in production run
    gunicorn, and `cellfed portal deliver` once beside it)."""
    import threading

    from portal.access import start_delivery
    from portal.app import create_app

    app = create_app(_config())
    start_delivery(app, threading.Event())
    app.run(host="127.0.0.1", port=port)


@portal.command("deliver")
def portal_deliver() -> None:
    """Run the request broker's outbox (parts and actions to nodes, e-mail) until stopped."""
    import threading

    from portal.access import access_context

    context = access_context(_config())
    try:
        context.outbox.run_forever(threading.Event(), context.config["DELIVERY_INTERVAL"])
    except KeyboardInterrupt:
        pass


@main.command()
@click.option("--port", type=int, default=5000, show_default=True, help="Portal port")
def demo(port: int) -> None:
    """Run the whole alliance here: engine, member nodes with demo data, indexer, portal."""
    from cellfed.demo import run_demo

    try:
        run_demo(load_config(), port, PROJECT_ROOT / "instance" / "demo")
    except LaunchError as exc:
        raise click.ClickException(str(exc)) from None
