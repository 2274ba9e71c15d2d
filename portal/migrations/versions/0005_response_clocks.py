"""response clocks: the escalation steps the portal took per part, the unresponsive mark and
the researcher's choice to keep waiting (portal/access/clock_models.py)

Revision ID: 0005_response_clocks
Revises: 0004_saved_searches
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from federation.migrate import refuse_data_loss

revision = "0005_response_clocks"
down_revision = "0004_saved_searches"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "access_part_clocks",
        sa.Column("part_id", sa.String(length=32), nullable=False),
        sa.Column("sent", sa.JSON(), nullable=False),
        sa.Column("unresponsive_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("kept_waiting_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("kept_waiting_by", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["part_id"], ["access_request_parts.id"]),
        sa.PrimaryKeyConstraint("part_id"),
    )


def downgrade() -> None:
    # The unresponsive marks would go; the events that recorded them stay in the history.
    refuse_data_loss(
        "response clocks (unresponsive marks)",
        "SELECT count(*) FROM access_part_clocks WHERE unresponsive_at IS NOT NULL",
    )
    op.drop_table("access_part_clocks")
