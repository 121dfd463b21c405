"""Trace context and metrics across the outbox, the real broker and the inbox
(each test runs on SQLite and on PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from uuid import uuid4

import pytest
import sqlalchemy as sa
from opentelemetry import trace
from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncSession

from tousu_common.db import Database
from tousu_common.devstack import Broker
from tousu_common.events import Channel, ComplaintReceived, Event, new_event
from tousu_common.events.catalog import ComplaintWithdrawn
from tousu_common.messaging.inbox import InboxConsumer
from tousu_common.messaging.outbox import OutboxRelay, add_event
from tousu_common.messaging.tables import messaging_metadata, outbox
from tousu_common.settings import ServiceSettings
from tousu_common.testing.helpers import header, poll_until, produce, read_topic
from tousu_common.testing.helpers import settings_for_tests as make_settings
from tousu_common.tracing import tracer

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(broker: Broker, database_url: str, unique: Callable[[str], str]) -> ServiceSettings:
    # A service label of its own: the metrics registry is shared by the process.
    return make_settings(broker.bootstrap, database_url, service_name=unique("svc"))


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    async with database.engine.begin() as connection:
        await connection.run_sync(messaging_metadata.create_all)
    yield database
    await database.dispose()


def received() -> Event:
    payload = ComplaintReceived(
        complaint_id=uuid4(),
        reference="TS-2026-000001",
        channel=Channel.hotline,
        received_at=datetime.now(UTC),
        title="漏油",
        description="发动机漏油",
    )
    return new_event(payload, source="tousu/test")


def trace_id_of(traceparent: str | None) -> str | None:
    return traceparent.split("-")[1] if traceparent else None


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def staged_headers(db: Database, event_id: str) -> dict[str, str]:
    async with db.sessions() as session:
        headers = await session.scalar(
            sa.select(outbox.c.headers).where(outbox.c.event_id == event_id)
        )
    return {name: value for name, value in headers or []}


async def run_until(consumer: InboxConsumer, done: Callable[[], bool], timeout: float = 60) -> None:
    await consumer.start()
    try:
        await poll_until(consumer, done, timeout=timeout)
    finally:
        await consumer.stop()


async def test_event_staged_in_a_span_carries_its_trace_to_the_broker_and_onward(
    db: Database, settings: ServiceSettings, unique: Callable[[str], str]
) -> None:
    event = received()
    with tracer().start_as_current_span("request") as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
        async with db.transaction() as session:
            await add_event(session, event)
    relay = OutboxRelay(db, settings)
    try:
        assert await relay.publish_batch() == 1
    finally:
        await relay.close()
    assert (
        metric(
            "tousu_events_produced_total",
            service=settings.service_name,
            event_type="complaint.received",
        )
        == 1
    )
    records = await read_topic(
        settings.kafka_bootstrap_servers,
        "tousu.complaints",
        until=lambda rs: any(header(r, "ce_id") == event.id for r in rs),
        timeout=60,
    )
    record = next(r for r in records if header(r, "ce_id") == event.id)
    assert trace_id_of(header(record, "ce_traceparent")) == trace_id

    # Three events of three traces in one group commit: each handler call runs in
    # its own event's trace, and what it stages carries that trace onward.
    others = [received(), received()]
    other_traces = []
    for other in others:
        with tracer().start_as_current_span("another request") as span:
            other_traces.append(format(span.get_span_context().trace_id, "032x"))
            async with db.transaction() as session:
                await add_event(session, other)
    rows = {e.id: await staged_headers(db, e.id) for e in others}
    topic = unique("traced")
    await produce(
        settings.kafka_bootstrap_servers,
        topic,
        (record.value, list(record.headers)),
        *[(o.value(), [(k, v.encode()) for k, v in rows[o.id].items()]) for o in others],
    )
    seen: dict[str, str] = {}
    follow_ups: dict[str, str] = {}

    async def handler(session: AsyncSession, incoming: Event) -> None:
        seen[incoming.id] = format(trace.get_current_span().get_span_context().trace_id, "032x")
        follow_up = received()
        follow_ups[incoming.id] = follow_up.id
        await add_event(session, follow_up)

    consumer = InboxConsumer(
        db,
        settings,
        group_id=unique("group"),
        topics=[topic],
        handlers={"complaint.received": handler},
    )
    await run_until(consumer, lambda: consumer.stats.processed >= 3)
    expected = {event.id: trace_id, **dict(zip([o.id for o in others], other_traces, strict=True))}
    assert seen == expected
    for incoming_id, trace_of_incoming in expected.items():
        onward = await staged_headers(db, follow_ups[incoming_id])
        assert trace_id_of(onward.get("ce_traceparent")) == trace_of_incoming


async def test_consumer_counts_applied_duplicate_skipped_retried_and_dead_lettered(
    db: Database, settings: ServiceSettings, unique: Callable[[str], str]
) -> None:
    good, bad = received(), received()
    poison = (b"not json", received().headers())
    withdrawn = new_event(
        ComplaintWithdrawn(
            complaint_id=uuid4(),
            reference="TS-2026-000002",
            reason="resolved by phone",
            withdrawn_at=datetime.now(UTC),
            by="agent-1",
        ),
        source="tousu/test",
    )
    topic, group = unique("counted"), unique("group")
    await produce(
        settings.kafka_bootstrap_servers,
        topic,
        (good.value(), good.headers()),
        (good.value(), good.headers()),  # the same event again: a duplicate
        (withdrawn.value(), withdrawn.headers()),  # no handler here: skipped
        (bad.value(), bad.headers()),
        poison,
    )

    async def handler(session: AsyncSession, incoming: Event) -> None:
        if incoming.id == bad.id:
            raise RuntimeError("handler keeps failing")

    consumer = InboxConsumer(
        db,
        settings,
        group_id=group,
        topics=[topic],
        handlers={"complaint.received": handler},
    )
    await run_until(consumer, lambda: consumer.stats.dead_lettered >= 2)
    labels = {"service": settings.service_name, "consumer": group}
    consumed = "tousu_events_consumed_total"
    assert metric(consumed, **labels, event_type="complaint.received", outcome="applied") == 1
    assert metric(consumed, **labels, event_type="complaint.received", outcome="duplicate") == 1
    assert metric(consumed, **labels, event_type="complaint.received", outcome="dead_lettered") == 2
    assert metric(consumed, **labels, event_type="complaint.withdrawn", outcome="skipped") == 1
    assert metric("tousu_inbox_duplicates_total", **labels) == 1
    assert metric("tousu_dead_lettered_total", **labels) == 2
    # consumer_max_attempts=3 in the test settings: two retries before giving up
    assert metric("tousu_consumer_retries_total", **labels) == 2
    assert metric("tousu_consumer_transaction_duration_seconds_count", **labels) >= 1
