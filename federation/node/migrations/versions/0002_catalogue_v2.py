"""Catalogue v2: ids up to 255 characters (the Directory's are up to 214) and the content a
withdrawal puts aside, so a withdrawn record can be restored.

Revision ID: 0002_catalogue_v2
Revises: 0001_foundation
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from federation.migrate import refuse_data_loss

revision = "0002_catalogue_v2"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("records") as batch:
        batch.alter_column(
            "local_id", type_=sa.String(255), existing_type=sa.String(128), existing_nullable=False
        )
        batch.add_column(sa.Column("withdrawn_payload", sa.JSON(), nullable=True))


def downgrade() -> None:
    refuse_data_loss(
        "the content kept for withdrawn records (they could no longer be restored)",
        "SELECT count(*) FROM records WHERE withdrawn_payload IS NOT NULL "
        "AND CAST(withdrawn_payload AS TEXT) <> 'null'",
    )
    refuse_data_loss(
        "ids longer than the 128 characters the older schema holds",
        "SELECT count(*) FROM records WHERE length(local_id) > 128",
    )
    with op.batch_alter_table("records") as batch:
        batch.drop_column("withdrawn_payload")
        batch.alter_column(
            "local_id", type_=sa.String(128), existing_type=sa.String(255), existing_nullable=False
        )
