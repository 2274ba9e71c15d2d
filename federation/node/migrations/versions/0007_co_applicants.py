"""a part's co-applicants, as the portal names them (federation/node/inbox/co_applicant_models.py)

Revision ID: 0007_co_applicants
Revises: 0006_response_clocks
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from federation.migrate import refuse_data_loss

revision = "0007_co_applicants"
down_revision = "0006_response_clocks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "access_part_co_applicants",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("part_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["part_id"], ["access_parts.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("access_part_co_applicants", schema=None) as batch_op:
        batch_op.create_index("ix_access_part_co_applicants_part_id", ["part_id"], unique=False)


def downgrade() -> None:
    refuse_data_loss("co-applicants", "SELECT count(*) FROM access_part_co_applicants")
    op.drop_table("access_part_co_applicants")
