"""The outbox and inbox tables every service has in its own database.

They live in their own metadata; a service's Alembic env targets both its
own metadata and this one, and its first migration calls
:func:`create_messaging_tables_v1`.
"""

from __future__ import annotations

import sqlalchemy as sa

from tousu_common.db import BigIntPK, new_metadata

messaging_metadata = new_metadata()

outbox = sa.Table(
    "outbox",
    messaging_metadata,
    sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(64), nullable=False, unique=True),
    sa.Column("event_type", sa.String(100), nullable=False),
    sa.Column("topic", sa.String(200), nullable=False),
    sa.Column("key", sa.String(200), nullable=False),
    sa.Column("headers", sa.JSON, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    # pending -> published; a row that keeps failing stays pending with attempts
    # and last_error telling why, so nothing is ever silently dropped.
    sa.Column("status", sa.String(20), nullable=False, server_default="pending"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
    sa.Index("ix_outbox_status_id", "status", "id"),
)

inbox = sa.Table(
    "inbox",
    messaging_metadata,
    sa.Column("event_id", sa.String(64), primary_key=True),
    sa.Column("consumer", sa.String(100), primary_key=True),
    sa.Column("event_type", sa.String(100), nullable=False),
    sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
)


def create_messaging_tables_v1(op: object) -> None:
    """Create outbox and inbox as of version 1 (called from a service's first migration)."""
    op.create_table(  # type: ignore[attr-defined]
        "outbox",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("headers", sa.JSON, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("event_id", name="uq_outbox_event_id"),
    )
    op.create_index("ix_outbox_status_id", "outbox", ["status", "id"])  # type: ignore[attr-defined]
    op.create_table(  # type: ignore[attr-defined]
        "inbox",
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("consumer", sa.String(100), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", "consumer", name="pk_inbox"),
    )


def drop_messaging_tables_v1(op: object) -> None:
    op.drop_table("inbox")  # type: ignore[attr-defined]
    op.drop_index("ix_outbox_status_id", table_name="outbox")  # type: ignore[attr-defined]
    op.drop_table("outbox")  # type: ignore[attr-defined]
