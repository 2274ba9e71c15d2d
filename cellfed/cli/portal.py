"""`cellfed portal`: the researcher-facing portal and its request broker."""

from __future__ import annotations

from pathlib import Path

import click

from cellfed.cli._shared import config_with


@click.group()
def portal() -> None:
    """The researcher-facing portal."""


@portal.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind")
@click.option("--port", type=int, default=5000, show_default=True)
@click.option("--workers", type=int, help="Production: gunicorn processes (WEB_WORKERS, 4)")
def portal_serve(host: str, port: int, workers: int | None) -> None:
    """Serve the portal. In development, Flask's server on loopback, running the background
    jobs (the request broker) too; in production (CELLFED_ENV=production), gunicorn with no
    background work: run `cellfed portal worker` once beside it (cellfed/cli/_serve.py)."""
    from cellfed.cli._serve import serve

    serve("portal", {}, host, port, workers)


@portal.command("worker")
def portal_worker() -> None:
    """Run the portal's background jobs (the request broker's outbox: parts and actions to
    nodes, e-mail) until stopped. One per deployment; a second one waits as a standby and
    takes over if the first stops (cellfed/worker.py)."""
    from cellfed.cli._serve import work

    work("portal", {})


portal.add_command(
    click.Command(
        "deliver",
        callback=portal_worker.callback,
        params=portal_worker.params,
        help="The same as `cellfed portal worker` (its former name).",
    )
)


@portal.command("migrate")
@click.option("--db", help="SQLAlchemy URL of the portal's database")
def portal_migrate(db: str | None) -> None:
    """Bring the portal's database to the current schema. The portal also does this on first
    use, except in production (unless AUTO_MIGRATE): there, back up first."""
    from federation.database import database_engine
    from federation.migrate import MigrationError
    from portal.migrations import upgrade

    engine = database_engine(config_with(PORTAL_DATABASE_URL=db)["PORTAL_DATABASE_URL"])
    try:
        change = upgrade(engine)
    except MigrationError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        engine.dispose()
    after = ", ".join(change.after)
    before = ", ".join(change.before) or "a new database"
    click.echo(f"migrated from {before} to {after}" if change.changed else f"already at {after}")


@portal.command("backup")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="File to write")
@click.option("--db", help="SQLAlchemy URL of the portal's database")
def portal_backup(out: Path, db: str | None) -> None:
    """Back up the portal's database and attachments while it serves (cellfed/backup.py)."""
    from cellfed.backup import Target, run_backup

    run_backup(Target.portal(config_with(PORTAL_DATABASE_URL=db)), out)


@portal.command("restore-backup")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--db", help="SQLAlchemy URL of the portal's database")
@click.option("--yes", is_flag=True, help="Replace the current database without asking")
def portal_restore_backup(file: Path, db: str | None, yes: bool) -> None:
    """Replace the portal's database with a backup (and put its attachments back): all of
    it, or nothing if anything is wrong."""
    from cellfed.backup import Target, run_restore

    run_restore(Target.portal(config_with(PORTAL_DATABASE_URL=db)), file, False, yes)


@portal.command("escalate")
@click.option("--db", help="SQLAlchemy URL of the portal's database")
@click.option(
    "--now",
    type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"]),
    help="Act as if it were this UTC time (tests and drills); default: now",
)
def portal_escalate(db: str | None, now) -> None:
    """One pass of the escalation job: tell the alliance's operators, then mark parts
    unresponsive, past their biobanks' response targets (the worker runs it on its own)."""
    import datetime as dt

    from portal.access.context import access_context
    from portal.access.escalation import Escalation

    config = config_with(PORTAL_DATABASE_URL=db)
    access = access_context(config)
    at = now.replace(tzinfo=dt.UTC) if now else None
    for part_id, key in Escalation(access, config).run(at):
        click.echo(f"{part_id}\t{key}")
