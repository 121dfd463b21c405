"""Company calendar versions; each SLA clock records the calendar version its
deadline was computed with, and the runs a reopening finished.

Revision ID: 1301_calendar
Revises: 0701
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "1301_calendar"
down_revision = "0701"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calendar_versions",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("note", sa.String(500), nullable=False),
        sa.PrimaryKeyConstraint("version"),
    )
    with op.batch_alter_table("sla_clocks") as batch:
        batch.add_column(
            sa.Column("calendar_version", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("previous_runs", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("sla_clocks") as batch:
        batch.drop_column("previous_runs")
        batch.drop_column("calendar_version")
    op.drop_table("calendar_versions")
