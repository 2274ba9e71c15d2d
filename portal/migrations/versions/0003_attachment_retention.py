"""attachments removed under the retention rule (portal/access/retention.py): the file is
deleted, the row kept with the time it went

Revision ID: 0003_attachment_retention
Revises: 0002_login_sessions
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from federation.migrate import refuse_data_loss

revision = "0003_attachment_retention"
down_revision = "0002_login_sessions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("access_attachments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # Without the column a removed attachment would read as one whose file went missing.
    refuse_data_loss(
        "when attachments were removed under the retention rule",
        "SELECT count(*) FROM access_attachments WHERE removed_at IS NOT NULL",
    )
    with op.batch_alter_table("access_attachments", schema=None) as batch_op:
        batch_op.drop_column("removed_at")
