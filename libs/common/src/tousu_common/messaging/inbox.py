"""Idempotent consumer: each event is applied at most once per consumer.

For every record: decode it (undecodable → dead-letter topic at once), skip it
if this consumer has no handler for its type, otherwise run the handler and
insert ``(event_id, consumer)`` into the inbox *in the same transaction*. A
redelivered event finds its inbox row and is skipped. Offsets are committed
only after the database commits; a handler that keeps failing is retried with
backoff and then dead-lettered with the error in the headers, so one poison
message never stops the partition.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from tousu_common import metrics
from tousu_common.db import Database
from tousu_common.events import CATALOG, DecodeError, Event
from tousu_common.logs import event_context
from tousu_common.messaging.deadletters import dead_letter_row, record_dead_letter
from tousu_common.messaging.kafka import (
    FetchPacing,
    close_client,
    ensure_topics,
    make_consumer,
    make_producer,
)
from tousu_common.messaging.tables import inbox
from tousu_common.settings import ServiceSettings
from tousu_common.tracing import consumer_span, event_trace

log = logging.getLogger(__name__)

Handler = Callable[[AsyncSession, Event], Awaitable[None]]
#: A read model's form: a group of new events, in order, in one call (see ``InboxConsumer``).
BatchHandler = Callable[[AsyncSession, Sequence[Event]], Awaitable[None]]


#: Built once: a statement's construction and cache key cost more than running it.
_SEEN_MANY = sa.select(inbox.c.event_id).where(
    inbox.c.consumer == sa.bindparam("consumer"),
    inbox.c.event_id.in_(sa.bindparam("event_ids", expanding=True)),
)
_RECORD = sa.insert(inbox)
#: One event's inbox row, or nothing if the consumer has it: the duplicate check and
#: the record in one statement (an event applied alone used to cost a SELECT too).
#: By dialect name. On PostgreSQL an insert of a row that another replica's open
#: transaction holds waits for it, then inserts nothing: the two never both apply.
_RECORD_ONCE = {
    "sqlite": sqlite.insert(inbox).on_conflict_do_nothing(index_elements=["event_id", "consumer"]),
    "postgresql": postgresql.insert(inbox).on_conflict_do_nothing(
        index_elements=["event_id", "consumer"]
    ),
}


@contextlib.contextmanager
def processing(event: Event, consumer: str) -> Iterator[None]:
    """What the inbox puts around applying one event: its ids on every log line, and a
    consumer span in its trace (so the events its handler stages continue that trace).
    A batch handler whose effects carry the trace onward opens it around each event
    itself (notify's planner)."""
    with (
        event_context(event_id=event.id, complaint_id=str(event.complaint_id)),
        consumer_span(event, consumer),
    ):
        yield


@contextlib.contextmanager
def about(event: Event) -> Iterator[None]:
    """Log lines about ``event`` after it was applied: its ids and its own trace."""
    with (
        event_context(event_id=event.id, complaint_id=str(event.complaint_id)),
        event_trace(event),
    ):
        yield


def dead_letter_topic(group_id: str) -> str:
    return f"tousu.dlq.{group_id}"


@dataclass
class ConsumerStats:
    processed: int = 0
    duplicates: int = 0
    skipped: int = 0
    dead_lettered: int = 0
    retries: int = 0
    by_type: dict[str, int] = field(default_factory=dict)


class InboxConsumer:
    """Consumes ``topics`` in consumer group ``group_id`` and applies ``handlers``.

    ``fetch_wait_ms``: the fetch wait while records come (default
    ``kafka_fetch_max_wait_ms``; see :class:`~tousu_common.messaging.kafka.FetchPacing`).
    A group that feeds a read model no one waits on in the moment passes
    ``kafka_idle_fetch_max_wait_ms``: up to ~250 ms more per event, for a tenth of
    the fetches.

    ``batch_handler``: a read model's handler for a whole group of new events (the
    events of one group commit, in order, duplicates already dropped), so it can
    read and write once per group instead of once per event. ``handlers`` still
    names the types it takes and applies an event alone (a group that failed, an
    operator's re-drive); the two must do the same to the same events. A group so
    applied gets no consumer span per event from here: a read model stages nothing
    onward, so no trace continues from it, and a handler whose effects carry a trace
    on (notify's planner) opens each event's span itself, with :func:`processing`.
    """

    def __init__(
        self,
        db: Database,
        settings: ServiceSettings,
        *,
        group_id: str,
        topics: list[str],
        handlers: Mapping[str, Handler],
        fetch_wait_ms: int | None = None,
        batch_handler: BatchHandler | None = None,
    ) -> None:
        self.db = db
        self.batch_handler = batch_handler
        self.fetch_wait_ms = fetch_wait_ms
        self.settings = settings
        self.group_id = group_id
        self.topics = topics
        self.handlers = dict(handlers)
        self.dlq_topic = dead_letter_topic(group_id)
        self.stats = ConsumerStats()
        self._service = settings.service_name
        self._transaction_seconds = metrics.child(
            metrics.CONSUMER_TRANSACTION_SECONDS, self._service, group_id
        )
        self.assigned = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._pacing: FetchPacing | None = None
        self._producer: AIOKafkaProducer | None = None
        self._last_position_check = 0.0
        self._uncommitted: dict[TopicPartition, int] = {}
        self._last_commit = float("-inf")
        self._record_once = _RECORD_ONCE[db.engine.dialect.name]

    # -- lifecycle -----------------------------------------------------------

    async def start(self) -> None:
        await ensure_topics(self.settings, [*self.topics, self.dlq_topic])
        self._producer = make_producer(self.settings)
        await self._producer.start()
        self._consumer = make_consumer(self.settings, self.group_id, self.topics)
        await self._consumer.start()
        self._pacing = FetchPacing(self._consumer, self.settings, busy_ms=self.fetch_wait_ms)

    async def stop(self) -> None:
        """Stop without committing anything more (what was not committed is redelivered)."""
        consumer, self._consumer = self._consumer, None
        producer, self._producer = self._producer, None
        self._uncommitted.clear()
        self.assigned.clear()
        await asyncio.gather(
            *(
                close_client(client, f"{self.group_id} {kind}")
                for client, kind in ((consumer, "consumer"), (producer, "producer"))
                if client is not None
            )
        )

    async def run(self) -> None:
        """Consume forever; on a broker failure start over (uncommitted work is redelivered)."""
        backoff = max(self.settings.consumer_backoff_base_s, 0.1)
        while True:
            try:
                await self.start()
                while True:
                    await self.poll_once()
            except asyncio.CancelledError:
                await self.stop()
                raise
            except Exception as exc:
                log.warning(
                    "consumer failed, restarting",
                    extra={"group_id": self.group_id, "error": repr(exc), "retry_in_s": backoff},
                )
                await self.stop()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.settings.consumer_backoff_max_s)

    async def poll_once(self, timeout_ms: int = 1000) -> int:
        """Fetch one batch, apply it, commit its offsets (now, or with a later batch
        if this consumer committed less than ``consumer_commit_interval_s`` ago).
        Returns records seen."""
        batch = await self.fetch(timeout_ms)
        offsets = await self.apply(batch)
        await self._commit_when_due(offsets, idle=not batch)
        return sum(len(records) for records in batch.values())

    async def _commit_when_due(self, offsets: Mapping[TopicPartition, int], *, idle: bool) -> None:
        """Commit what this batch and the deferred ones applied: at once when the last
        commit is ``consumer_commit_interval_s`` old or nothing came, else later. Only
        partitions still assigned are committed: a rebalance hands the others to a
        member that reads them again from the last commit (the inbox skips repeats)."""
        self._uncommitted.update(offsets)
        now = time.monotonic()
        due = idle or now - self._last_commit >= self.settings.consumer_commit_interval_s
        if not self._uncommitted or not due:
            return
        assigned = self._consumer.assignment() if self._consumer is not None else set()
        pending = {tp: offset for tp, offset in self._uncommitted.items() if tp in assigned}
        self._uncommitted.clear()
        await self.commit(pending)
        self._last_commit = now

    # -- the three steps, separate so tests can stop between them -----------

    async def fetch(self, timeout_ms: int = 1000) -> dict[TopicPartition, list[ConsumerRecord]]:
        if self._consumer is None:
            raise RuntimeError("start() first")
        batch = await self._consumer.getmany(
            timeout_ms=timeout_ms, max_records=self.settings.consumer_batch_size
        )
        if self._consumer.assignment():
            self.assigned.set()
        if self._pacing is not None:
            self._pacing.observe(sum(len(records) for records in batch.values()))
        if not batch:
            await self._rewind_if_past_the_log()
        return batch

    async def _rewind_if_past_the_log(self) -> None:
        """Read a partition again from its start when this consumer's position lies
        past the end of the broker's log (see ``consumer_position_check_s``)."""
        now = time.monotonic()
        if now - self._last_position_check < self.settings.consumer_position_check_s:
            return
        self._last_position_check = now
        consumer = self._consumer
        assignment = list(consumer.assignment()) if consumer is not None else []
        if consumer is None or not assignment:
            return
        # The high watermark comes with every fetch response, so this asks the broker
        # nothing: a ListOffsets request would queue behind the fetch in flight on
        # the same connection and hold this loop for up to ``fetch_max_wait_ms``.
        ends = {tp: consumer.highwater(tp) for tp in assignment}
        try:
            positions = {tp: await asyncio.wait_for(consumer.position(tp), 5) for tp in assignment}
        except Exception as exc:  # a rebalance under way: next time
            log.debug("position check skipped", extra={"error": repr(exc)})
            return
        behind = sorted(
            (tp for tp in assignment if (end := ends.get(tp)) is not None and positions[tp] > end),
            key=lambda tp: (tp.topic, tp.partition),
        )
        for tp in behind:
            log.warning(
                "consumer position past the end of the broker's log (a broker that "
                "restarted empty?): reading the partition again from its start",
                extra={
                    "group_id": self.group_id,
                    "topic": tp.topic,
                    "partition": tp.partition,
                    "position": positions[tp],
                    "log_end": ends[tp],
                },
            )
        if not behind:
            return
        # Move the position at once (seek_to_beginning only asks for a reset, which a
        # rebalance drops) and commit it: otherwise every rebalance puts the consumer
        # back at the stale committed offset, past the log, and it never reads again.
        # Reading from the start is safe: the inbox skips what was applied before.
        try:
            starts = await asyncio.wait_for(consumer.beginning_offsets(behind), 5)
            for tp in behind:
                consumer.seek(tp, starts[tp])
            await asyncio.wait_for(self.commit({tp: starts[tp] for tp in behind}), 5)
        except Exception as exc:  # broker away or a rebalance under way: next time
            log.warning(
                "rewinding past-the-log partitions failed; trying again",
                extra={"group_id": self.group_id, "error": repr(exc)},
            )

    async def apply(
        self, batch: Mapping[TopicPartition, list[ConsumerRecord]]
    ) -> dict[TopicPartition, int]:
        """Apply every record; return the offsets to commit once this returns.

        Up to ``consumer_group_commit`` records share one transaction, across
        the partitions of the batch (one commit instead of one per event, and
        not one per partition either: a consumer of four six-partition topics
        would otherwise queue up to 24 transactions per poll behind the other
        writers of its database). Each partition's records keep their order,
        and a complaint's events are all on one partition, so per-complaint
        order holds. If anything in such a group fails, the whole group is
        rolled back and its records are applied one by one, with retries, so
        one bad event never takes its neighbours to the dead-letter topic.
        """
        wanted = [item for records in batch.values() for item in await self._decode(records)]
        size = self.settings.consumer_group_commit
        for start in range(0, len(wanted), size):
            group = wanted[start : start + size]
            if len(group) == 1 or not await self._apply_together(group):
                for record, event in group:
                    await self._apply_alone(record, event)
        return {
            partition: records[-1].offset + 1 for partition, records in batch.items() if records
        }

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        if offsets:
            if self._consumer is None:
                raise RuntimeError("self._consumer is not set")
            await self._consumer.commit(dict(offsets))

    # -- one record ----------------------------------------------------------

    async def _decode(self, records: list[ConsumerRecord]) -> list[tuple[ConsumerRecord, Event]]:
        """The records this consumer handles, decoded; poison goes to the dead-letter topic.

        Every record is decoded, including those of types this consumer has no
        handler for: each group dead-letters poison on its topics, whatever its
        type claims (tests/faults/test_poison.py), so skipping by the ``ce_type``
        header before decoding (issue 17's lead) is not an option.
        """
        wanted = []
        for record in records:
            try:
                event = Event.from_kafka(record)
            except DecodeError as exc:
                await self._dead_letter(record, f"undecodable: {exc}", attempts=0)
                continue
            if event.type in self.handlers:
                wanted.append((record, event))
            else:
                self.stats.skipped += 1
                self._count(event.type, "skipped")
        return wanted

    async def _apply_together(self, group: list[tuple[ConsumerRecord, Event]]) -> bool:
        """Apply a group of events in one transaction; False (nothing changed) if any fails."""
        applied: list[Event] = []
        duplicates: list[Event] = []
        started = time.perf_counter()
        try:
            async with self.db.transaction() as session:
                seen = set(
                    (
                        await session.scalars(
                            _SEEN_MANY,
                            {
                                "consumer": self.group_id,
                                "event_ids": [event.id for _, event in group],
                            },
                        )
                    ).all()
                )
                for _, event in group:
                    if event.id in seen:  # seen before, or twice in this group
                        duplicates.append(event)
                        continue
                    seen.add(event.id)
                    if self.batch_handler is None:
                        with processing(event, self.group_id):
                            await self.handlers[event.type](session, event)
                    applied.append(event)
                if applied:
                    if self.batch_handler is not None:
                        await self.batch_handler(session, applied)
                    now = datetime.now(UTC)
                    await session.execute(
                        _RECORD,
                        [
                            {
                                "event_id": event.id,
                                "consumer": self.group_id,
                                "event_type": event.type,
                                "processed_at": now,
                            }
                            for event in applied
                        ],
                    )
        except Exception as exc:
            log.warning(
                "group of events failed, applying them one by one",
                extra={"size": len(group), "error": repr(exc)},
            )
            return False
        self._transaction_seconds.observe(time.perf_counter() - started)
        for event in applied:
            self._count_applied(event)
        for event in duplicates:
            self._count_duplicate(event)
        return True

    def _count(self, event_type: str, outcome: str) -> None:
        metrics.child(
            metrics.EVENTS_CONSUMED, self._service, self.group_id, event_type, outcome
        ).inc()

    def _count_applied(self, event: Event) -> None:
        self.stats.processed += 1
        self.stats.by_type[event.type] = self.stats.by_type.get(event.type, 0) + 1
        self._count(event.type, "applied")
        with about(event):
            log.info("event applied", extra={"event_type": event.type, "consumer": self.group_id})

    def _count_duplicate(self, event: Event) -> None:
        self.stats.duplicates += 1
        self._count(event.type, "duplicate")
        metrics.child(metrics.INBOX_DUPLICATES, self._service, self.group_id).inc()

    def _count_dead_letter(self, record: ConsumerRecord) -> None:
        """Dead letters by consumer, and by event type when the record names a known one."""
        metrics.child(metrics.DEAD_LETTERED, self._service, self.group_id).inc()
        event_type = "unknown"
        for name, value in record.headers or ():
            if name == "ce_type":
                with contextlib.suppress(UnicodeDecodeError):
                    if value.decode() in CATALOG:
                        event_type = value.decode()
                break
        self._count(event_type, "dead_lettered")

    async def _apply_alone(self, record: ConsumerRecord, event: Event) -> None:
        """Apply one event in its own transaction, retrying with backoff, then dead-letter it."""
        handler = self.handlers[event.type]
        with processing(event, self.group_id):
            attempt = 0
            while True:
                attempt += 1
                try:
                    applied = await self._apply_once(event, handler)
                except Exception as exc:
                    if attempt >= self.settings.consumer_max_attempts:
                        log.error(
                            "handler failed for good, dead-lettering",
                            extra={
                                "event_type": event.type,
                                "attempts": attempt,
                                "error": repr(exc),
                            },
                        )
                        await self._dead_letter(record, repr(exc), attempts=attempt)
                        return
                    self.stats.retries += 1
                    metrics.child(metrics.CONSUMER_RETRIES, self._service, self.group_id).inc()
                    delay = min(
                        self.settings.consumer_backoff_base_s * 2 ** (attempt - 1),
                        self.settings.consumer_backoff_max_s,
                    )
                    log.warning(
                        "handler failed, retrying",
                        extra={"event_type": event.type, "attempt": attempt, "error": repr(exc)},
                    )
                    await asyncio.sleep(delay)
                    continue
                if applied:
                    self._count_applied(event)
                else:
                    self._count_duplicate(event)
                    log.info("duplicate event skipped", extra={"event_type": event.type})
                return

    async def _apply_once(self, event: Event, handler: Handler) -> bool:
        """Run the handler and record the event in one transaction; False if seen before."""
        started = time.perf_counter()
        async with self.db.transaction() as session:
            # The inbox row first: if it was there, nothing else runs (and the
            # transaction commits nothing); if the handler fails, it goes too.
            recorded = await session.execute(
                self._record_once,
                {
                    "event_id": event.id,
                    "consumer": self.group_id,
                    "event_type": event.type,
                    "processed_at": datetime.now(UTC),
                },
            )
            if not recorded.rowcount:
                return False
            await handler(session, event)
        self._transaction_seconds.observe(time.perf_counter() - started)
        return True

    async def reapply(self, event: Event) -> bool:
        """Apply one event now, once, through its handler and the inbox (an operator's
        re-drive of a dead letter); False if the inbox already had it. Raises what the
        handler raises, having changed nothing."""
        applied = await self._apply_once(event, self.handlers[event.type])
        if applied:
            self._count_applied(event)
        return applied

    async def _dead_letter(self, record: ConsumerRecord, error: str, *, attempts: int) -> None:
        """Record the poison durably, then publish it to the DLQ topic; both before the
        caller commits the offset. If either fails the exception restarts the consumer
        and the record comes again (the row is written once: see ``dead_letter``)."""
        if self._producer is None:
            raise RuntimeError("self._producer is not set")
        await record_dead_letter(
            self.db, dead_letter_row(self.group_id, record, error, attempts=attempts)
        )
        headers = list(record.headers or ())
        headers += [
            ("dlq_error", error[:4000].encode()),
            ("dlq_consumer", self.group_id.encode()),
            ("dlq_attempts", str(attempts).encode()),
            ("dlq_original_topic", record.topic.encode()),
            ("dlq_original_partition", str(record.partition).encode()),
            ("dlq_original_offset", str(record.offset).encode()),
            ("dlq_failed_at", datetime.now(UTC).isoformat().encode()),
        ]
        await self._producer.send_and_wait(
            self.dlq_topic, record.value, key=record.key, headers=headers
        )
        self.stats.dead_lettered += 1
        self._count_dead_letter(record)
        log.error(
            "record dead-lettered",
            extra={
                "dlq_topic": self.dlq_topic,
                "original_topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "error": error[:500],
            },
        )
