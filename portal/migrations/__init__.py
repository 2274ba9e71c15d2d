"""The portal database's Alembic tree: ``versions/`` holds its revisions, ``env.py`` runs
them. The rules (new, made by ``create_all``, behind, ahead; logging; production) are
federation/migrate.py's.

A portal database made by ``PortalBase.metadata.create_all`` before this tree existed (its
tables, no ``alembic_version``) is stamped at the first revision when its tables and columns
are exactly that revision's, so demo and deployed databases upgrade in place.

New revision: ``alembic -n portal -x db=sqlite:///portal.sqlite3 revision --autogenerate -m
"..."`` (alembic.ini has the ``[portal]`` section).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from federation.migrate import Change, Tree, auto_migrate_allowed, prepare

BASELINE = "0001_portal_access"
TREE = Tree(
    "portal", Path(__file__).resolve().parent, BASELINE, "access_requests", adopt_exact=True
)


def upgrade(engine: Engine, allowed: bool = True) -> Change:
    """Bring the portal's database to the newest revision (``cellfed portal migrate``)."""
    return prepare(engine, TREE, allowed=allowed)


def migrate_on_start(engine: Engine, config: Mapping[str, Any]) -> Change:
    """What the portal does on first use of its database: migrate where allowed, else refuse
    a database that is behind."""
    return upgrade(engine, allowed=auto_migrate_allowed(config))
