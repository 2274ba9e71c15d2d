"""login sessions kept on the server (federation/web/sessions.py): logout, back-channel
logout and expiry end them for every worker

Revision ID: 0002_login_sessions
Revises: 0001_portal_access
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_login_sessions"
down_revision = "0001_portal_access"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("iss", sa.String(length=500), nullable=False),
        sa.Column("sub", sa.String(length=255), nullable=False),
        sa.Column("sid", sa.String(length=255), nullable=True),
        sa.Column("identity", sa.JSON(), nullable=False),
        sa.Column("id_token", sa.Text(), nullable=True),
        sa.Column("refresh_token", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("login_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_login_sessions_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_login_sessions_sid"), ["sid"], unique=False)
        batch_op.create_index(batch_op.f("ix_login_sessions_sub"), ["sub"], unique=False)


def downgrade() -> None:
    # Only logins are lost: everyone logs in again.
    with op.batch_alter_table("login_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_sessions_sub"))
        batch_op.drop_index(batch_op.f("ix_login_sessions_sid"))
        batch_op.drop_index(batch_op.f("ix_login_sessions_expires_at"))

    op.drop_table("login_sessions")
