"""Alembic environment for the portal's database (access requests).

The portal passes its connection in ``config.attributes["connection"]`` (see
portal/migrations/__init__.py). From the command line (``alembic -n portal revision
--autogenerate``), the database URL comes from ``-x db=URL``, else the PORTAL_DATABASE_URL
setting.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from portal.access import clock_models as _clocks  # noqa: F401  (response clocks, 0005)
from portal.access.models import PortalBase
from portal.alerts import models as _saved_searches  # noqa: F401  (their tables, 0004)

target_metadata = PortalBase.metadata


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    from cellfed.config import load_config

    url = (
        context.get_x_argument(as_dictionary=True).get("db") or load_config()["PORTAL_DATABASE_URL"]
    )
    with create_engine(url).begin() as conn:
        _run(conn)
