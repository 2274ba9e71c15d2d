"""each record's canonical JSON text beside its hash, so feed pages are served from it

Revision ID: 0008_canonical_text
Revises: 0007_co_applicants
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from federation.protocol import canonical_form

revision = "0008_canonical_text"
down_revision = "0007_co_applicants"
branch_labels = None
depends_on = None

BATCH = 1000
records = sa.table(
    "records",
    sa.column("pk", sa.Integer),
    sa.column("payload", sa.JSON),
    sa.column("content_hash", sa.String),
    sa.column("canonical", sa.Text),
)


def upgrade() -> None:
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("canonical", sa.Text(), nullable=True))
    _backfill(op.get_bind())


def _backfill(bind: sa.engine.Connection) -> None:
    """The text of every published record, read a batch at a time by primary key and written
    with one executemany per batch (a million rows: a thousand round trips, not a million,
    and memory bounded by one batch). A row whose stored hash is not of its payload keeps no
    text: the feed serialises its payload as before, so what it sends does not change."""
    # Bind names differ from the columns': SQLAlchemy reserves those for the SET clause.
    fill = (
        records.update()
        .where(records.c.pk == sa.bindparam("row_pk"))
        .values(canonical=sa.bindparam("row_text"))
    )
    last = 0
    while True:
        rows = bind.execute(
            sa.select(records.c.pk, records.c.payload, records.c.content_hash)
            .where(records.c.pk > last, records.c.payload.is_not(None))
            .order_by(records.c.pk)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        texts = []
        for pk, payload, digest in rows:
            if payload is None:  # a tombstone stored as JSON null
                continue
            text, computed = canonical_form(payload)
            if computed == digest:
                texts.append({"row_pk": pk, "row_text": text.decode()})
        if texts:
            bind.execute(fill, texts)
        last = rows[-1][0]


def downgrade() -> None:
    # The text is derived from the payload: nothing is lost by dropping it.
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.drop_column("canonical")
