"""response clocks: the escalation steps a node took per part
(federation/node/inbox/clock_models.py)

Revision ID: 0006_response_clocks
Revises: 0005_bench_sharing
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_response_clocks"
down_revision = "0005_bench_sharing"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "access_part_clocks",
        sa.Column("part_id", sa.String(length=32), nullable=False),
        sa.Column("sent", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["part_id"], ["access_parts.id"]),
        sa.PrimaryKeyConstraint("part_id"),
    )


def downgrade() -> None:
    # Only the record of reminders sent is lost: the next pass may send the latest again.
    op.drop_table("access_part_clocks")
