"""A person's telephone extension (for the screen pop of incoming calls).

Revision ID: 0002_extension
Revises: 0001
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_extension"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("preferences") as batch:
        batch.add_column(sa.Column("extension", sa.String(20), nullable=True))
        batch.create_index("ix_preferences_extension", ["extension"])


def downgrade() -> None:
    with op.batch_alter_table("preferences") as batch:
        batch.drop_index("ix_preferences_extension")
        batch.drop_column("extension")
