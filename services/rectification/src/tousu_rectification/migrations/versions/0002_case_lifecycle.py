"""Case lifecycle: resolution plans and actions, waits, callback, closing,
rectification counters (for issue 5B's handlers), complaint facts from intake.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from tousu_common.db import BigIntPK

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def case_columns() -> list[sa.Column]:
    return [
        sa.Column("customer_tier", sa.String(20), nullable=False, server_default="general"),
        sa.Column("channel", sa.String(20), nullable=True),
        sa.Column("first_response_due", TZ, nullable=True),
        sa.Column("resolution_plan_due", TZ, nullable=True),
        sa.Column("first_response_at", TZ, nullable=True),
        sa.Column("resolution_proposed_at", TZ, nullable=True),
        sa.Column("resolution_accepted_at", TZ, nullable=True),
        sa.Column("implemented_at", TZ, nullable=True),
        sa.Column("callback_at", TZ, nullable=True),
        sa.Column("satisfaction_score", sa.Integer(), nullable=True),
        sa.Column("closed_at", TZ, nullable=True),
        sa.Column("plan_version", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("waiting_since", TZ, nullable=True),
        sa.Column("wait_reason", sa.Text(), nullable=True),
        sa.Column("open_rectifications", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("rectifications_total", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("rectifications_waived", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("reopen_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_due_at", TZ, nullable=True),
        sa.Column("next_due_what", sa.String(40), nullable=True),
    ]


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        for column in case_columns():
            batch.add_column(column)
        batch.create_index("ix_cases_next_due_at", ["next_due_at"])
    with op.batch_alter_table("case_history") as batch:
        batch.add_column(sa.Column("action", sa.String(60), nullable=True))
        batch.add_column(sa.Column("from_status", sa.String(40), nullable=True))
        batch.add_column(sa.Column("detail", sa.Text(), nullable=True))
    op.execute("UPDATE case_history SET action = 'case.opened' WHERE action IS NULL")

    op.create_table(
        "resolution_plans",
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("plan_version", sa.Integer(), nullable=False),
        sa.Column("investigation", sa.Text(), nullable=False),
        sa.Column("proposed_at", TZ, nullable=False),
        sa.Column("proposed_by", sa.String(100), nullable=False),
        sa.Column("decision", sa.String(10), nullable=True),
        sa.Column("decided_at", TZ, nullable=True),
        sa.Column("decided_by", sa.String(100), nullable=True),
        sa.Column("decision_via", sa.String(20), nullable=True),
        sa.Column("decision_comment", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("case_id", "plan_version", name="pk_resolution_plans"),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.case_id"], name="fk_resolution_plans_case_id_cases"
        ),
    )
    op.create_table(
        "resolution_actions",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("plan_version", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("amount", sa.String(20), nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("done_at", TZ, nullable=True),
        sa.Column("done_by", sa.String(100), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_resolution_actions"),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.case_id"], name="fk_resolution_actions_case_id_cases"
        ),
        sa.UniqueConstraint(
            "case_id", "plan_version", "position", name="uq_resolution_actions_case_id"
        ),
    )
    op.create_table(
        "complaint_facts",
        sa.Column("complaint_id", sa.Uuid(), nullable=False),
        sa.Column("reference", sa.String(32), nullable=False),
        sa.Column("received_at", TZ, nullable=True),
        sa.Column("channel", sa.String(20), nullable=True),
        sa.Column("customer_tier", sa.String(20), nullable=True),
        sa.Column("feedback_requested", sa.Boolean(), nullable=False),
        sa.Column("withdrawn_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("complaint_id", name="pk_complaint_facts"),
    )


def downgrade() -> None:
    op.drop_table("complaint_facts")
    op.drop_table("resolution_actions")
    op.drop_table("resolution_plans")
    with op.batch_alter_table("case_history") as batch:
        batch.drop_column("detail")
        batch.drop_column("from_status")
        batch.drop_column("action")
    with op.batch_alter_table("cases") as batch:
        batch.drop_index("ix_cases_next_due_at")
        for column in reversed(case_columns()):
            batch.drop_column(column.name)
