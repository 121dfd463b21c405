"""Transactional outbox: events are rows written with the state change they
describe, and a relay publishes them to Kafka afterwards.

A crash between commit and publish loses nothing (the row is still pending);
a crash between publish and marking the row publishes it twice, which the
consumers' inbox absorbs. Published rows are kept for a retention window so
that events a broker forgot can be published again: the relay notices a
broker that no longer knows this service (its marker topic is gone) and
republishes every retained event by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from aiokafka import AIOKafkaProducer
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from tousu_common import metrics
from tousu_common.db import Database, is_sqlite
from tousu_common.events import TOPICS, Event
from tousu_common.messaging.kafka import close_client, ensure_topics, make_producer
from tousu_common.messaging.tables import outbox
from tousu_common.privacy import mask_payload
from tousu_common.settings import ServiceSettings
from tousu_common.tracing import current_traceparent

log = logging.getLogger(__name__)

_ADDED = "tousu_outbox_added"
#: Rows staged in a session, written when it commits.
_STAGED = "tousu_outbox_staged"
#: Built once: every staged event runs it, and building it cost more than running it.
_STAGE = sa.insert(outbox)
#: The relay's statements, built once too (~80 µs a round to build, issue 17).
_PENDING = (
    sa.select(
        outbox.c.id,
        outbox.c.event_type,
        outbox.c.topic,
        outbox.c.key,
        outbox.c.headers,
        outbox.c.payload,
    )
    .where(outbox.c.status == "pending")
    .order_by(outbox.c.id)
    .limit(sa.bindparam("batch_size", type_=sa.Integer, literal_execute=True))
)
_PENDING_LOCKED = _PENDING.with_for_update(skip_locked=True)
_MARK_PUBLISHED = (
    sa.update(outbox)
    .where(outbox.c.id.in_(sa.bindparam("ids", expanding=True)))
    .values(status="published", published_at=sa.bindparam("now"))
)
PURGE_EVERY_S = 60.0


async def add_event(session: AsyncSession, event: Event) -> None:
    """Stage ``event`` for publishing in the caller's transaction.

    The current trace context goes with it as the CloudEvents distributed
    tracing extension (``ce_traceparent``), here once rather than in every
    handler, so consumers continue the trace of whatever caused the event.

    Free text leaves masked (:func:`tousu_common.privacy.mask_payload`): this
    is the one door from every service to the topics, so masking here covers
    every producer, while the caller's own state keeps what people wrote.

    The row is written when the transaction commits, with every other event it
    staged, in one executemany INSERT in staging order (:func:`_write_staged`): a
    group commit of fifty events was fifty INSERTs, each a round trip on PostgreSQL.
    """
    event = replace(event, data=mask_payload(event.data))
    headers = [[name, value.decode()] for name, value in event.headers()]
    if "traceparent" not in event.extensions:
        traceparent = current_traceparent()
        if traceparent is not None:
            headers.append(["ce_traceparent", traceparent])
    session.info.setdefault(_STAGED, []).append(
        {
            "event_id": event.id,
            "event_type": event.type,
            "topic": event.topic,
            "key": event.key.decode(),
            "headers": headers,
            "payload": event.value().decode(),
            "created_at": datetime.now(UTC),
        }
    )
    session.info[_ADDED] = True
    log.info(
        "event staged",
        extra={
            "event_id": event.id,
            "event_type": event.type,
            "complaint_id": str(event.complaint_id),
        },
    )


@sa.event.listens_for(Session, "before_commit")
def _write_staged(session: Session) -> None:
    """Write the events :func:`add_event` staged in this transaction, just before it
    commits (SQLAlchemy runs this inside the async session's commit, where a
    statement may be executed). A transaction that rolls back drops them with it."""
    staged = session.info.pop(_STAGED, None)
    if staged:
        session.execute(_STAGE, staged)


@sa.event.listens_for(Session, "after_rollback")
def _drop_staged(session: Session) -> None:
    session.info.pop(_STAGED, None)


@dataclass(frozen=True)
class OutboxBacklog:
    pending: int
    oldest_age_s: float | None


async def outbox_backlog(db: Database) -> OutboxBacklog:
    """Pending rows and the age of the oldest, in one query (readiness, /metrics)."""
    async with db.sessions() as session:
        result = await session.execute(
            sa.select(sa.func.count(), sa.func.min(outbox.c.created_at)).where(
                outbox.c.status == "pending"
            )
        )
        count, oldest = result.one()
    if oldest is None:
        return OutboxBacklog(count, None)
    if oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return OutboxBacklog(count, (datetime.now(UTC) - oldest).total_seconds())


class OutboxRelay:
    """Publishes pending outbox rows in commit order, then marks them published.

    On PostgreSQL a batch is read, sent and marked in one transaction that
    first takes a transaction-scoped advisory lock for this service, so the
    relays of several replicas publish one after another, never side by side:
    two relays sending neighbouring batches at once would let a later event of
    a complaint overtake an earlier one on the broker. The rows are also
    claimed ``FOR UPDATE``, so a row is never published twice by two relays. On
    SQLite (one process per database file) the send happens outside the
    transaction, so a slow or absent broker never holds the write lock; while it
    runs, the relay marks a batch published in the transaction that reads the next
    one (or after ``outbox_mark_delay_s`` with nothing more to send), so a round
    costs one transaction, not two.
    """

    def __init__(
        self,
        db: Database,
        settings: ServiceSettings,
        *,
        producer_factory: Callable[[ServiceSettings], AIOKafkaProducer] = make_producer,
    ) -> None:
        self._db = db
        self._settings = settings
        self._producer_factory = producer_factory
        self._producer: AIOKafkaProducer | None = None
        self._wake = asyncio.Event()
        self._lock_rows = not is_sqlite(db.url)
        self._last_purge = 0.0
        self._last_topic_check = 0.0
        self.marker_topic = f"tousu.relay-marker.{settings.service_name}"
        # One lock per service (services may share a PostgreSQL cluster or database).
        self._lock_key = zlib.crc32(f"tousu.outbox.{settings.service_name}".encode())
        self.connected = False
        #: Sent and acknowledged, not yet marked published (SQLite, while running).
        self._unmarked: list[int] = []
        self._unmarked_since = 0.0
        db.on_commit(self._wake_if_added)

    def _wake_if_added(self, session: AsyncSession) -> None:
        if session.info.pop(_ADDED, False):
            self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Publish forever; reconnect with backoff whenever the broker fails."""
        backoff = self._settings.consumer_backoff_base_s or 0.1
        while True:
            try:
                await self._connect()
                backoff = self._settings.consumer_backoff_base_s or 0.1
                while True:
                    published = await self._publish_round(defer_mark=True)
                    await self._purge_if_due()
                    await self._check_topics_if_due()
                    if published < self._settings.outbox_batch_size:
                        await self._idle()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker down, DB hiccup: retry, never die
                log.warning(
                    "outbox relay failed, retrying",
                    extra={"error": repr(exc), "retry_in_s": backoff},
                )
                await self._disconnect()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._settings.consumer_backoff_max_s)

    async def close(self) -> None:
        with contextlib.suppress(Exception):  # unmarked rows are only published again
            await self._mark_unmarked()
        await self._disconnect()

    async def check_broker(self) -> None:
        """Raise unless the broker answers a metadata request right now."""
        if self._producer is None:
            raise ConnectionError("relay is not connected to the broker")
        await self._producer.client.fetch_all_metadata()

    async def publish_batch(self) -> int:
        """Publish up to one batch of pending rows and mark them; return how many were
        published."""
        return await self._publish_round(defer_mark=False)

    async def _publish_round(self, *, defer_mark: bool) -> int:
        producer = await self._connect()
        if self._lock_rows:
            async with self._db.transaction() as session:
                # Waits while another replica's relay is mid-batch; then reads what
                # that one left, so every row goes out in id order across replicas.
                await session.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": self._lock_key}
                )
                rows = await self._pending(session, lock=True)
                outcomes = await self._send(producer, rows)
                await self._record(session, outcomes)
        else:
            async with self._transaction_marking_unmarked() as session:
                rows = await self._pending(session, lock=False)
            if not rows:
                return 0
            outcomes = await self._send(producer, rows)
            if defer_mark and all(error is None for _, error in outcomes):
                self._unmarked = [row_id for row_id, _ in outcomes]
                self._unmarked_since = time.monotonic()
            else:
                async with self._db.transaction() as session:
                    await self._record(session, outcomes)
        self._count_published(rows, outcomes)
        failures = [error for _, error in outcomes if error is not None]
        if failures:
            raise RuntimeError(
                f"{len(failures)} of {len(rows)} events not published: {failures[0]!r}"
            )
        return len(rows)

    async def backlog(self) -> OutboxBacklog:
        return await outbox_backlog(self._db)

    @contextlib.asynccontextmanager
    async def _transaction_marking_unmarked(self) -> AsyncIterator[AsyncSession]:
        """A transaction that first marks the last round's rows published; they
        count as marked once it commits."""
        unmarked = self._unmarked
        async with self._db.transaction() as session:
            if unmarked:
                await session.execute(_MARK_PUBLISHED, {"ids": unmarked, "now": datetime.now(UTC)})
            yield session
        if self._unmarked is unmarked:
            self._unmarked = []

    async def _mark_unmarked(self) -> None:
        if self._unmarked:
            async with self._transaction_marking_unmarked():
                pass

    def _count_published(
        self, rows: list[Any], outcomes: list[tuple[int, BaseException | None]]
    ) -> None:
        """Count what the broker acknowledged."""
        service = self._settings.service_name
        for row, (_, error) in zip(rows, outcomes, strict=True):
            if error is None:
                metrics.child(metrics.EVENTS_PRODUCED, service, row.event_type).inc()

    async def republish_since(self, since: datetime) -> int:
        """Mark rows published since ``since`` pending again (after a broker lost them)."""
        # The last round's rows marked first, so the update makes them pending too.
        async with self._transaction_marking_unmarked() as session:
            result = await session.execute(
                sa.update(outbox)
                .where(outbox.c.status == "published", outbox.c.published_at >= since)
                .values(status="pending", published_at=None)
            )
            session.info[_ADDED] = True
        return result.rowcount or 0

    async def _check_topics_if_due(self) -> None:
        """Notice a broker that forgot everything while the producer stayed connected
        (a producer reconnects to a restarted broker by itself, so nothing fails).

        The check is a metadata request on the producer's own connection; only when
        a topic is missing does it start an admin client to create it (starting
        one every check was most of an idle service's broker traffic)."""
        if time.monotonic() - self._last_topic_check < self._settings.outbox_topic_check_s:
            return
        self._last_topic_check = time.monotonic()
        if self._producer is not None:
            known = (await self._producer.client.fetch_all_metadata()).topics()
            if self.marker_topic in known and known.issuperset(TOPICS):
                return
        await self._ensure_topics()

    async def _ensure_topics(self) -> None:
        """Create missing topics; if this service's marker topic was missing, the broker
        has not seen (or has forgotten) what we published: publish it all again.

        Only this service's relays create its marker, so no other service can
        hide a reset by re-creating the shared topics first. On a first start
        there is nothing published to repeat; on Apache Kafka the marker
        persists. Rows are marked pending *before* the next batch is read, so
        retained events go out ahead of newer ones, in their original order.
        """
        self._last_topic_check = time.monotonic()
        if self.marker_topic in await ensure_topics(self._settings, [*TOPICS, self.marker_topic]):
            count = await self.republish_since(datetime.min.replace(tzinfo=UTC))
            if count:
                self._wake.set()  # publish them now, not at the next poll
                log.warning(
                    "broker does not know our events; republishing what is retained",
                    extra={"events": count, "marker": self.marker_topic},
                )

    async def _connect(self) -> AIOKafkaProducer:
        if self._producer is None:
            await self._ensure_topics()
            producer = self._producer_factory(self._settings)
            await producer.start()
            self._producer = producer
            self.connected = True
        return self._producer

    async def _disconnect(self) -> None:
        producer, self._producer = self._producer, None
        self.connected = False
        if producer is not None:
            await close_client(producer, "outbox relay producer")

    async def _idle(self) -> None:
        """Wait for a commit's wake or the poll interval, checking the topics on time
        meanwhile.

        A commit in this process wakes the relay, so the poll only finds rows that
        other processes left (a replica that died between its commit and its
        publish, a command-line tool): it can be seconds apart. Each poll was a
        transaction and a SELECT, a quarter of an idle service's CPU at 0.5 s
        (issue 17). The topic check keeps its own, shorter cadence without a poll.
        """
        settings = self._settings
        poll_at = time.monotonic() + settings.outbox_poll_interval_s
        while not self._wake.is_set():
            now = time.monotonic()
            check_at = self._last_topic_check + settings.outbox_topic_check_s
            if now >= poll_at:
                break
            mark_at = self._unmarked_since + settings.outbox_mark_delay_s
            if self._unmarked and now >= mark_at:
                await self._mark_unmarked()
                continue
            wait_until = min(poll_at, check_at, mark_at if self._unmarked else poll_at)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(wait_until - now, 0))
            if not self._wake.is_set():
                await self._check_topics_if_due()
        if self._wake.is_set() and settings.outbox_linger_s:
            await asyncio.sleep(settings.outbox_linger_s)
        self._wake.clear()

    async def _pending(self, session: AsyncSession, *, lock: bool) -> list[Any]:
        query = _PENDING_LOCKED if lock else _PENDING
        result = await session.execute(query, {"batch_size": self._settings.outbox_batch_size})
        return list(result.all())

    async def _send(
        self, producer: AIOKafkaProducer, rows: list[Any]
    ) -> list[tuple[int, BaseException | None]]:
        # send() only enqueues; awaiting the futures together lets the
        # producer batch the whole lot into a few requests.
        futures = []
        for row in rows:
            headers = [(name, value.encode()) for name, value in row.headers]
            futures.append(
                await producer.send(
                    row.topic, row.payload.encode(), key=row.key.encode(), headers=headers
                )
            )
        results = await asyncio.gather(*futures, return_exceptions=True)
        return [
            (row.id, result if isinstance(result, BaseException) else None)
            for row, result in zip(rows, results, strict=True)
        ]

    async def _record(
        self, session: AsyncSession, outcomes: list[tuple[int, BaseException | None]]
    ) -> None:
        now = datetime.now(UTC)
        published = [row_id for row_id, error in outcomes if error is None]
        if published:
            await session.execute(_MARK_PUBLISHED, {"ids": published, "now": now})
        for row_id, error in outcomes:
            if error is not None:
                await session.execute(
                    sa.update(outbox)
                    .where(outbox.c.id == row_id)
                    .values(attempts=outbox.c.attempts + 1, last_error=repr(error)[:2000])
                )

    async def _purge_if_due(self) -> None:
        if time.monotonic() - self._last_purge < PURGE_EVERY_S:
            return
        self._last_purge = time.monotonic()
        cutoff = datetime.now(UTC) - timedelta(hours=self._settings.outbox_retention_hours)
        async with self._db.transaction() as session:
            await session.execute(
                sa.delete(outbox).where(
                    outbox.c.status == "published", outbox.c.published_at < cutoff
                )
            )
