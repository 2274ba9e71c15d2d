"""Bring a node's database to the current schema with Alembic (SQLite or PostgreSQL).

A database made by the foundation's ``create_all`` (tables, no Alembic history) is first
stamped with the baseline revision, so old demo and test databases upgrade in place. The
rules (new, adopted, behind, ahead; logging; production) are federation/migrate.py's.

On start, the app calls :func:`migrate_on_start`, which migrates only where
``auto_migrate_allowed`` says so (not in production unless ``AUTO_MIGRATE`` is set);
``cellfed node migrate`` calls :func:`upgrade`, which always does.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from alembic.config import Config
from sqlalchemy.engine import Connection, Engine

from federation.migrate import Change, Tree, auto_migrate_allowed, prepare

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BASELINE = "0001_foundation"
TREE = Tree("node", MIGRATIONS, BASELINE, marker="records")


def alembic_config(connection: Connection | None = None) -> Config:
    return TREE.config(connection)


def heads() -> set[str]:
    return TREE.heads()


def current(engine: Engine) -> set[str]:
    return TREE.current(engine)


def upgrade(engine: Engine, allowed: bool = True) -> Change:
    """Apply every migration not yet applied (all heads, so parallel branches both run)."""
    return prepare(engine, TREE, allowed=allowed)


def migrate_on_start(engine: Engine, config: Mapping[str, Any]) -> Change:
    """What the app does when it starts: migrate if allowed here, else refuse to start on a
    database that is behind (MigrationRefused names the commands to run)."""
    return upgrade(engine, allowed=auto_migrate_allowed(config))
