"""Sessions, sign-ins in flight, preferences; outbox, inbox and dead letters.

The console publishes nothing today, but it runs the same runtime as every
service (relay, consumers, operator view), which reads these tables.

Revision ID: 0001
Revises:
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from tousu_common.messaging.tables import (
    create_dead_letter_table_v2,
    create_messaging_tables_v1,
    drop_dead_letter_table_v2,
    drop_messaging_tables_v1,
)

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("roles", sa.String(500), nullable=False),
        sa.Column("department", sa.String(50), nullable=True),
        sa.Column("access_token", sa.Text(), nullable=False),
        sa.Column("access_expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refresh_token", sa.Text(), nullable=True),
        sa.Column("id_token", sa.Text(), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("language", sa.String(5), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_sessions"),
    )
    op.create_index("ix_sessions_last_seen_at", "sessions", ["last_seen_at"])
    op.create_table(
        "preferences",
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("language", sa.String(5), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("subject", name="pk_preferences"),
    )
    op.create_table(
        "sign_ins",
        sa.Column("state", sa.String(128), nullable=False),
        sa.Column("nonce", sa.String(128), nullable=False),
        sa.Column("code_verifier", sa.String(200), nullable=False),
        sa.Column("redirect_uri", sa.String(500), nullable=False),
        sa.Column("next_path", sa.String(500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("state", name="pk_sign_ins"),
    )
    op.create_index("ix_sign_ins_created_at", "sign_ins", ["created_at"])
    create_messaging_tables_v1(op)
    create_dead_letter_table_v2(op)


def downgrade() -> None:
    drop_dead_letter_table_v2(op)
    drop_messaging_tables_v1(op)
    op.drop_table("sign_ins")
    op.drop_table("preferences")
    op.drop_table("sessions")
