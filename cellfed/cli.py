"""The `cellfed` command: engine, member node, indexer, portal and demo."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click

from cellfed.config import PROJECT_ROOT, load_config
from cellfed.launch.process import LaunchError
from cellfed.launch.search_engine import LocalSearchEngine
from federation.node.store import store_of


def _config(**overrides: Any) -> dict[str, Any]:
    return load_config({k: v for k, v in overrides.items() if v is not None})


@click.group()
def main() -> None:
    """CellFed: find and request cell lines across a biobank alliance."""


# -- engine ----------------------------------------------------------------------------
@main.group()
def engine() -> None:
    """Run a local OpenSearch or Elasticsearch 7 (from Maven Central) on loopback."""


KIND = click.option(
    "--kind",
    type=click.Choice(["opensearch", "elasticsearch7"]),
    default="opensearch",
    show_default=True,
)


def _local_engine(port: int | None, kind: str, nodes: int = 1) -> LocalSearchEngine:
    config = load_config()
    return LocalSearchEngine(
        Path(config["ENGINE_HOME"]),
        http_port=port or config["ENGINE_HTTP_PORT"],
        heap=config["ENGINE_HEAP"],
        java=config["ENGINE_JAVA"],
        nodes=nodes,
        name=kind if nodes == 1 else f"{kind}-{nodes}",
        kind=kind,
    )


@engine.command("start")
@click.option("--port", type=int, help="HTTP port (default ENGINE_HTTP_PORT, 9251)")
@click.option("--nodes", type=int, default=1, show_default=True, help="Cluster size (one JVM)")
@click.option("--fresh", is_flag=True, help="Delete the engine's data first")
@KIND
def engine_start(port: int | None, nodes: int, fresh: bool, kind: str) -> None:
    """Start the engine in the background and wait until it is healthy."""
    local = _local_engine(port, kind, nodes)
    try:
        seconds = local.start(fresh=fresh)
    except LaunchError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"{kind} is up at {', '.join(local.urls)} after {seconds:.1f}s (pid {local.process.pid()})"
    )


@engine.command("stop")
@click.option("--port", type=int)
@click.option("--nodes", type=int, default=1, show_default=True)
@KIND
def engine_stop(port: int | None, nodes: int, kind: str) -> None:
    """Stop the background engine."""
    local = _local_engine(port, kind, nodes)
    if not local.process.running():
        click.echo(f"{kind} is not running")
        return
    local.stop()
    click.echo(f"{kind} stopped")


@engine.command("classpath")
@KIND
def engine_classpath(kind: str) -> None:
    """Resolve the engine's jars with Maven now (setup does this once)."""
    from cellfed.launch.java import maven_classpath
    from cellfed.launch.search_engine import FLAVORS

    home = Path(load_config()["ENGINE_HOME"])
    try:
        cp = maven_classpath(FLAVORS[kind].profile, home)
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

    from federation.node.inbox import start_delivery

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

    from federation.node.inbox.service import inbox_of

    app = _node_app(node_id, None, db)
    try:
        inbox_of(app).outbox.run_forever(threading.Event(), app.config["DELIVERY_INTERVAL"])
    except KeyboardInterrupt:
        pass


@node.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--db", help="SQLAlchemy database URL")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "xlsx", "csv", "hpscreg", "directory"]),
    help="Source format (default: told by the files)",
)
@click.option("--biobank", help="hPSCreg: the biobank of this node that holds the lines")
@click.option("--collection", help="hPSCreg: the collection the lines belong to")
@click.option("--dry-run", is_flag=True, help="Check and report, store nothing")
@click.option("--quiet", is_flag=True, help="Leave out the mapping report")
def node_import(
    paths: tuple[Path, ...],
    db: str | None,
    fmt: str | None,
    biobank: str | None,
    collection: str | None,
    dry_run: bool,
    quiet: bool,
) -> None:
    """Import a catalogue: JSON, XLSX or CSV files, hPSCreg records or a Directory export
    (files, folders or zip archives). Everything is checked first; then all records are
    stored, or none if anything is wrong. Importing the same files again changes nothing."""
    from federation.node.formats.sources import read_paths
    from federation.node.importer import ImportReport, import_files

    app = _node_app(None, None, db)
    store = store_of(app)
    source = ", ".join(str(p) for p in paths)
    steps = ["read the files", "map, check and store"]
    with click.progressbar(steps, label="Importing", item_show_func=lambda s: s or "") as bar:
        for step in bar:
            if step == steps[0]:
                files, problems = read_paths(paths)
            elif problems:
                report = ImportReport(source, problems)
            else:
                report = import_files(
                    store,
                    files,
                    fmt,
                    dry_run=dry_run,
                    source=source,
                    biobank=biobank,
                    collection=collection,
                    pseudonym_key=app.config["PSEUDONYM_KEY"],
                )
    if not quiet and not report.mapping.empty:
        for line in report.mapping.lines():
            click.echo(line)
    for line in report.lines():
        click.echo(line, err=not report.ok)
    click.echo(f"took {report.seconds:.1f}s", err=not report.ok)
    if not report.ok:
        sys.exit(1)


@node.command("export")
@click.option("--db", help="SQLAlchemy database URL")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "xlsx", "csv", "directory"]),
    default="json",
    show_default=True,
)
@click.option("--out", type=click.Path(path_type=Path), help="File to write (default: its name)")
def node_export(db: str | None, fmt: str, out: Path | None) -> None:
    """Export the catalogue: JSON, XLSX, a zip of CSV sheets, or a Directory CSV set (zip)."""
    from federation.node.exporter import export

    result = export(store_of(_node_app(None, None, db)), fmt)
    target = out or Path(result.filename)
    target.write_bytes(result.content)
    found = ", ".join(f"{n} {kind}" for kind, n in result.counts.items())
    click.echo(f"{target}: {found}")


@node.command("withdraw")
@click.argument("kind", type=click.Choice(["network", "biobank", "collection", "cell_line"]))
@click.argument("local_id")
@click.option("--db", help="SQLAlchemy database URL")
def node_withdraw(kind: str, local_id: str, db: str | None) -> None:
    """Withdraw a record: it leaves the catalogue as a tombstone in the feed."""
    from federation.node.store import InUse, NotFound

    store = store_of(_node_app(None, None, db))
    try:
        store.delete(kind, local_id)
    except (NotFound, InUse) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{kind} {local_id} withdrawn")


@node.command("purge-tombstones")
@click.option("--older-than-days", type=int, default=365, show_default=True)
@click.option("--db", help="SQLAlchemy database URL")
def node_purge(older_than_days: int, db: str | None) -> None:
    """Forget old withdrawals; harvesters behind them are told to resynchronise."""
    import datetime as dt

    store = store_of(_node_app(None, None, db))
    before = dt.datetime.now(dt.UTC) - dt.timedelta(days=older_than_days)
    click.echo(f"{store.purge_tombstones(before)} tombstones purged; horizon {store.horizon()}")


@node.command("restore")
@click.argument("kind", type=click.Choice(["network", "biobank", "collection", "cell_line"]))
@click.argument("local_id")
@click.option("--db", help="SQLAlchemy database URL")
def node_restore(kind: str, local_id: str, db: str | None) -> None:
    """Bring a withdrawn record back, as it was when withdrawn."""
    from federation.node.store import InUse, NotFound

    store = store_of(_node_app(None, None, db))
    try:
        store.restore(kind, local_id)
    except (NotFound, InUse) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{kind} {local_id} restored")


@node.command("migrate")
@click.option("--db", help="SQLAlchemy database URL")
def node_migrate(db: str | None) -> None:
    """Bring the node's database to the current schema (the node also does this on start)."""
    from federation.node.migrate import current
    from federation.node.store import CatalogueStore

    store = CatalogueStore(_config(DATABASE_URL=db)["DATABASE_URL"])
    store.create_schema()
    click.echo(f"database at revision {', '.join(sorted(current(store.engine)))}")


# -- indexer ---------------------------------------------------------------------------
@main.group()
def index() -> None:
    """The central indexer: federate the member nodes' feeds into the search engine."""


def _indexer(members_file: str | None):
    from cellfed.memory import restart_with_few_malloc_arenas
    from federation.registry import RegistryError, load_members
    from search.indexer.sync import Indexer

    restart_with_few_malloc_arenas()

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


@index.command("serve")
@click.option("--members", "members_file", help="Member registry TOML file")
@click.option("--port", type=int, default=5050, show_default=True)
def index_serve(members_file: str | None, port: int) -> None:
    """Run the indexer service: a sync loop per node, pokes, health and /metrics."""
    from cellfed.serve import serve_in_thread
    from search.indexer.app import create_app
    from search.indexer.daemon import SyncDaemon
    from search.indexer.rebuild import rebuild_if_outdated

    indexer, config = _indexer(members_file)
    rebuilt = rebuild_if_outdated(indexer, config["REINDEX_GRACE"])
    if rebuilt is not None:
        click.echo(f"rebuilt the index for the current mapping: {rebuilt.index}")
    stamp = lambda r: click.echo(f"{time.strftime('%H:%M:%S')} {r.summary()}")  # noqa: E731
    daemon = SyncDaemon(indexer, config["SYNC_INTERVAL"], on_report=stamp)
    daemon.start()
    server = serve_in_thread(create_app(config, daemon), port)
    click.echo(
        f"Indexer running: pokes at {server.url}/api/v1/poke/<node>, metrics at "
        f"{server.url}/metrics. Ctrl-C stops it."
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        daemon.stop()


@index.command("verify")
@click.option("--members", "members_file", help="Member registry TOML file")
def index_verify(members_file: str | None) -> None:
    """Compare the index with every node (ids and content hashes). Exits 1 if not exact."""
    from search.indexer.audit import audit

    indexer, config = _indexer(members_file)
    reports = audit(indexer.engine, config["INDEX_PREFIX"], indexer.members)
    for report in reports:
        click.echo(report.summary())
        for label, ids in (
            ("missing", report.missing),
            ("extra", report.extra),
            ("different", report.different),
        ):
            for doc_id in ids[:20]:
                click.echo(f"  {label}: {doc_id}")
    if not all(r.exact for r in reports):
        sys.exit(1)


@index.command("rebuild")
@click.option("--members", "members_file", help="Member registry TOML file")
@click.option("--version", "mapping_version", help="Mapping version (default: the current one)")
def index_rebuild(members_file: str | None, mapping_version: str | None) -> None:
    """Harvest every node into a new index and swap it in; searches never stop."""
    from search.aliases import MAPPING_VERSION
    from search.indexer.rebuild import RebuildError, rebuild

    indexer, config = _indexer(members_file)
    try:
        report = rebuild(indexer, mapping_version or MAPPING_VERSION, config["REINDEX_GRACE"])
    except RebuildError as exc:
        raise click.ClickException(f"{exc}; the live index is unchanged") from None
    click.echo(
        f"{report.index}: {report.documents} documents in {report.seconds:.1f}s; "
        f"replaced {', '.join(report.replaced) or 'nothing'}"
    )


@index.command("migrate")
@click.option("--version", "mapping_version", help="Mapping version (default: the current one)")
def index_migrate(mapping_version: str | None) -> None:
    """Add new fields of a mapping version in place; anything else needs `index rebuild`."""
    from search.aliases import MAPPING_VERSION, MappingChangeNotAdditive, update_mapping_in_place
    from search.engine import SearchEngine

    config = _config()
    try:
        added = update_mapping_in_place(
            SearchEngine.from_config(config),
            config["INDEX_PREFIX"],
            mapping_version or MAPPING_VERSION,
        )
    except MappingChangeNotAdditive as exc:
        raise click.ClickException(f"{exc}: run `cellfed index rebuild`") from None
    click.echo(f"added fields: {', '.join(added)}" if added else "mapping already up to date")


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

    from portal.access.context import access_context

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
    from cellfed.memory import restart_with_few_malloc_arenas

    restart_with_few_malloc_arenas()

    try:
        run_demo(load_config(), port, PROJECT_ROOT / "instance" / "demo")
    except LaunchError as exc:
        raise click.ClickException(str(exc)) from None
