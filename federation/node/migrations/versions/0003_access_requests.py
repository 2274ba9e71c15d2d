"""access requests: parts, events, messages, outbox

Revision ID: 0003_access_requests
Revises: 0002_catalogue_v2
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from federation.migrate import refuse_data_loss

revision = "0003_access_requests"
down_revision = "0002_catalogue_v2"
branch_labels = None
depends_on = None


def upgrade() -> None:
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

    op.create_table(
        "access_parts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("biobank_id", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("needs_attention", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("access_parts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_access_parts_biobank_state", ["biobank_id", "state"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_access_parts_request_id"), ["request_id"], unique=False
        )

    op.create_table(
        "access_events",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("part_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=16), nullable=False),
        sa.Column("actor_name", sa.String(length=200), nullable=False),
        sa.Column("actor_sub", sa.String(length=255), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["part_id"],
            ["access_parts.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("part_id", "seq"),
    )
    with op.batch_alter_table("access_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_access_events_part_id"), ["part_id"], unique=False)


def downgrade() -> None:
    refuse_data_loss(
        "the access requests this node received, and its outbox",
        "SELECT (SELECT count(*) FROM access_parts) + (SELECT count(*) FROM access_outbox)",
    )
    with op.batch_alter_table("access_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_events_part_id"))

    op.drop_table("access_events")
    with op.batch_alter_table("access_parts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_parts_request_id"))
        batch_op.drop_index("ix_access_parts_biobank_state")

    op.drop_table("access_parts")
    with op.batch_alter_table("access_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_outbox_next_attempt_at"))
        batch_op.drop_index(batch_op.f("ix_access_outbox_key"))
        batch_op.drop_index(batch_op.f("ix_access_outbox_delivered_at"))

    op.drop_table("access_outbox")
