"""Bring an app's database to the schema its code declares, with Alembic: the node's store
(federation/node/migrate.py) and the portal's access requests (portal/migrations).

Each app has a :class:`Tree`: its migration scripts, its first revision, and a table that
first revision creates. :func:`prepare` does, in one transaction (on PostgreSQL under an
advisory lock, so workers starting together migrate once):

1. an empty database is created at the newest revision;
2. a database made by ``create_all`` before the app had migrations (the marker table, no
   ``alembic_version``) is stamped at the first revision, after checking, for a tree that
   asks for it (``adopt_exact``), that its tables and columns are exactly that revision's;
3. a database at an older revision is upgraded, when allowed; otherwise
   :class:`MigrationRefused` says which revisions and what to run;
4. a database at a revision this code does not know (newer code migrated it) is refused.

Every change of revision is logged. Whether an app may migrate its database when it starts
is :func:`auto_migrate_allowed`: the ``AUTO_MIGRATE`` setting when set, else yes except in
production (``ENV = "production"``), where the operator backs the database up
(``cellfed node backup``) and runs ``cellfed node migrate`` / ``cellfed portal migrate``.

Downgrades that would drop data call :func:`refuse_data_loss` first.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)

VERSION_TABLE = "alembic_version"


class MigrationError(RuntimeError):
    """The database cannot be brought to the code's schema; the message says why and what
    to do."""


class MigrationRefused(MigrationError):
    """The database is behind the code, and migrating it on start is not allowed here."""


@dataclass(frozen=True)
class Tree:
    """One app's Alembic tree."""

    name: str  # "node" or "portal": in messages, logs and the commands they name
    location: Path  # the script directory (env.py, versions/)
    baseline: str  # the first revision
    marker: str  # a table the first revision creates
    adopt_exact: bool = False  # stamp a create_all database only when it is exactly baseline

    def config(self, connection: Connection | None = None, **attributes: Any) -> Config:
        config = Config()
        config.set_main_option("script_location", str(self.location))
        config.attributes["connection"] = connection
        config.attributes.update(attributes)
        return config

    def scripts(self) -> ScriptDirectory:
        return ScriptDirectory.from_config(self.config())

    def heads(self) -> set[str]:
        return set(self.scripts().get_heads())

    def known(self) -> set[str]:
        """Every revision this code has a script for."""
        return {script.revision for script in self.scripts().walk_revisions()}

    def current(self, engine: Engine) -> set[str]:
        with engine.connect() as connection:
            return revisions_of(connection)


def revisions_of(connection: Connection) -> set[str]:
    return set(MigrationContext.configure(connection).get_current_heads())


@dataclass(frozen=True)
class Change:
    """What :func:`prepare` did."""

    before: tuple[str, ...]  # the revisions found (empty: a new database)
    after: tuple[str, ...]
    adopted: bool = False  # stamped at the first revision (made by create_all)

    @property
    def changed(self) -> bool:
        return self.before != self.after


def auto_migrate_allowed(config: Mapping[str, Any]) -> bool:
    """May an app migrate its database when it starts? ``AUTO_MIGRATE`` when set; else yes,
    except in production."""
    setting = config.get("AUTO_MIGRATE")
    if setting is not None:
        return bool(setting)
    return config.get("ENV", "development") != "production"


@contextmanager
def migrating(engine: Engine, tree: Tree) -> Iterator[Connection]:
    """A connection in one transaction, for migrating: all of it is applied or none. On
    SQLite the transaction is opened first (``BEGIN IMMEDIATE``: else the driver would run
    each DDL statement on its own), which also lets one process migrate at a time; on
    PostgreSQL an advisory lock per tree does that."""
    with engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        elif connection.dialect.name == "postgresql":
            digest = hashlib.sha256(f"cellfed-{tree.name}".encode()).digest()
            key = int.from_bytes(digest[:8], "big") - 2**63
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        yield connection


def _names(revisions: set[str] | tuple[str, ...]) -> str:
    return ", ".join(sorted(revisions)) or "none"


def prepare(engine: Engine, tree: Tree, *, allowed: bool = True) -> Change:
    """Bring the database to the tree's heads (see the module docstring); returns what
    changed. Raises MigrationRefused when it is behind and ``allowed`` is false, and
    MigrationError when it cannot be migrated at all."""
    with migrating(engine, tree) as connection:
        tables = set(inspect(connection).get_table_names())
        found = revisions_of(connection) if VERSION_TABLE in tables else set()
        heads = tree.heads()
        adopted = False
        if not found and tree.marker in tables:
            _adopt(connection, tree, tables)
            found, adopted = {tree.baseline}, True
        unknown = found - tree.known()
        if unknown:
            raise MigrationError(
                f"the {tree.name} database is at revision {_names(unknown)}, which this code "
                f"does not know (it knows up to {_names(heads)}): newer code migrated it. Run "
                "that code, or restore a backup made at a revision this code knows"
            )
        before = tuple(sorted(found))
        if found == heads:
            return Change(before, before, adopted)
        if found and not allowed:
            raise MigrationRefused(
                f"the {tree.name} database is at revision {_names(found)} and this code needs "
                f"{_names(heads)}. Migrations do not run on start in production: back the "
                f"database up (cellfed {tree.name} backup --out FILE), then run "
                f"`cellfed {tree.name} migrate`; or set CELLFED_AUTO_MIGRATE=true"
            )
        command.upgrade(tree.config(connection), "heads")
        after = tuple(sorted(revisions_of(connection)))
    if before:
        log.warning(
            "migrated the %s database from revision %s to %s",
            tree.name,
            _names(before),
            _names(after),
        )
    else:
        log.info("created the %s database at revision %s", tree.name, _names(after))
    return Change(before, after, adopted)


def downgrade(engine: Engine, tree: Tree, revision: str, lose_data: bool = False) -> Change:
    """Go back to ``revision`` in one transaction. A step that would drop data refuses
    (MigrationError, nothing changed) unless ``lose_data``."""
    with migrating(engine, tree) as connection:
        before = tuple(sorted(revisions_of(connection)))
        command.downgrade(tree.config(connection, lose_data=lose_data), revision)
        after = tuple(sorted(revisions_of(connection)))
    log.warning(
        "downgraded the %s database from revision %s to %s",
        tree.name,
        _names(before),
        _names(after),
    )
    return Change(before, after)


def _adopt(connection: Connection, tree: Tree, tables: set[str]) -> None:
    """Stamp a database made by ``create_all`` at the first revision."""
    if tree.adopt_exact:
        expected = baseline_columns(tree)
        found = {t: _columns(connection, t) for t in tables if t != VERSION_TABLE}
        if found != expected:
            raise MigrationError(
                f"the {tree.name} database has tables made without migrations that are not "
                f"those of revision {tree.baseline}: {_differences(expected, found)}. Back it "
                "up, and bring it to that revision by hand or start from a new database"
            )
    command.stamp(tree.config(connection), tree.baseline)
    log.warning(
        "the %s database was made without migrations; stamped it at revision %s",
        tree.name,
        tree.baseline,
    )


def _columns(connection: Connection, table: str) -> set[str]:
    return {column["name"] for column in inspect(connection).get_columns(table)}


def baseline_columns(tree: Tree) -> dict[str, set[str]]:
    """Table -> column names, as the tree's first revision makes them (on SQLite)."""
    scratch = create_engine("sqlite://")
    try:
        with scratch.begin() as connection:
            command.upgrade(tree.config(connection), tree.baseline)
            names = set(inspect(connection).get_table_names()) - {VERSION_TABLE}
            return {table: _columns(connection, table) for table in names}
    finally:
        scratch.dispose()


def _differences(expected: dict[str, set[str]], found: dict[str, set[str]]) -> str:
    problems = [f"no table {t}" for t in sorted(set(expected) - set(found))]
    problems += [f"an unknown table {t}" for t in sorted(set(found) - set(expected))]
    for table in sorted(set(expected) & set(found)):
        problems += [f"no column {table}.{c}" for c in sorted(expected[table] - found[table])]
        problems += [
            f"an unknown column {table}.{c}" for c in sorted(found[table] - expected[table])
        ]
    return "; ".join(problems)


def refuse_data_loss(what: str, count_sql: str) -> None:
    """In a downgrade script: stop if it would drop data (``count_sql`` counts the rows it
    would lose), unless it was asked for: ``alembic -x lose_data=true downgrade ...``, or
    ``lose_data=True`` among the config's attributes."""
    from alembic import context, op

    lost = op.get_bind().execute(text(count_sql)).scalar() or 0
    if not lost:
        return
    asked = context.get_x_argument(as_dictionary=True).get("lose_data") == "true"
    if asked or context.config.attributes.get("lose_data"):
        log.warning("downgrade: dropping %s (%d rows), as asked", what, lost)
        return
    raise MigrationError(
        f"this downgrade would drop {what} ({lost} rows). Back the database up first; to "
        "drop them anyway, run it again with `-x lose_data=true`"
    )
