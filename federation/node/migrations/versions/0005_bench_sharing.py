"""stock-aware requests, agreements with evidence, shipment (issue 11): lot holds and the
per-lot counter two approvals update, condition evidence, shipments

Revision ID: 0005_bench_sharing
Revises: 0004_login_sessions
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_bench_sharing"
down_revision = "0004_login_sessions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lot_stock",
        sa.Column("line_id", sa.String(length=128), nullable=False),
        sa.Column("lot_id", sa.String(length=128), nullable=False),
        sa.Column("held", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("line_id", "lot_id"),
    )
    op.create_table(
        "lot_holds",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("part_id", sa.String(length=32), nullable=False),
        sa.Column("line_id", sa.String(length=128), nullable=False),
        sa.Column("lot_id", sa.String(length=128), nullable=False),
        sa.Column("vials", sa.Integer(), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["part_id"], ["access_parts.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("lot_holds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lot_holds_part_id"), ["part_id"], unique=False)
        batch_op.create_index("ix_lot_holds_state_until", ["state", "until"], unique=False)
    op.create_table(
        "condition_evidence",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("part_id", sa.String(length=32), nullable=False),
        sa.Column("condition", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("filename", sa.String(length=200), nullable=True),
        sa.Column("content_type", sa.String(length=100), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("actor", sa.String(length=16), nullable=False),
        sa.Column("actor_name", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["part_id"], ["access_parts.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("condition_evidence", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_condition_evidence_part_id"), ["part_id"], unique=False
        )
    op.create_table(
        "shipments",
        sa.Column("part_id", sa.String(length=32), nullable=False),
        sa.Column("carrier", sa.String(length=100), nullable=False),
        sa.Column("tracking_number", sa.String(length=100), nullable=False),
        sa.Column("shipped_on", sa.Date(), nullable=False),
        sa.Column("lots", sa.JSON(), nullable=False),
        sa.Column("conditions", sa.String(length=200), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["part_id"], ["access_parts.id"]),
        sa.PrimaryKeyConstraint("part_id"),
    )


def downgrade() -> None:
    # Holds, evidence and shipment records are lost; the catalogue keeps its stock.
    op.drop_table("shipments")
    with op.batch_alter_table("condition_evidence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_condition_evidence_part_id"))
    op.drop_table("condition_evidence")
    with op.batch_alter_table("lot_holds", schema=None) as batch_op:
        batch_op.drop_index("ix_lot_holds_state_until")
        batch_op.drop_index(batch_op.f("ix_lot_holds_part_id"))
    op.drop_table("lot_holds")
    op.drop_table("lot_stock")
