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


# A record a consumer gave up on, kept in the consumer's own database because
# the local broker (and a DLQ topic's retention) is no durable record. One row
# per record and consumer: ``dedupe_key`` is ``event:<ce_id>`` for a decodable
# event, else ``record:<sha256 of coordinates, key, headers and value>``, so a
# redelivery after a crash finds its row, while a different record that reuses
# the same offset (a memory-only broker restarted from zero) gets its own.
dead_letter = sa.Table(
    "dead_letter",
    messaging_metadata,
    sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
    sa.Column("consumer", sa.String(100), nullable=False),
    sa.Column("dedupe_key", sa.String(100), nullable=False),
    sa.Column("source_topic", sa.String(255), nullable=False),
    sa.Column("source_partition", sa.Integer, nullable=False),
    sa.Column("source_offset", sa.BigInteger, nullable=False),
    sa.Column("key", sa.Text, nullable=True),
    # [{"name", "value"} (+ "encoding": "base64" for a value that is not UTF-8)]
    sa.Column("headers", sa.JSON, nullable=False),
    # The value as UTF-8 text, or base64 when it is not; at most
    # DEAD_LETTER_VALUE_MAX bytes of it (value_truncated says when cut).
    sa.Column("value", sa.Text, nullable=True),
    sa.Column("value_encoding", sa.String(10), nullable=False, server_default="utf-8"),
    sa.Column("value_size", sa.Integer, nullable=False, server_default="0"),
    sa.Column("value_truncated", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("event_id", sa.String(64), nullable=True),
    sa.Column("event_type", sa.String(100), nullable=True),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
    # dead -> redriven (applied after a fix) | discarded (given up, with a reason)
    sa.Column("status", sa.String(20), nullable=False, server_default="dead"),
    sa.Column("redriven_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("redriven_by", sa.String(200), nullable=True),
    sa.Column("resolution", sa.Text, nullable=True),
    sa.UniqueConstraint("consumer", "dedupe_key", name="uq_dead_letter_consumer"),
    sa.Index("ix_dead_letter_consumer_status", "consumer", "status"),
)


def create_dead_letter_table_v2(op: object) -> None:
    """Create dead_letter (called from each service's issue-7 migration)."""
    op.create_table(  # type: ignore[attr-defined]
        "dead_letter",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("consumer", sa.String(100), nullable=False),
        sa.Column("dedupe_key", sa.String(100), nullable=False),
        sa.Column("source_topic", sa.String(255), nullable=False),
        sa.Column("source_partition", sa.Integer, nullable=False),
        sa.Column("source_offset", sa.BigInteger, nullable=False),
        sa.Column("key", sa.Text, nullable=True),
        sa.Column("headers", sa.JSON, nullable=False),
        sa.Column("value", sa.Text, nullable=True),
        sa.Column("value_encoding", sa.String(10), nullable=False, server_default="utf-8"),
        sa.Column("value_size", sa.Integer, nullable=False, server_default="0"),
        sa.Column("value_truncated", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("event_id", sa.String(64), nullable=True),
        sa.Column("event_type", sa.String(100), nullable=True),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, server_default="dead"),
        sa.Column("redriven_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("redriven_by", sa.String(200), nullable=True),
        sa.Column("resolution", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_dead_letter"),
        sa.UniqueConstraint("consumer", "dedupe_key", name="uq_dead_letter_consumer"),
    )
    op.create_index(  # type: ignore[attr-defined]
        "ix_dead_letter_consumer_status", "dead_letter", ["consumer", "status"]
    )


def drop_dead_letter_table_v2(op: object) -> None:
    op.drop_index("ix_dead_letter_consumer_status", table_name="dead_letter")  # type: ignore[attr-defined]
    op.drop_table("dead_letter")  # type: ignore[attr-defined]
