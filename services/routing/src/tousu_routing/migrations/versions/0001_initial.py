"""Triages, outbox and inbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from tousu_common.messaging.tables import create_messaging_tables_v1, drop_messaging_tables_v1

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "triages",
        sa.Column("complaint_id", sa.Uuid(), nullable=False),
        sa.Column("reference", sa.String(32), nullable=False),
        sa.Column("category", sa.String(30), nullable=False),
        sa.Column("urgency", sa.String(20), nullable=False),
        sa.Column("owner_department", sa.String(50), nullable=False),
        sa.Column("rule_id", sa.String(100), nullable=True),
        sa.Column("ruleset_version", sa.String(50), nullable=False),
        sa.Column("decided_by", sa.String(100), nullable=False),
        sa.Column("triaged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_event_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("complaint_id", name="pk_triages"),
    )
    op.create_index("ix_triages_triaged_at", "triages", ["triaged_at"])
    create_messaging_tables_v1(op)


def downgrade() -> None:
    drop_messaging_tables_v1(op)
    op.drop_index("ix_triages_triaged_at", table_name="triages")
    op.drop_table("triages")
