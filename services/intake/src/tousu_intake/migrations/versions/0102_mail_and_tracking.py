"""Inbound mail record and the tracking page's read model.

Revision ID: 0102
Revises: 0002
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from tousu_common.db import BigIntPK

revision = "0102"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbound_mail",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("dedupe_key", sa.String(512), nullable=False),
        sa.Column("message_id", sa.String(512), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("mailbox", sa.String(320), nullable=False),
        sa.Column("envelope_from", sa.String(320), nullable=False),
        sa.Column("from_address", sa.String(320), nullable=True),
        sa.Column("subject", sa.String(998), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(200), nullable=True),
        sa.Column("complaint_id", sa.Uuid(), nullable=True),
        sa.Column("raw_path", sa.String(500), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_inbound_mail"),
        sa.UniqueConstraint("dedupe_key", name="uq_inbound_mail_dedupe_key"),
    )
    op.create_index("ix_inbound_mail_message_id", "inbound_mail", ["message_id"])
    op.create_index("ix_inbound_mail_complaint_id", "inbound_mail", ["complaint_id"])
    op.create_table(
        "tracking_status",
        sa.Column("complaint_id", sa.Uuid(), nullable=False),
        sa.Column("reference", sa.String(32), nullable=False),
        sa.Column("stage", sa.String(40), nullable=False),
        sa.Column("stage_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("owner_department", sa.String(50), nullable=True),
        sa.Column("category", sa.String(40), nullable=True),
        sa.Column("pending_plan", sa.JSON(), nullable=True),
        sa.Column("decision_sent", sa.String(10), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("complaint_id", name="pk_tracking_status"),
    )
    op.create_table(
        "tracking_entries",
        sa.Column("id", BigIntPK, autoincrement=True, nullable=False),
        sa.Column("complaint_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tracking_entries"),
        sa.UniqueConstraint("event_id", name="uq_tracking_entries_event_id"),
    )
    op.create_index("ix_tracking_entries_complaint_id", "tracking_entries", ["complaint_id"])


def downgrade() -> None:
    op.drop_index("ix_tracking_entries_complaint_id", table_name="tracking_entries")
    op.drop_table("tracking_entries")
    op.drop_table("tracking_status")
    op.drop_index("ix_inbound_mail_complaint_id", table_name="inbound_mail")
    op.drop_index("ix_inbound_mail_message_id", table_name="inbound_mail")
    op.drop_table("inbound_mail")
