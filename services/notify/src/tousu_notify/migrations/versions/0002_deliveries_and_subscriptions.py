"""Deliveries (one row per message, with status and retries), subscriptions, complaint facts.

The 0001 ``notifications`` rows (recorded, never sent) become deliveries with
status ``skipped``, so their history stays readable.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from tousu_common.db import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("recipient_kind", sa.String(30), nullable=False),
        sa.Column("address", sa.String(320), nullable=True),
        sa.Column("url", sa.String(2000), nullable=True),
        sa.Column("secret", sa.String(100), nullable=True),
        sa.Column("language", sa.String(10), nullable=False),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("departments", sa.JSON(), nullable=True),
        sa.Column("customer_tiers", sa.JSON(), nullable=True),
        sa.Column("urgencies", sa.JSON(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.String(500), nullable=True),
        sa.Column("disabled_at", UTCDateTime(), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("failing_since", UTCDateTime(), nullable=True),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_subscriptions"),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("source_event_id", sa.String(64), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("complaint_id", sa.Uuid(), nullable=False),
        sa.Column("reference", sa.String(32), nullable=True),
        sa.Column("template", sa.String(100), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("recipient_kind", sa.String(30), nullable=False),
        sa.Column("recipient_key", sa.String(200), nullable=False),
        sa.Column("subscription_id", sa.Uuid(), nullable=True),
        sa.Column("language", sa.String(10), nullable=False),
        sa.Column("context", sa.JSON(), nullable=False),
        sa.Column("message_id", sa.String(300), nullable=True),
        sa.Column("masked_recipient", sa.String(200), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("claimed_at", UTCDateTime(), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
        sa.UniqueConstraint(
            "source_event_id", "template", "recipient_key", name="uq_deliveries_source_event_id"
        ),
    )
    op.create_index("ix_deliveries_complaint_id", "deliveries", ["complaint_id"])
    op.create_index("ix_deliveries_subscription_id", "deliveries", ["subscription_id"])
    op.create_index("ix_deliveries_due", "deliveries", ["status", "next_attempt_at"])
    op.create_table(
        "complaint_facts",
        sa.Column("complaint_id", sa.Uuid(), nullable=False),
        sa.Column("reference", sa.String(32), nullable=True),
        sa.Column("language", sa.String(10), nullable=True),
        sa.Column("owner_department", sa.String(50), nullable=True),
        sa.Column("urgency", sa.String(20), nullable=True),
        sa.Column("customer_tier", sa.String(20), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("complaint_id", name="pk_complaint_facts"),
    )
    empty_context = "CAST('{}' AS JSON)" if op.get_bind().dialect.name == "postgresql" else "'{}'"
    copy_recorded = """
        INSERT INTO deliveries (id, source_event_id, event_type, complaint_id, reference,
            template, channel, recipient_kind, recipient_key, language, context, status,
            attempts, last_error, created_at, updated_at)
        SELECT id, event_id,
            CASE kind WHEN 'acknowledgement' THEN 'complaint.received'
                      ELSE 'complaint.triaged' END,
            complaint_id, reference, kind, 'email',
            CASE WHEN recipient = 'customer' THEN 'customer' ELSE 'department' END,
            recipient, language, EMPTY_CONTEXT, 'skipped', 0,
            'recorded before notify delivered anything', created_at, created_at
        FROM notifications
        """
    op.execute(copy_recorded.replace("EMPTY_CONTEXT", empty_context))
    op.drop_index("ix_notifications_complaint_id", table_name="notifications")
    op.drop_table("notifications")


def downgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("complaint_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("reference", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("recipient", sa.String(100), nullable=False),
        sa.Column("template", sa.String(100), nullable=False),
        sa.Column("language", sa.String(10), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
        sa.UniqueConstraint("event_id", name="uq_notifications_event_id"),
    )
    op.create_index("ix_notifications_complaint_id", "notifications", ["complaint_id"])
    op.drop_table("complaint_facts")
    op.drop_index("ix_deliveries_due", table_name="deliveries")
    op.drop_index("ix_deliveries_subscription_id", table_name="deliveries")
    op.drop_index("ix_deliveries_complaint_id", table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_table("subscriptions")
