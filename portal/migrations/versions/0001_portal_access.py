"""The portal's access requests as create_all made them before migrations: requests, their
parts as mirrored from the nodes, the audit trail, attachments, notifications, the outbox.

Revision ID: 0001_portal_access
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from federation.migrate import refuse_data_loss

revision = "0001_portal_access"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    _notifications()
    _outbox()
    _requests()
    _attachments()
    _request_parts()
    _part_events()


def _notifications() -> None:
    op.create_table(
        "access_notifications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_iss", sa.String(length=500), nullable=False),
        sa.Column("user_sub", sa.String(length=255), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("access_notifications", schema=None) as batch_op:
        batch_op.create_index(
            "ix_access_notifications_user", ["user_iss", "user_sub", "read"], unique=False
        )


def _outbox() -> None:
    op.create_table(
        "access_outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=True),
        sa.Column("target", sa.String(length=320), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("access_outbox", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_access_outbox_delivered_at"), ["delivered_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_access_outbox_key"), ["key"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_access_outbox_next_attempt_at"), ["next_attempt_at"], unique=False
        )


def _requests() -> None:
    op.create_table(
        "access_requests",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("owner_iss", sa.String(length=500), nullable=False),
        sa.Column("owner_sub", sa.String(length=255), nullable=False),
        sa.Column("owner_name", sa.String(length=200), nullable=False),
        sa.Column("owner_email", sa.String(length=320), nullable=True),
        sa.Column("project", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("access_requests", schema=None) as batch_op:
        batch_op.create_index("ix_access_requests_owner", ["owner_iss", "owner_sub"], unique=False)


def _attachments() -> None:
    op.create_table(
        "access_attachments",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("stored_name", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["access_requests.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("access_attachments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_access_attachments_request_id"), ["request_id"], unique=False
        )


def _request_parts() -> None:
    op.create_table(
        "access_request_parts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("node_id", sa.String(length=64), nullable=False),
        sa.Column("biobank_id", sa.String(length=128), nullable=False),
        sa.Column("biobank_name", sa.String(length=300), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("node_seq", sa.Integer(), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("delivery", sa.String(length=16), nullable=False),
        sa.Column("delivery_error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["access_requests.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("access_request_parts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_access_request_parts_node_id"), ["node_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_access_request_parts_request_id"), ["request_id"], unique=False
        )


def _part_events() -> None:
    op.create_table(
        "access_part_events",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("part_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=True),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=16), nullable=False),
        sa.Column("actor_name", sa.String(length=200), nullable=False),
        sa.Column("actor_sub", sa.String(length=255), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("refusal", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["part_id"],
            ["access_request_parts.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("access_part_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_access_part_events_part_id"), ["part_id"], unique=False
        )


def downgrade() -> None:
    refuse_data_loss("every access request", "SELECT count(*) FROM access_requests")
    with op.batch_alter_table("access_part_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_part_events_part_id"))

    op.drop_table("access_part_events")
    with op.batch_alter_table("access_request_parts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_request_parts_request_id"))
        batch_op.drop_index(batch_op.f("ix_access_request_parts_node_id"))

    op.drop_table("access_request_parts")
    with op.batch_alter_table("access_attachments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_attachments_request_id"))

    op.drop_table("access_attachments")
    with op.batch_alter_table("access_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_access_requests_owner")

    op.drop_table("access_requests")
    with op.batch_alter_table("access_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_outbox_next_attempt_at"))
        batch_op.drop_index(batch_op.f("ix_access_outbox_key"))
        batch_op.drop_index(batch_op.f("ix_access_outbox_delivered_at"))

    op.drop_table("access_outbox")
    with op.batch_alter_table("access_notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_access_notifications_user")

    op.drop_table("access_notifications")
