"""Rectifications, quality reports, history, evidence, suppliers, document numbers.

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
        "quality_reports",
        sa.Column("report_id", sa.Uuid(), nullable=False),
        sa.Column("complaint_id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("reference", sa.String(32), nullable=False),
        sa.Column("number", sa.String(30), nullable=False),
        sa.Column("product_model", sa.String(100), nullable=True),
        sa.Column("serial_or_batch", sa.String(100), nullable=True),
        sa.Column("failure_description", sa.Text(), nullable=False),
        sa.Column("quantity_affected", sa.Integer(), nullable=False),
        sa.Column("issued_by", sa.String(100), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("notice_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("report_id", name="pk_quality_reports"),
        sa.UniqueConstraint("number", name="uq_quality_reports_number"),
    )
    op.create_index("ix_quality_reports_complaint_id", "quality_reports", ["complaint_id"])
    op.create_table(
        "rectifications",
        sa.Column("rectification_id", sa.Uuid(), nullable=False),
        sa.Column("complaint_id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("reference", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("number", sa.String(30), nullable=False),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("requirement", sa.Text(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("department", sa.String(50), nullable=True),
        sa.Column("supplier_id", sa.Uuid(), nullable=True),
        sa.Column("supplier_name", sa.String(200), nullable=True),
        sa.Column("report_id", sa.Uuid(), nullable=True),
        sa.Column("root_cause_category", sa.String(30), nullable=True),
        sa.Column("root_cause", sa.Text(), nullable=True),
        sa.Column("corrective_action", sa.Text(), nullable=True),
        sa.Column("containment", sa.Text(), nullable=True),
        sa.Column("preventive_action", sa.Text(), nullable=True),
        sa.Column("evidence_count", sa.Integer(), nullable=False),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("responded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verification_comment", sa.Text(), nullable=True),
        sa.Column("last_failure_reason", sa.Text(), nullable=True),
        sa.Column("failed_verifications", sa.Integer(), nullable=False),
        sa.Column("waiver_reason", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("rectification_id", name="pk_rectifications"),
        sa.UniqueConstraint("number", name="uq_rectifications_number"),
    )
    for column in ("complaint_id", "status", "department", "supplier_id", "report_id"):
        op.create_index(f"ix_rectifications_{column}", "rectifications", [column])
    op.create_table(
        "rectification_history",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("rectification_id", sa.Uuid(), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("from_status", sa.String(30), nullable=True),
        sa.Column("to_status", sa.String(30), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_rectification_history"),
        sa.ForeignKeyConstraint(
            ["rectification_id"],
            ["rectifications.rectification_id"],
            name="fk_rectification_history_rectification_id_rectifications",
        ),
    )
    op.create_index(
        "ix_rectification_history_rectification_id",
        "rectification_history",
        ["rectification_id"],
    )
    op.create_table(
        "rectification_evidence",
        sa.Column("evidence_id", sa.Uuid(), nullable=False),
        sa.Column("rectification_id", sa.Uuid(), nullable=False),
        sa.Column("filename", sa.String(200), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("stored_name", sa.String(200), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("uploaded_by", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("evidence_id", name="pk_rectification_evidence"),
        sa.ForeignKeyConstraint(
            ["rectification_id"],
            ["rectifications.rectification_id"],
            name="fk_rectification_evidence_rectification_id_rectifications",
        ),
    )
    op.create_index(
        "ix_rectification_evidence_rectification_id",
        "rectification_evidence",
        ["rectification_id"],
    )
    op.create_table(
        "suppliers",
        sa.Column("supplier_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(50), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("language", sa.String(10), nullable=False),
        sa.Column("contacts", sa.JSON(), nullable=False),
        sa.Column("parts_supplied", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("supplier_id", name="pk_suppliers"),
        sa.UniqueConstraint("code", name="uq_suppliers_code"),
    )
    op.create_table(
        "document_counters",
        sa.Column("prefix", sa.String(10), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("prefix", "year", name="pk_document_counters"),
    )


def downgrade() -> None:
    op.drop_table("document_counters")
    op.drop_table("suppliers")
    op.drop_index("ix_rectification_evidence_rectification_id", table_name="rectification_evidence")
    op.drop_table("rectification_evidence")
    op.drop_index("ix_rectification_history_rectification_id", table_name="rectification_history")
    op.drop_table("rectification_history")
    for column in ("complaint_id", "status", "department", "supplier_id", "report_id"):
        op.drop_index(f"ix_rectifications_{column}", table_name="rectifications")
    op.drop_table("rectifications")
    op.drop_index("ix_quality_reports_complaint_id", table_name="quality_reports")
    op.drop_table("quality_reports")
