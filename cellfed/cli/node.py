"""`cellfed node`: a member biobank's node, its catalogue and its database."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cellfed.cli._shared import config_with


@click.group()
def node() -> None:
    """A member biobank's node: its catalogue and publish API."""


def _node_app(node_id: str | None, name: str | None, db: str | None):
    from federation.node.app import create_app

    return create_app(config_with(NODE_ID=node_id, NODE_NAME=name, DATABASE_URL=db))


def _node_store(db: str | None):
    from federation.node.store import store_of

    return store_of(_node_app(None, None, db))


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
    from federation.node.store import store_of

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

    result = export(_node_store(db), fmt)
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
    from federation.node.store import InUse, RecordNotFound

    store = _node_store(db)
    try:
        store.withdraw(kind, local_id)
    except (RecordNotFound, InUse) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{kind} {local_id} withdrawn")


@node.command("purge-tombstones")
@click.option("--older-than-days", type=int, default=365, show_default=True)
@click.option("--db", help="SQLAlchemy database URL")
def node_purge(older_than_days: int, db: str | None) -> None:
    """Forget old withdrawals; harvesters behind them are told to resynchronise."""
    import datetime as dt

    store = _node_store(db)
    before = dt.datetime.now(dt.UTC) - dt.timedelta(days=older_than_days)
    click.echo(f"{store.purge_tombstones(before)} tombstones purged; horizon {store.horizon()}")


@node.command("restore")
@click.argument("kind", type=click.Choice(["network", "biobank", "collection", "cell_line"]))
@click.argument("local_id")
@click.option("--db", help="SQLAlchemy database URL")
def node_restore(kind: str, local_id: str, db: str | None) -> None:
    """Bring a withdrawn record back, as it was when withdrawn."""
    from federation.node.store import MissingReference, RecordNotFound

    store = _node_store(db)
    try:
        store.restore(kind, local_id)
    except (RecordNotFound, MissingReference) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{kind} {local_id} restored")


@node.command("migrate")
@click.option("--db", help="SQLAlchemy database URL")
def node_migrate(db: str | None) -> None:
    """Bring the node's database to the current schema (the node also does this on start)."""
    from federation.node.migrate import current
    from federation.node.store import CatalogueStore

    store = CatalogueStore(config_with(DATABASE_URL=db)["DATABASE_URL"])
    store.create_schema()
    click.echo(f"database at revision {', '.join(sorted(current(store.engine)))}")
