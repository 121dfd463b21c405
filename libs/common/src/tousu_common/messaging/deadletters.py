"""Durable dead letters: recorded by the inbox consumer, re-driven or discarded by an operator.

The DLQ topic is for other systems to read; this table is the record an
operator works from, because the local broker forgets everything on restart.
A re-drive decodes the stored record again and applies it through the same
consumer's handler and inbox (:meth:`InboxConsumer.reapply`), so a fixed
handler applies it exactly once, however often someone presses the button.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from tousu_common.db import Database
from tousu_common.errors import Conflict, NotFound
from tousu_common.events import DecodeError, Event
from tousu_common.messaging.tables import dead_letter

if TYPE_CHECKING:
    from aiokafka import ConsumerRecord

    from tousu_common.messaging.inbox import InboxConsumer

#: A poison record can be huge; keep at most this much of its value.
DEAD_LETTER_VALUE_MAX = 1_048_576
STATUSES = ("dead", "redriven", "discarded")


class RedriveFailed(Conflict):
    """The handler still fails: the row stays ``dead`` with the new error."""

    code = "redrive_failed"


@dataclass(frozen=True)
class StoredRecord:
    """A dead letter rebuilt as a record :meth:`Event.from_kafka` can decode."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


def _text_or_base64(raw: bytes) -> tuple[str, str]:
    """UTF-8 text when it is (and has no NUL, which PostgreSQL text refuses), else base64."""
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode(), "base64"
    if "\x00" in text:
        return base64.b64encode(raw).decode(), "base64"
    return text, "utf-8"


def _from_text(text: str, encoding: str) -> bytes:
    return base64.b64decode(text) if encoding == "base64" else text.encode()


def _decoded_event(record: Any) -> Event | None:
    try:
        return Event.from_kafka(record)
    except DecodeError:
        return None


def _clean(text: str) -> str:
    return text.replace("\x00", "\\x00")


def dead_letter_row(
    consumer: str, record: ConsumerRecord, error: str, *, attempts: int
) -> dict[str, Any]:
    """The row for one record a consumer gave up on (see ``tables.dead_letter``)."""
    headers = []
    for name, raw in record.headers or ():
        value, encoding = _text_or_base64(bytes(raw or b""))
        header = {"name": name, "value": value}
        if encoding != "utf-8":
            header["encoding"] = encoding
        headers.append(header)
    raw_value = record.value
    stored = encoding = None
    if raw_value is not None:
        stored, encoding = _text_or_base64(raw_value[:DEAD_LETTER_VALUE_MAX])
    event = _decoded_event(record)
    if event is not None:
        dedupe_key = f"event:{event.id}"
    else:
        digest = hashlib.sha256(
            json.dumps(
                [record.topic, record.partition, record.offset, headers],
                ensure_ascii=False,
            ).encode()
        )
        digest.update(record.key or b"")
        digest.update(raw_value or b"")
        dedupe_key = f"record:{digest.hexdigest()}"
    return {
        "consumer": consumer,
        "dedupe_key": dedupe_key,
        "source_topic": record.topic,
        "source_partition": record.partition,
        "source_offset": record.offset,
        "key": _clean(record.key.decode(errors="replace")) if record.key is not None else None,
        "headers": headers,
        "value": stored,
        "value_encoding": encoding or "utf-8",
        "value_size": len(raw_value or b""),
        "value_truncated": raw_value is not None and len(raw_value) > DEAD_LETTER_VALUE_MAX,
        "event_id": event.id if event else None,
        "event_type": event.type if event else None,
        "error": _clean(error),
        "attempts": attempts,
        "failed_at": datetime.now(UTC),
        "status": "dead",
    }


async def record_dead_letter(db: Database, row: dict[str, Any]) -> bool:
    """Insert the row in its own transaction; False if this record was already recorded
    (a redelivery after a crash). Any other failure raises: the offset must not commit."""
    where = sa.and_(
        dead_letter.c.consumer == row["consumer"], dead_letter.c.dedupe_key == row["dedupe_key"]
    )
    try:
        async with db.transaction() as session:
            if await session.scalar(sa.select(dead_letter.c.id).where(where)) is not None:
                return False
            await session.execute(sa.insert(dead_letter).values(**row))
    except IntegrityError:
        async with db.sessions() as session:
            if await session.scalar(sa.select(dead_letter.c.id).where(where)) is not None:
                return False
        raise
    return True


def stored_record(row: Any) -> StoredRecord:
    """Rebuild the original record from a row (refused when its value was cut)."""
    if row.value_truncated:
        raise Conflict(
            f"dead letter {row.id} cannot be re-driven: its value ({row.value_size} bytes) "
            f"was truncated to {DEAD_LETTER_VALUE_MAX} bytes when stored; discard it"
        )
    headers = [
        (header["name"], _from_text(header["value"], header.get("encoding", "utf-8")))
        for header in row.headers
    ]
    return StoredRecord(
        topic=row.source_topic,
        key=row.key.encode() if row.key is not None else None,
        value=_from_text(row.value, row.value_encoding) if row.value is not None else None,
        headers=headers,
    )


async def load(db: Database, dead_letter_id: int) -> Any:
    async with db.sessions() as session:
        row = (
            await session.execute(sa.select(dead_letter).where(dead_letter.c.id == dead_letter_id))
        ).one_or_none()
    if row is None:
        raise NotFound(f"no dead letter {dead_letter_id}")
    return row


def must_be_dead(row: Any) -> None:
    if row.status != "dead":
        by = f" by {row.redriven_by}" if row.redriven_by else ""
        raise Conflict(f"dead letter {row.id} is already {row.status}{by}")


async def _set(db: Database, dead_letter_id: int, **values: Any) -> bool:
    """Update a row still ``dead``; False if someone else resolved it meanwhile."""
    async with db.transaction() as session:
        result = await session.execute(
            sa.update(dead_letter)
            .where(dead_letter.c.id == dead_letter_id, dead_letter.c.status == "dead")
            .values(**values)
        )
    return bool(result.rowcount)


async def redrive(
    db: Database, consumers: list[InboxConsumer], dead_letter_id: int, *, by: str
) -> dict[str, Any]:
    """Apply a dead letter again through its consumer's handler and inbox.

    Returns ``{"applied": bool}`` (False: the inbox already had the event, so
    this was a no-op). Raises Conflict when it is not ``dead``, cannot be
    decoded or has no handler, and :class:`RedriveFailed` when the handler
    fails again (the row stays ``dead``, attempts + 1, with the new error).
    """
    row = await load(db, dead_letter_id)
    must_be_dead(row)
    consumer = next((c for c in consumers if c.group_id == row.consumer), None)
    if consumer is None:
        raise Conflict(
            f"dead letter {row.id} belongs to consumer {row.consumer!r}, "
            "which this service no longer runs"
        )
    try:
        event = Event.from_kafka(stored_record(row))
    except DecodeError as exc:
        raise Conflict(
            f"dead letter {row.id} cannot be re-driven: the record is undecodable ({exc}); "
            "discard it with a reason"
        ) from exc
    if event.type not in consumer.handlers:
        raise Conflict(f"consumer {row.consumer!r} has no handler for {event.type!r}")
    try:
        applied = await consumer.reapply(event)
    except Exception as exc:
        error = _clean(repr(exc))
        await _set(db, row.id, attempts=row.attempts + 1, error=error)
        raise RedriveFailed(f"dead letter {row.id}: the handler failed again: {error}") from exc
    note = "re-driven" if applied else "re-driven: the inbox already had this event (no-op)"
    if not await _set(
        db,
        row.id,
        status="redriven",
        redriven_at=datetime.now(UTC),
        redriven_by=by,
        resolution=note,
        event_id=event.id,
        event_type=event.type,
        attempts=row.attempts + 1,
    ):
        raise Conflict(f"dead letter {row.id} was resolved by someone else meanwhile")
    return {"applied": applied}


async def discard(db: Database, dead_letter_id: int, *, by: str, reason: str) -> None:
    """Give up on a dead letter for good, saying why (kept, never deleted)."""
    row = await load(db, dead_letter_id)
    must_be_dead(row)
    if not await _set(
        db,
        row.id,
        status="discarded",
        redriven_at=datetime.now(UTC),
        redriven_by=by,
        resolution=reason,
    ):
        raise Conflict(f"dead letter {row.id} was resolved by someone else meanwhile")


async def counts(db: Database) -> dict[str, dict[str, int]]:
    """Dead letters by consumer and status."""
    async with db.sessions() as session:
        result = await session.execute(
            sa.select(dead_letter.c.consumer, dead_letter.c.status, sa.func.count()).group_by(
                dead_letter.c.consumer, dead_letter.c.status
            )
        )
        by_consumer: dict[str, dict[str, int]] = {}
        for consumer, status, count in result.all():
            by_consumer.setdefault(consumer, {})[status] = int(count)
    return by_consumer
