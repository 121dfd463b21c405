"""Durable dead letters: what a consumer gave up on, for the operator to re-drive.

Revision ID: 0701
Revises: 0102
Create Date: 2026-12-03
"""

from alembic import op

from tousu_common.messaging.tables import create_dead_letter_table_v2, drop_dead_letter_table_v2

revision = "0701"
down_revision = "0102"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_dead_letter_table_v2(op)


def downgrade() -> None:
    drop_dead_letter_table_v2(op)
