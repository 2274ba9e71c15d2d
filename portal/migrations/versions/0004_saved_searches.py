"""saved searches with alerts, their private feeds, the alert job's ledger of lines, and the
unmet-demand counters (portal/alerts/models.py)

Revision ID: 0004_saved_searches
Revises: 0003_attachment_retention
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from federation.migrate import refuse_data_loss

revision = "0004_saved_searches"
down_revision = "0003_attachment_retention"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_cursors",
        sa.Column("node_id", sa.String(length=100), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("node_id"),
    )
    op.create_table(
        "alert_lines",
        sa.Column("uid", sa.String(length=512), nullable=False),
        sa.Column("node_id", sa.String(length=100), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("available", sa.Boolean(), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("event_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("uid"),
    )
    with op.batch_alter_table("alert_lines", schema=None) as batch_op:
        batch_op.create_index("ix_alert_lines_event", ["node_id", "event_seq"], unique=False)

    op.create_table(
        "saved_searches",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("owner_iss", sa.String(length=500), nullable=False),
        sa.Column("owner_sub", sa.String(length=255), nullable=False),
        sa.Column("owner_email", sa.String(length=320), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("email_alerts", sa.Boolean(), nullable=False),
        sa.Column("feed_token", sa.String(length=64), nullable=False),
        sa.Column("unsubscribe_token", sa.String(length=64), nullable=False),
        sa.Column("feed_uuid", sa.String(length=36), nullable=False),
        sa.Column("watermarks", sa.JSON(), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("emailed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("problem", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("feed_token"),
        sa.UniqueConstraint("unsubscribe_token"),
    )
    with op.batch_alter_table("saved_searches", schema=None) as batch_op:
        batch_op.create_index("ix_saved_searches_owner", ["owner_iss", "owner_sub"], unique=False)

    op.create_table(
        "unmet_demand",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("week", sa.String(length=8), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("words", sa.Text(), nullable=False),
        sa.Column("filters", sa.Text(), nullable=False),
        sa.Column("searches", sa.Integer(), nullable=False),
        sa.Column("empty", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    with op.batch_alter_table("unmet_demand", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_unmet_demand_week"), ["week"], unique=False)

    op.create_table(
        "saved_search_hits",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("search_id", sa.String(length=32), nullable=False),
        sa.Column("uid", sa.String(length=512), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("event_seq", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("node_id", sa.String(length=100), nullable=False),
        sa.Column("biobank_name", sa.String(length=300), nullable=True),
        sa.Column("country", sa.String(length=8), nullable=True),
        sa.Column("availability", sa.String(length=32), nullable=True),
        sa.Column("found_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("mailed", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["search_id"], ["saved_searches.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("saved_search_hits", schema=None) as batch_op:
        batch_op.create_index("ix_saved_search_hits_search", ["search_id", "id"], unique=False)


def downgrade() -> None:
    refuse_data_loss("every saved search and its alerts", "SELECT count(*) FROM saved_searches")
    refuse_data_loss("the unmet-demand counts", "SELECT count(*) FROM unmet_demand")
    with op.batch_alter_table("saved_search_hits", schema=None) as batch_op:
        batch_op.drop_index("ix_saved_search_hits_search")

    op.drop_table("saved_search_hits")
    with op.batch_alter_table("unmet_demand", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_unmet_demand_week"))

    op.drop_table("unmet_demand")
    with op.batch_alter_table("saved_searches", schema=None) as batch_op:
        batch_op.drop_index("ix_saved_searches_owner")

    op.drop_table("saved_searches")
    with op.batch_alter_table("alert_lines", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_lines_event")

    op.drop_table("alert_lines")
    op.drop_table("alert_cursors")
