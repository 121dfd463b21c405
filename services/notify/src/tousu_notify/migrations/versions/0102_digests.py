"""Digests: the read model of every complaint's life, and the stored digests.

Revision ID: 0102
Revises: 0002
Create Date: 2026-11-23

B's first revision (issue 6b), chained after A's latest (0002) so there is one head.
"""

import sqlalchemy as sa
from alembic import op

revision = "0102"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "digest_complaints",
        sa.Column("complaint_id", sa.Uuid(), nullable=False),
        sa.Column("reference", sa.String(length=32), nullable=True),
        sa.Column("channel", sa.String(length=20), nullable=True),
        sa.Column("customer_tier", sa.String(length=20), nullable=True),
        sa.Column("customer_segment", sa.String(length=20), nullable=True),
        sa.Column("key_account", sa.Boolean(), nullable=False),
        sa.Column("product_model", sa.String(length=100), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("category", sa.String(length=30), nullable=True),
        sa.Column("urgency", sa.String(length=20), nullable=True),
        sa.Column("owner_department", sa.String(length=50), nullable=True),
        sa.Column("owner_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("triaged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_response_due", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution_plan_due", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fr_sla_due", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fr_sla_raised_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rp_sla_due", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rp_sla_raised_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duplicate_of", sa.Uuid(), nullable=True),
        sa.Column("duplicate_linked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duplicate_unlinked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("is_duplicate", sa.Boolean(), nullable=False),
        sa.Column("first_response_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution_proposed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution_accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolutions_rejected", sa.Integer(), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_close_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reopen_count", sa.Integer(), nullable=False),
        sa.Column("fr_due", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fr_outcome_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fr_met", sa.Boolean(), nullable=True),
        sa.Column("rp_due", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rp_outcome_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rp_met", sa.Boolean(), nullable=True),
        sa.PrimaryKeyConstraint("complaint_id", name=op.f("pk_digest_complaints")),
    )
    op.create_index("ix_digest_complaints_first_close_at", "digest_complaints", ["first_close_at"])
    op.create_index("ix_digest_complaints_reopen_count", "digest_complaints", ["reopen_count"])
    op.create_index("ix_digest_complaints_fr_outcome_at", "digest_complaints", ["fr_outcome_at"])
    op.create_index("ix_digest_complaints_received_at", "digest_complaints", ["received_at"])
    op.create_index("ix_digest_complaints_rp_outcome_at", "digest_complaints", ["rp_outcome_at"])

    op.create_table(
        "digest_facts",
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("complaint_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail", sa.String(length=50), nullable=True),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("rectification_id", sa.Uuid(), nullable=True),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_digest_facts")),
    )
    op.create_index("ix_digest_facts_complaint_id_at", "digest_facts", ["complaint_id", "at"])
    op.create_index("ix_digest_facts_kind_at", "digest_facts", ["kind", "at"])

    op.create_table(
        "digest_rectifications",
        sa.Column("rectification_id", sa.Uuid(), nullable=False),
        sa.Column("complaint_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("department", sa.String(length=50), nullable=True),
        sa.Column("supplier_id", sa.Uuid(), nullable=True),
        sa.Column("supplier_name", sa.String(length=200), nullable=True),
        sa.Column("reference", sa.String(length=32), nullable=True),
        sa.Column("notice_number", sa.String(length=50), nullable=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("supplier_responded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("root_cause_category", sa.String(length=30), nullable=True),
        sa.Column("root_cause_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("root_cause_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("waived_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("rectification_id", name=op.f("pk_digest_rectifications")),
    )
    op.create_index(
        "ix_digest_rectifications_complaint_id", "digest_rectifications", ["complaint_id"]
    )
    op.create_index("ix_digest_rectifications_issued_at", "digest_rectifications", ["issued_at"])
    op.create_index(
        "ix_digest_rectifications_root_cause_at", "digest_rectifications", ["root_cause_at"]
    )
    op.create_index(
        "ix_digest_rectifications_verified_at", "digest_rectifications", ["verified_at"]
    )

    op.create_table(
        "digests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("period", sa.String(length=20), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("generated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("numbers", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_digests")),
        sa.UniqueConstraint("kind", "period", name="uq_digests_kind_period"),
    )


def downgrade() -> None:
    op.drop_table("digests")
    op.drop_index("ix_digest_rectifications_verified_at", table_name="digest_rectifications")
    op.drop_index("ix_digest_rectifications_root_cause_at", table_name="digest_rectifications")
    op.drop_index("ix_digest_rectifications_issued_at", table_name="digest_rectifications")
    op.drop_index("ix_digest_rectifications_complaint_id", table_name="digest_rectifications")

    op.drop_table("digest_rectifications")
    op.drop_index("ix_digest_facts_kind_at", table_name="digest_facts")
    op.drop_index("ix_digest_facts_complaint_id_at", table_name="digest_facts")

    op.drop_table("digest_facts")
    op.drop_index("ix_digest_complaints_rp_outcome_at", table_name="digest_complaints")
    op.drop_index("ix_digest_complaints_received_at", table_name="digest_complaints")
    op.drop_index("ix_digest_complaints_fr_outcome_at", table_name="digest_complaints")
    op.drop_index("ix_digest_complaints_reopen_count", table_name="digest_complaints")
    op.drop_index("ix_digest_complaints_first_close_at", table_name="digest_complaints")

    op.drop_table("digest_complaints")
