"""Complaints as routing sees them, triage history, versioned rule sets, SLA clocks.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "complaints",
        sa.Column("complaint_id", sa.Uuid(), nullable=False),
        sa.Column("reference", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("product_model", sa.String(100), nullable=True),
        sa.Column("serial_number", sa.String(100), nullable=True),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("customer_tier", sa.String(20), nullable=False),
        sa.Column("customer_segment", sa.String(20), nullable=True),
        sa.Column("key_account", sa.Boolean(), nullable=False),
        sa.Column("attachment_count", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("open", sa.Boolean(), nullable=False),
        sa.Column("duplicate_of", sa.Uuid(), nullable=True),
        sa.Column("provisional_urgency", sa.String(20), nullable=False),
        sa.Column("received_event_id", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("complaint_id", name="pk_complaints"),
    )
    op.create_index("ix_complaints_status", "complaints", ["status"])
    op.create_index("ix_complaints_customer_received", "complaints", ["customer_id", "received_at"])

    with op.batch_alter_table("triages") as batch:
        batch.add_column(
            sa.Column(
                "quality_report_needed", sa.Boolean(), server_default=sa.false(), nullable=False
            )
        )
        batch.create_index("ix_triages_owner_department", ["owner_department"])

    op.create_table(
        "triage_records",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("complaint_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("category", sa.String(30), nullable=False),
        sa.Column("urgency", sa.String(20), nullable=False),
        sa.Column("owner_department", sa.String(50), nullable=False),
        sa.Column("quality_report_needed", sa.Boolean(), nullable=False),
        sa.Column("rule_id", sa.String(100), nullable=True),
        sa.Column("ruleset_version", sa.String(50), nullable=False),
        sa.Column("decided_by", sa.String(100), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_triage_records"),
    )
    op.create_index("ix_triage_records_complaint_id", "triage_records", ["complaint_id"])

    op.create_table(
        "rule_sets",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("note", sa.String(500), nullable=False),
        sa.PrimaryKeyConstraint("version", name="pk_rule_sets"),
    )

    op.create_table(
        "sla_clocks",
        sa.Column("complaint_id", sa.Uuid(), nullable=False),
        sa.Column("clock", sa.String(20), nullable=False),
        sa.Column("reference", sa.String(32), nullable=False),
        sa.Column("urgency", sa.String(20), nullable=False),
        sa.Column("customer_tier", sa.String(20), nullable=False),
        sa.Column("key_account", sa.Boolean(), nullable=False),
        sa.Column("owner_department", sa.String(50), nullable=False),
        sa.Column("basis", sa.String(10), nullable=False),
        sa.Column("budget_seconds", sa.Float(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pauses", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("warn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("warning_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("breached_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_check_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("complaint_id", "clock", name="pk_sla_clocks"),
    )
    op.create_index("ix_sla_clocks_due_at", "sla_clocks", ["due_at"])
    op.create_index("ix_sla_clocks_next_check_at", "sla_clocks", ["next_check_at"])


def downgrade() -> None:
    op.drop_index("ix_sla_clocks_next_check_at", table_name="sla_clocks")
    op.drop_index("ix_sla_clocks_due_at", table_name="sla_clocks")
    op.drop_table("sla_clocks")
    op.drop_table("rule_sets")
    op.drop_index("ix_triage_records_complaint_id", table_name="triage_records")
    op.drop_table("triage_records")
    with op.batch_alter_table("triages") as batch:
        batch.drop_index("ix_triages_owner_department")
        batch.drop_column("quality_report_needed")
    op.drop_index("ix_complaints_customer_received", table_name="complaints")
    op.drop_index("ix_complaints_status", table_name="complaints")
    op.drop_table("complaints")
