"""co-applicants on access requests (portal/access/models.py Collaborator)

Revision ID: 0006_collaborators
Revises: 0005_response_clocks
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from federation.migrate import refuse_data_loss

revision = "0006_collaborators"
down_revision = "0005_response_clocks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "access_collaborators",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("user_iss", sa.String(length=500), nullable=True),
        sa.Column("user_sub", sa.String(length=255), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("added_by", sa.String(length=255), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("bound_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["request_id"], ["access_requests.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("access_collaborators", schema=None) as batch_op:
        batch_op.create_index("ix_access_collaborators_email", ["email"], unique=False)
        batch_op.create_index("ix_access_collaborators_request_id", ["request_id"], unique=False)
        batch_op.create_index(
            "ix_access_collaborators_user", ["user_iss", "user_sub"], unique=False
        )


def downgrade() -> None:
    refuse_data_loss("co-applicants", "SELECT count(*) FROM access_collaborators")
    op.drop_table("access_collaborators")
