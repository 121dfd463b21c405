"""The customer's rectification feedback (asked for after filing, sent, answered) and
customer decisions that arrive before their case (kept until it opens).

Revision ID: 1311_promise_feedback
Revises: 0701
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "1311_promise_feedback"
down_revision = "0701"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("complaint_facts") as batch:
        batch.add_column(sa.Column("feedback_requested_at", TZ, nullable=True))
        batch.add_column(sa.Column("feedback_requested_via", sa.String(20), nullable=True))
    with op.batch_alter_table("rectifications") as batch:
        batch.add_column(sa.Column("feedback_sent_at", TZ, nullable=True))
        batch.add_column(sa.Column("feedback_answer", sa.String(20), nullable=True))
        batch.add_column(sa.Column("feedback_answered_at", TZ, nullable=True))
        batch.add_column(sa.Column("feedback_answer_via", sa.String(20), nullable=True))
    op.create_table(
        "pending_decisions",
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("complaint_id", sa.Uuid(), nullable=False),
        sa.Column("reference", sa.String(32), nullable=False),
        sa.Column("plan_version", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(10), nullable=False),
        sa.Column("via", sa.String(20), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("decided_at", TZ, nullable=False),
        sa.Column("kept_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="pk_pending_decisions"),
    )
    op.create_index("ix_pending_decisions_complaint_id", "pending_decisions", ["complaint_id"])


def downgrade() -> None:
    op.drop_index("ix_pending_decisions_complaint_id", table_name="pending_decisions")
    op.drop_table("pending_decisions")
    with op.batch_alter_table("rectifications") as batch:
        for name in (
            "feedback_answer_via",
            "feedback_answered_at",
            "feedback_answer",
            "feedback_sent_at",
        ):
            batch.drop_column(name)
    with op.batch_alter_table("complaint_facts") as batch:
        batch.drop_column("feedback_requested_via")
        batch.drop_column("feedback_requested_at")
