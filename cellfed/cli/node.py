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


def _given(**options: str | None) -> dict[str, str]:
    return {key: value for key, value in options.items() if value is not None}


@node.command("serve")
@click.option("--id", "node_id", help="Node id, as in the member registry")
@click.option("--name", help="Human name of the node")
@click.option("--db", help="SQLAlchemy database URL")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind")
@click.option("--port", type=int, default=5100, show_default=True)
@click.option("--workers", type=int, help="Production: gunicorn processes (WEB_WORKERS, 4)")
def node_serve(
    node_id: str | None,
    name: str | None,
    db: str | None,
    host: str,
    port: int,
    workers: int | None,
) -> None:
    """Serve the node. In development, Flask's server on loopback, running the background
    jobs (the outbox) too; in production (CELLFED_ENV=production), gunicorn with no
    background work: run `cellfed node worker` once beside it (cellfed/cli/_serve.py)."""
    from cellfed.cli._serve import serve

    overrides = _given(NODE_ID=node_id, NODE_NAME=name, DATABASE_URL=db)
    serve("node", overrides, host, port, workers)


@node.command("worker")
@click.option("--id", "node_id", help="Node id, as in the member registry")
@click.option("--db", help="SQLAlchemy database URL")
def node_worker(node_id: str | None, db: str | None) -> None:
    """Run the node's background jobs (the outbox: decisions to the portal, e-mail) until
    stopped. One per node; a second one waits as a standby and takes over if the first
    stops (cellfed/worker.py)."""
    from cellfed.cli._serve import work

    work("node", _given(NODE_ID=node_id, DATABASE_URL=db))


node.add_command(
    click.Command(
        "deliver",
        callback=node_worker.callback,
        params=node_worker.params,
        help="The same as `cellfed node worker` (its former name).",
    )
)


@node.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--db", help="SQLAlchemy database URL")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "xlsx", "csv", "hpscreg", "directory", "emx1"]),
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
    from federation.node.privacy import policy_of
    from federation.node.store import store_of

    app = _node_app(None, None, db)
    result = export(store_of(app), fmt, policy_of(app))
    target = out or Path(result.filename)
    target.write_bytes(result.content)
    found = ", ".join(f"{n} {kind}" for kind, n in result.counts.items())
    click.echo(f"{target}: {found}")
    if fmt == "directory":  # what of the codes did not fit the Directory's vocabularies
        import io
        import zipfile

        from federation.node.formats.directory.write import REPORT_FILE

        with zipfile.ZipFile(io.BytesIO(result.content)) as archive:
            if REPORT_FILE in archive.namelist():
                click.echo(archive.read(REPORT_FILE).decode().rstrip())


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
    """Bring the node's database to the current schema. The node also does this when it
    starts, except in production (unless AUTO_MIGRATE): there, back up first."""
    from federation.migrate import MigrationError
    from federation.node.migrate import upgrade
    from federation.node.store import CatalogueStore

    store = CatalogueStore(config_with(DATABASE_URL=db)["DATABASE_URL"])
    try:
        change = upgrade(store.engine)
        store.create_schema()
    except MigrationError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.dispose()
    after = ", ".join(change.after)
    before = ", ".join(change.before) or "a new database"
    click.echo(f"migrated from {before} to {after}" if change.changed else f"already at {after}")


@node.command("backup")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="File to write")
@click.option("--id", "node_id", help="Node id, as in the member registry")
@click.option("--db", help="SQLAlchemy database URL")
def node_backup(out: Path, node_id: str | None, db: str | None) -> None:
    """Back up the node's database while it serves (cellfed/backup.py: the format)."""
    from cellfed.backup import Target, run_backup

    run_backup(Target.node(config_with(NODE_ID=node_id, DATABASE_URL=db)), out)


@node.command("restore-backup")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--id", "node_id", help="Node id, as in the member registry")
@click.option("--db", help="SQLAlchemy database URL")
@click.option("--force", is_flag=True, help="Restore a backup of another node id")
@click.option("--yes", is_flag=True, help="Replace the current database without asking")
def node_restore_backup(
    file: Path, node_id: str | None, db: str | None, force: bool, yes: bool
) -> None:
    """Replace the node's database with a backup: all of it, or nothing if anything is wrong.
    Its change sequence goes back to the backup's; the indexer reads the node again."""
    from cellfed.backup import Target, run_restore

    run_restore(Target.node(config_with(NODE_ID=node_id, DATABASE_URL=db)), file, force, yes)


@node.command("init")
@click.option("--id", "node_id", required=True, help="Node id, as the alliance will register it")
@click.option("--name", required=True, help="Human name of the node")
@click.option("--url", required=True, help="The node's public base URL (https://...)")
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path, file_okay=False),
    default="instance",
    show_default=True,
    help="Folder of the instance file (cellfed.toml)",
)
@click.option("--issuer", help="The alliance's OIDC issuer URL")
@click.option("--portal-url", help="The alliance portal's public URL")
@click.option("--indexer-url", help="The indexer's URL, for pokes (INDEXER_POKE_URL)")
@click.option("--db", "database_url", help="SQLAlchemy URL (default: SQLite beside the file)")
@click.option("--contact", "contact_email", help="Where news of incoming requests goes")
@click.option("--development", is_flag=True, help="ENV development instead of production")
@click.option("--force", is_flag=True, help="Replace an existing file (and its secrets)")
def node_init(directory: Path, force: bool, development: bool, **given: str) -> None:
    """Write the node's instance file (DIR/cellfed.toml, mode 0600) with new secrets."""
    from cellfed.instance import InstanceError, NodeInstance, init_node, remaining_problems

    try:
        path = init_node(NodeInstance(**given, production=not development), directory, force)
    except InstanceError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"wrote {path} (mode 0600): run the node with CELLFED_CONFIG={path.resolve()}")
    for problem in [] if development else remaining_problems(path):
        click.echo(f"  still to do: {problem}")


@node.command("escalate")
@click.option("--id", "node_id", help="Node id, as in the member registry")
@click.option("--db", help="SQLAlchemy database URL")
@click.option(
    "--now",
    type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"]),
    help="Act as if it were this UTC time (tests and drills); default: now",
)
def node_escalate(node_id: str | None, db: str | None, now) -> None:
    """One pass of the escalation job: remind the biobanks' admins, then tell the node's
    contact, about parts past their response targets (the worker runs it on its own)."""
    import datetime as dt

    from federation.node.inbox.escalation import node_escalation_pass

    at = now.replace(tzinfo=dt.UTC) if now else None
    for part_id, key in node_escalation_pass(_node_app(node_id, None, db), at):
        click.echo(f"{part_id}\t{key}")
