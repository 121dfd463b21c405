"""The customer's wish for the rectification feedback, and their answers to it.

Revision ID: 1316_promise_feedback
Revises: 0701
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "1316_promise_feedback"
down_revision = "0701"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "feedback_requests",
        sa.Column("complaint_id", sa.Uuid(), nullable=False),
        sa.Column("requested_at", TZ, nullable=False),
        sa.Column("via", sa.String(20), nullable=False),
        sa.Column("at_filing", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("complaint_id", name="pk_feedback_requests"),
    )
    op.create_table(
        "feedback_answers",
        sa.Column("complaint_id", sa.Uuid(), nullable=False),
        sa.Column("rectification_id", sa.Uuid(), nullable=False),
        sa.Column("answer", sa.String(20), nullable=False),
        sa.Column("answered_at", TZ, nullable=False),
        sa.Column("via", sa.String(20), nullable=False),
        sa.PrimaryKeyConstraint("complaint_id", "rectification_id", name="pk_feedback_answers"),
    )


def downgrade() -> None:
    op.drop_table("feedback_answers")
    op.drop_table("feedback_requests")
