"""Nothing lost, nothing twice: the outbox relay and the inbox consumer on the real
broker and the real databases (each test runs on SQLite and on PostgreSQL)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from sqlalchemy.ext.asyncio import AsyncSession

from tousu_common.db import Database, new_metadata
from tousu_common.devstack import Broker, free_port
from tousu_common.events import Channel, ComplaintReceived, Event, new_event
from tousu_common.lifecycle import stop_tasks
from tousu_common.messaging.inbox import ConsumerStats, InboxConsumer
from tousu_common.messaging.kafka import ensure_topics
from tousu_common.messaging.outbox import OutboxRelay, add_event
from tousu_common.messaging.tables import inbox, messaging_metadata, outbox
from tousu_common.settings import ServiceSettings
from tousu_common.testing.helpers import poll_until, produce, read_topic
from tousu_common.testing.helpers import settings_for_tests as make_settings
from tousu_common.testing.statements import sql_run, statement_kind
from tousu_common.testing.wait import eventually_async

pytestmark = pytest.mark.integration

effects_metadata = new_metadata()
# What a handler does in these tests: one row per applied event.
effects = sa.Table(
    "effects",
    effects_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("complaint_id", sa.String(36), nullable=False),
    sa.Column("event_id", sa.String(64), nullable=False),
)


@pytest.fixture
def settings(broker: Broker, database_url: str) -> ServiceSettings:
    return make_settings(broker.bootstrap, database_url)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    async with database.engine.begin() as connection:
        await connection.run_sync(messaging_metadata.create_all)
        await connection.run_sync(effects_metadata.create_all)
    yield database
    await database.dispose()


async def record_effect(session: AsyncSession, event: Event) -> None:
    await session.execute(
        sa.insert(effects).values(complaint_id=str(event.complaint_id), event_id=event.id)
    )


async def count_effects(db: Database, complaint_id: UUID) -> int:
    async with db.sessions() as session:
        count = await session.scalar(
            sa.select(sa.func.count())
            .select_from(effects)
            .where(effects.c.complaint_id == str(complaint_id))
        )
    return int(count or 0)


def received(complaint_id: UUID | None = None, title: str = "漏油") -> Event:
    payload = ComplaintReceived(
        complaint_id=complaint_id or uuid4(),
        reference="TS-2026-000001",
        channel=Channel.hotline,
        received_at=datetime.now(UTC),
        title=title,
        description="发动机漏油",
    )
    return new_event(payload, source="tousu/test")


async def stage(db: Database, event: Event) -> None:
    async with db.transaction() as session:
        await add_event(session, event)


async def produce_event(bootstrap: str, topic: str, event: Event) -> None:
    await produce(bootstrap, topic, (event.value(), event.headers()))


async def consume_until(
    db: Database,
    settings: ServiceSettings,
    topic: str,
    handler: Callable[[AsyncSession, Event], Awaitable[None]],
    done: Callable[[ConsumerStats], bool],
    *,
    group: str | None = None,
) -> InboxConsumer:
    """Run a consumer of ``topic`` until ``done(stats)``, then stop it; return it for its stats."""
    consumer = InboxConsumer(
        db,
        settings,
        group_id=group or f"group-{uuid4().hex[:10]}",
        topics=[topic],
        handlers={"complaint.received": handler},
    )
    await consumer.start()
    try:
        await poll_until(consumer, lambda: done(consumer.stats))
    finally:
        await consumer.stop()
    return consumer


async def outbox_statuses(db: Database) -> list[str]:
    async with db.sessions() as session:
        return list((await session.scalars(sa.select(outbox.c.status).order_by(outbox.c.id))).all())


def ids_on(records: list, complaint_id: UUID) -> list[str]:
    return [
        dict(record.headers)["ce_id"].decode()
        for record in records
        if record.key == str(complaint_id).encode()
    ]


async def test_relay_publishes_staged_events_in_commit_order(
    db: Database, settings: ServiceSettings
) -> None:
    complaint_id = uuid4()
    events = [received(complaint_id, title=f"第{n}次") for n in range(3)]
    for event in events:
        await stage(db, event)
    relay = OutboxRelay(db, settings)
    try:
        assert await relay.publish_batch() >= 3
    finally:
        await relay.close()
    records = await read_topic(
        settings.kafka_bootstrap_servers,
        "tousu.complaints",
        until=lambda rs: len(ids_on(rs, complaint_id)) >= 3,
    )
    assert ids_on(records, complaint_id) == [event.id for event in events]
    assert set(await outbox_statuses(db)) == {"published"}


async def test_a_transactions_events_are_written_at_its_commit_in_one_insert_in_order(
    db: Database,
) -> None:
    complaint_id = uuid4()
    events = [received(complaint_id, title=f"第{n}次") for n in range(3)]
    with sql_run(db) as statements:
        async with db.transaction() as session:
            for event in events:
                await add_event(session, event)
            # staged, not written yet: the statements before the commit are the caller's
            assert not any("outbox" in statement for statement in statements)
    assert [statement_kind(s) for s in statements] == ["INSERT outbox"]
    async with db.sessions() as session:
        written = list(
            await session.scalars(
                sa.select(outbox.c.event_id)
                .where(outbox.c.key == str(complaint_id))
                .order_by(outbox.c.id)
            )
        )
    assert written == [event.id for event in events]

    # A transaction that fails writes none of what it staged.
    dropped = received(complaint_id, title="回滚")
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            await add_event(session, dropped)
            raise RuntimeError("the handler failed")
    async with db.sessions() as session:
        count = await session.scalar(
            sa.select(sa.func.count()).select_from(outbox).where(outbox.c.event_id == dropped.id)
        )
    assert count == 0


async def test_a_running_relay_on_sqlite_marks_a_round_published_with_the_next_round(
    db: Database, database_url: str, broker: Broker
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("on PostgreSQL a round sends and marks in one transaction")
    # A quiet delay longer than the test: only the next round (or close) marks. The
    # rounds are the running relay's own, called here one at a time (run() calls them
    # whenever a commit wakes it, so when it marks depends on the wake-ups' timing).
    settings = make_settings(broker.bootstrap, database_url, outbox_mark_delay_s=60)
    relay = OutboxRelay(db, settings)
    first, second = received(), received()

    async def on_topic(event: Event) -> None:
        await read_topic(
            broker.bootstrap,
            "tousu.complaints",
            until=lambda rs: bool(ids_on(rs, event.complaint_id)),
            timeout=30,
        )

    try:
        await stage(db, first)
        assert await relay._publish_round(defer_mark=True) == 1
        await on_topic(first)
        assert await outbox_statuses(db) == ["pending"]  # sent; its mark waits
        await stage(db, second)
        assert await relay._publish_round(defer_mark=True) == 1
        await on_topic(second)
        # The round that read the second event marked the first before sending.
        assert await outbox_statuses(db) == ["published", "pending"]
    finally:
        await relay.close()
    assert await outbox_statuses(db) == ["published", "published"]  # close marks the rest


class SlowLinkProducer(AIOKafkaProducer):
    """The real producer behind a slow link: every send starts 30 ms late."""

    @classmethod
    def for_settings(cls, settings: ServiceSettings) -> AIOKafkaProducer:
        return cls(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            acks="all",
            enable_idempotence=False,
        )

    async def send(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        await asyncio.sleep(0.03)
        return await super().send(*args, **kwargs)


async def test_relays_of_two_replicas_publish_every_event_once_and_in_order_per_complaint(
    broker: Broker, database_url: str, db: Database
) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite is one process per database file: one relay by design")
    settings = make_settings(broker.bootstrap, database_url, outbox_batch_size=7)
    complaints = [uuid4() for _ in range(4)]
    staged: dict[UUID, list[str]] = {cid: [] for cid in complaints}
    for n in range(30):
        async with db.transaction() as session:
            for cid in complaints:
                event = received(cid, title=f"第{n}次")
                await add_event(session, event)
                staged[cid].append(event.id)
    # Two replicas: two relays, each with its own engine, on one database; one has a
    # slow link to the broker, so without taking turns the fast one would overtake it.
    other = Database(database_url)
    relays = [
        OutboxRelay(db, settings, producer_factory=SlowLinkProducer.for_settings),
        OutboxRelay(other, settings),
    ]

    async def drain(relay: OutboxRelay) -> None:
        async def drained() -> bool:
            if "pending" not in await outbox_statuses(db):
                return True
            await relay.publish_batch()
            return False

        await eventually_async(drained, timeout=60, interval=0, what="outbox not drained")

    try:
        await asyncio.gather(*(drain(relay) for relay in relays))
    finally:
        for relay in relays:
            await relay.close()
        await other.dispose()
    records = await read_topic(
        settings.kafka_bootstrap_servers,
        "tousu.complaints",
        until=lambda rs: all(len(ids_on(rs, cid)) >= 30 for cid in complaints),
    )
    # Broker order within a complaint's partition is the order it was written.
    assert {cid: ids_on(records, cid) for cid in complaints} == staged


async def test_event_staged_while_broker_is_down_is_delivered_when_it_returns(
    db: Database, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    settings = make_settings(f"127.0.0.1:{port}", database_url, kafka_request_timeout_ms=1000)
    relay = OutboxRelay(db, settings)
    event = received()
    await stage(db, event)  # the state change commits although no broker is there
    caplog.set_level(logging.WARNING, logger="tousu_common.messaging.outbox")
    task = asyncio.create_task(relay.run())
    broker: Broker | None = None

    async def relay_failures() -> int:
        return sum("outbox relay failed" in r.getMessage() for r in caplog.records)

    try:
        # The relay has tried, found no broker, and tried again: the event waits.
        await eventually_async(relay_failures, until=lambda n: n >= 2, timeout=60)
        assert await outbox_statuses(db) == ["pending"]
        broker = Broker(port=port).start()
        records = await read_topic(
            broker.bootstrap,
            "tousu.complaints",
            until=lambda rs: bool(ids_on(rs, event.complaint_id)),
            timeout=30,
        )
        assert ids_on(records, event.complaint_id) == [event.id]
        await eventually_async(
            lambda: outbox_statuses(db), until=lambda s: s == ["published"], timeout=30
        )
    finally:
        assert await stop_tasks([task], 30, what="outbox relay") == []
        await relay.close()
        if broker:
            broker.stop()


async def test_event_delivered_again_later_is_applied_once(
    db: Database, settings: ServiceSettings, unique: Callable[[str], str]
) -> None:
    topic, event = unique("topic"), received()
    consumer = InboxConsumer(
        db,
        settings,
        group_id=unique("group"),
        topics=[topic],
        handlers={"complaint.received": record_effect},
    )
    await consumer.start()
    try:
        await produce_event(settings.kafka_bootstrap_servers, topic, event)
        await poll_until(consumer, lambda: consumer.stats.processed >= 1)
        # a relay that published but crashed before marking its row publishes again
        await produce_event(settings.kafka_bootstrap_servers, topic, event)
        await poll_until(consumer, lambda: consumer.stats.duplicates >= 1)
    finally:
        await consumer.stop()
    assert await count_effects(db, event.complaint_id) == 1
    assert consumer.stats.processed == 1


async def test_two_replicas_applying_one_event_at_the_same_time_apply_it_once(
    db: Database, database_url: str, settings: ServiceSettings, unique: Callable[[str], str]
) -> None:
    """Each replica has its own engine; the handler holds its transaction open, so on
    PostgreSQL the second one's inbox insert meets the first's uncommitted row."""
    group, event = unique("group"), received()

    async def slow_effect(session: AsyncSession, applied: Event) -> None:
        await record_effect(session, applied)
        await asyncio.sleep(0.2)

    other = Database(database_url)
    replicas = [
        InboxConsumer(
            database,
            settings,
            group_id=group,
            topics=["unused"],
            handlers={"complaint.received": slow_effect},
        )
        for database in (db, other)
    ]
    try:
        outcomes = await asyncio.gather(*(replica.reapply(event) for replica in replicas))
    finally:
        await other.dispose()
    assert sorted(outcomes) == [False, True]
    assert await count_effects(db, event.complaint_id) == 1


async def test_event_delivered_twice_in_one_batch_is_applied_once(
    db: Database, settings: ServiceSettings, unique: Callable[[str], str]
) -> None:
    topic, event = unique("topic"), received()
    await produce(settings.kafka_bootstrap_servers, topic, *[(event.value(), event.headers())] * 2)
    consumer = await consume_until(
        db,
        settings,
        topic,
        record_effect,
        lambda stats: stats.processed + stats.duplicates >= 2,
        group=unique("group"),
    )
    assert await count_effects(db, event.complaint_id) == 1
    assert consumer.stats.duplicates == 1


async def fetch_at_least(consumer: InboxConsumer, records: int) -> dict[TopicPartition, list]:
    """Fetch until ``records`` records came (bounded in time), without applying them."""
    batch: dict[TopicPartition, list] = {}

    async def fetched() -> int:
        for partition, got in (await consumer.fetch(timeout_ms=200)).items():
            batch.setdefault(partition, []).extend(got)
        return sum(len(got) for got in batch.values())

    await eventually_async(fetched, until=lambda n: n >= records, timeout=30, interval=0)
    return batch


async def test_a_batch_spanning_partitions_is_applied_in_one_transaction_in_partition_order(
    db: Database, settings: ServiceSettings, unique: Callable[[str], str]
) -> None:
    topic, group = unique("topic"), unique("group")
    consumer = InboxConsumer(
        db, settings, group_id=group, topics=[topic], handlers={"complaint.received": record_effect}
    )
    await consumer.start()  # creates the topic with settings.kafka_topic_partitions (3)
    try:
        events = {partition: [received(), received()] for partition in range(3)}
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
        await producer.start()
        try:
            for partition, mine in events.items():
                for event in mine:
                    await producer.send_and_wait(
                        topic, event.value(), partition=partition, headers=event.headers()
                    )
        finally:
            await producer.stop()
        batch = await fetch_at_least(consumer, 6)
        assert len(batch) == 3
        commits: list[int] = []
        db.on_commit(lambda session: commits.append(1))
        await consumer.apply(batch)
    finally:
        await consumer.stop()
    assert len(commits) == 1  # not one transaction per partition
    async with db.sessions() as session:
        applied = (
            await session.scalars(sa.select(effects.c.event_id).order_by(effects.c.id))
        ).all()
    for mine in events.values():
        positions = [applied.index(event.id) for event in mine]
        assert positions == sorted(positions)  # each partition's records in their order


async def test_a_batch_handler_gets_a_groups_new_events_in_one_call_in_order(
    db: Database, settings: ServiceSettings, unique: Callable[[str], str]
) -> None:
    """A read model's batch handler: one call per group commit with the events not
    applied before, in their order, each once; an event alone (a re-drive) goes
    through its per-event handler."""
    topic, group = unique("topic"), unique("group")
    complaint_id = uuid4()  # one key: one partition, so one order
    first, second, earlier = (received(complaint_id) for _ in range(3))
    calls: list[list[str]] = []

    async def record_batch(session: AsyncSession, events: Sequence[Event]) -> None:
        calls.append([event.id for event in events])
        for event in events:
            await record_effect(session, event)

    consumer = InboxConsumer(
        db,
        settings,
        group_id=group,
        topics=[topic],
        handlers={"complaint.received": record_effect},
        batch_handler=record_batch,
    )
    await consumer.start()
    try:
        assert await consumer.reapply(earlier)  # applied alone, before the group
        assert calls == []
        await produce(
            settings.kafka_bootstrap_servers,
            topic,
            *[(event.value(), event.headers()) for event in (first, earlier, second, first)],
        )
        batch = await fetch_at_least(consumer, 4)
        await consumer.apply(batch)
    finally:
        await consumer.stop()
    assert calls == [[first.id, second.id]]
    assert consumer.stats.processed == 3 and consumer.stats.duplicates == 2
    async with db.sessions() as session:
        applied = (await session.scalars(sa.select(effects.c.event_id))).all()
    assert sorted(applied) == sorted([first.id, second.id, earlier.id])


async def test_consumer_killed_between_db_commit_and_offset_commit_does_not_apply_twice(
    db: Database, settings: ServiceSettings, unique: Callable[[str], str]
) -> None:
    topic, group, event = unique("topic"), unique("group"), received()
    await produce_event(settings.kafka_bootstrap_servers, topic, event)
    first = InboxConsumer(
        db, settings, group_id=group, topics=[topic], handlers={"complaint.received": record_effect}
    )
    await first.start()
    try:
        batch = await eventually_async(lambda: first.fetch(timeout_ms=200), timeout=30, interval=0)
        await first.apply(batch)  # the database commits ...
    finally:
        await first.stop()  # ... and the process dies before commit(offsets)
    assert await count_effects(db, event.complaint_id) == 1

    second = await consume_until(
        db,
        settings,
        topic,
        record_effect,
        lambda stats: stats.duplicates >= 1,
        group=group,
    )
    assert second.stats.processed == 0
    assert await count_effects(db, event.complaint_id) == 1


async def test_poison_records_go_to_the_dead_letter_topic_and_the_consumer_keeps_going(
    db: Database, settings: ServiceSettings, unique: Callable[[str], str]
) -> None:
    topic, group, good = unique("topic"), unique("group"), received()
    valid_headers = good.headers()
    unknown_type = [(k, b"complaint.exploded" if k == "ce_type" else v) for k, v in valid_headers]
    await produce(
        settings.kafka_bootstrap_servers,
        topic,
        (b"{this is not json", valid_headers),
        (good.value(), unknown_type),
        (good.value(), valid_headers),
    )
    consumer = await consume_until(
        db, settings, topic, record_effect, lambda stats: stats.processed >= 1, group=group
    )
    assert consumer.stats.dead_lettered == 2
    assert await count_effects(db, good.complaint_id) == 1
    dead = await read_topic(
        settings.kafka_bootstrap_servers, consumer.dlq_topic, until=lambda rs: len(rs) >= 2
    )
    errors = sorted(dict(record.headers)["dlq_error"].decode() for record in dead)
    assert len(dead) == 2
    assert "not JSON" in errors[0] or "not JSON" in errors[1]
    assert any("unknown event type 'complaint.exploded'" in error for error in errors)
    assert all(dict(record.headers)["dlq_original_topic"].decode() == topic for record in dead)


async def test_handler_that_keeps_failing_is_retried_then_dead_lettered_and_changes_nothing(
    db: Database, settings: ServiceSettings, unique: Callable[[str], str]
) -> None:
    topic, group = unique("topic"), unique("group")
    doomed, fine = received(title="doomed"), received(title="fine")
    attempts: list[str] = []

    async def flaky(session: AsyncSession, event: Event) -> None:
        await record_effect(session, event)  # written, then rolled back
        if event.data.title == "doomed":  # type: ignore[attr-defined]
            attempts.append(event.id)
            raise RuntimeError("downstream says no")

    await produce_event(settings.kafka_bootstrap_servers, topic, doomed)
    await produce_event(settings.kafka_bootstrap_servers, topic, fine)
    consumer = await consume_until(
        db,
        settings,
        topic,
        flaky,
        lambda stats: stats.processed >= 1 and stats.dead_lettered >= 1,
        group=group,
    )
    # max_attempts alone, plus once inside its group if both arrived in one batch
    assert settings.consumer_max_attempts <= len(attempts) <= settings.consumer_max_attempts + 1
    assert await count_effects(db, doomed.complaint_id) == 0
    assert await count_effects(db, fine.complaint_id) == 1
    async with db.sessions() as session:
        inbox_ids = set((await session.scalars(sa.select(inbox.c.event_id))).all())
    assert doomed.id not in inbox_ids and fine.id in inbox_ids
    dead = await read_topic(
        settings.kafka_bootstrap_servers, consumer.dlq_topic, until=lambda rs: len(rs) >= 1
    )
    headers = dict(dead[0].headers)
    assert headers["dlq_attempts"] == str(settings.consumer_max_attempts).encode()
    assert b"downstream says no" in headers["dlq_error"]
    assert headers["ce_id"] == doomed.id.encode()


async def test_one_bad_event_in_a_group_does_not_take_its_neighbours_with_it(
    db: Database, settings: ServiceSettings, unique: Callable[[str], str]
) -> None:
    topic, group = unique("topic"), unique("group")
    events = [received(title="bad" if n == 7 else f"ok-{n}") for n in range(20)]

    async def picky(session: AsyncSession, event: Event) -> None:
        await record_effect(session, event)
        if event.data.title == "bad":  # type: ignore[attr-defined]
            raise ValueError("cannot handle this one")

    redelivered = events[3]  # a second copy inside the same batch
    await produce(
        settings.kafka_bootstrap_servers,
        topic,
        *((event.value(), event.headers()) for event in [*events, redelivered]),
    )

    consumer = await consume_until(
        db,
        settings,
        topic,
        picky,
        lambda stats: stats.processed + stats.dead_lettered >= 20,
        group=group,
    )
    assert consumer.stats.processed == 19 and consumer.stats.dead_lettered == 1
    for event in events:
        assert await count_effects(db, event.complaint_id) == (
            0 if event.data.title == "bad" else 1
        )


async def test_relay_republishes_what_a_restarted_broker_forgot_in_order(
    db: Database, database_url: str
) -> None:
    broker = Broker(port=free_port()).start()
    settings = make_settings(broker.bootstrap, database_url, outbox_topic_check_s=0.2)
    relay = OutboxRelay(db, settings)
    complaint_id = uuid4()
    first, second = received(complaint_id, title="before"), received(complaint_id, title="after")
    task = asyncio.create_task(relay.run())
    try:
        await stage(db, first)
        records = await read_topic(
            broker.bootstrap, "tousu.complaints", until=lambda rs: bool(ids_on(rs, complaint_id))
        )
        assert ids_on(records, complaint_id) == [first.id]

        broker.stop()
        broker = Broker(port=broker.port).start()  # memory-only: comes back empty
        await stage(db, second)
        records = await read_topic(
            broker.bootstrap,
            "tousu.complaints",
            until=lambda rs: ids_on(rs, complaint_id)[-2:] == [first.id, second.id],
            timeout=30,
        )
        # The whole retained history comes again, in order. An event sent in the
        # moment before the relay noticed the restart may also precede it once.
        ids = ids_on(records, complaint_id)
        assert ids[-2:] == [first.id, second.id]
        assert set(ids) == {first.id, second.id} and len(ids) <= 3
    finally:
        assert await stop_tasks([task], 30, what="outbox relay") == []
        await relay.close()
        broker.stop()


async def test_an_idle_relay_checks_the_topics_on_time_and_republishes_without_a_commit(
    db: Database, database_url: str
) -> None:
    """The relay polls the table seldom (other processes' rows only), but it still
    notices a broker that restarted empty within ``outbox_topic_check_s`` and sends
    the retained events again at once, with no commit of this process to wake it."""
    broker = Broker(port=free_port()).start()
    settings = make_settings(
        broker.bootstrap, database_url, outbox_topic_check_s=0.2, outbox_poll_interval_s=600
    )
    relay = OutboxRelay(db, settings)
    complaint_id = uuid4()
    event = received(complaint_id, title="retained")
    task = asyncio.create_task(relay.run())
    try:
        await stage(db, event)  # the commit wakes the relay: out at once, no poll needed
        records = await read_topic(
            broker.bootstrap, "tousu.complaints", until=lambda rs: bool(ids_on(rs, complaint_id))
        )
        assert ids_on(records, complaint_id) == [event.id]

        broker.stop()
        broker = Broker(port=broker.port).start()  # memory-only: comes back empty
        records = await read_topic(
            broker.bootstrap,
            "tousu.complaints",
            until=lambda rs: bool(ids_on(rs, complaint_id)),
            timeout=30,
        )
        assert ids_on(records, complaint_id) == [event.id]
    finally:
        assert await stop_tasks([task], 30, what="outbox relay") == []
        await relay.close()
        broker.stop()


@asynccontextmanager
async def group_member(settings: ServiceSettings, group: str) -> AsyncIterator[AIOKafkaConsumer]:
    """A consumer in ``group`` with no subscription: to set or read the group's offsets."""
    member = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=group,
        enable_auto_commit=False,
    )
    await member.start()
    try:
        yield member
    finally:
        await member.stop()


async def commit_group_offset(
    settings: ServiceSettings, group: str, tp: TopicPartition, offset: int
) -> None:
    async with group_member(settings, group) as member:
        member.assign([tp])
        await member.commit({tp: OffsetAndMetadata(offset, "")})


async def test_a_consumer_whose_position_is_past_the_log_reads_the_partition_again(
    db: Database, settings: ServiceSettings, unique: Callable[[str], str]
) -> None:
    """The local broker restarted empty: the group's committed offset (or a running
    consumer's position) lies past the new log's end, and Tansu answers such a
    fetch with nothing, not "offset out of range". The consumer notices and reads
    the partition from its start, so the events published since are applied."""
    topic, group = unique("forgot"), unique("group")
    settings = settings.model_copy(
        update={"kafka_topic_partitions": 1, "consumer_position_check_s": 0.2}
    )
    await ensure_topics(settings, [topic])
    # What the group committed on the broker before it restarted: offset 40.
    await commit_group_offset(settings, group, TopicPartition(topic, 0), 40)
    events = [received() for _ in range(3)]
    for event in events:
        await produce_event(settings.kafka_bootstrap_servers, topic, event)

    consumer = await consume_until(
        db, settings, topic, record_effect, lambda stats: stats.processed >= 3, group=group
    )

    assert consumer.stats.processed == 3
    for event in events:
        assert await count_effects(db, event.complaint_id) == 1


async def test_a_rewind_past_the_log_is_committed_so_a_rebalance_does_not_undo_it(
    db: Database, settings: ServiceSettings, unique: Callable[[str], str]
) -> None:
    """After the local broker restarted empty, the group's committed offset lies past
    the new log. Moving only the consumer's position back is not enough: the next
    rebalance starts the consumer at the committed offset again, past the log, and
    it reads nothing more (r34's broker-restart fault test: stuck for minutes).
    The rewind is committed, so a consumer that joins the group next starts at the
    log's beginning."""
    topic, group = unique("forgot"), unique("group")
    settings = settings.model_copy(
        update={"kafka_topic_partitions": 1, "consumer_position_check_s": 0.2}
    )
    await ensure_topics(settings, [topic])
    tp = TopicPartition(topic, 0)

    async def committed_offset() -> int | None:
        async with group_member(settings, group) as reader:
            return await reader.committed(tp)

    await commit_group_offset(settings, group, tp, 40)
    for _ in range(2):
        await produce_event(settings.kafka_bootstrap_servers, topic, received())
    assert await committed_offset() == 40

    consumer = InboxConsumer(
        db, settings, group_id=group, topics=[topic], handlers={"complaint.received": record_effect}
    )
    await consumer.start()
    try:
        fetched: list[Any] = []

        async def rewound() -> bool:
            # fetch only: nothing is applied or committed by the consumer's own loop
            batch = await consumer.fetch(200)
            fetched.extend(record for records in batch.values() for record in records)
            return bool(fetched)

        await eventually_async(rewound, timeout=60, interval=0.1, what="the rewind")
        assert [record.offset for record in fetched] == [0, 1]
    finally:
        await consumer.stop()
    assert await committed_offset() == 0


async def test_offsets_under_steady_traffic_are_committed_at_most_once_per_interval(
    db: Database, settings: ServiceSettings, unique: Callable[[str], str]
) -> None:
    """An offset commit per fetch was a broker round trip per event. The first batch
    after a quiet spell is committed at once; the next ones, within the interval,
    wait until a fetch brings nothing (or the interval has passed)."""
    topic, group = unique("topic"), unique("group")
    settings = settings.model_copy(
        update={"kafka_topic_partitions": 1, "consumer_commit_interval_s": 3600}
    )
    await ensure_topics(settings, [topic])
    tp = TopicPartition(topic, 0)

    async def committed_offset() -> int | None:
        async with group_member(settings, group) as reader:
            return await reader.committed(tp)

    consumer = InboxConsumer(
        db, settings, group_id=group, topics=[topic], handlers={"complaint.received": record_effect}
    )
    await consumer.start()
    try:
        await produce_event(settings.kafka_bootstrap_servers, topic, received())
        await eventually_async(
            lambda: _applied_one_batch(consumer, 1), timeout=60, interval=0, what="first event"
        )
        assert await committed_offset() == 1  # first commit: at once

        await produce_event(settings.kafka_bootstrap_servers, topic, received())
        await eventually_async(
            lambda: _applied_one_batch(consumer, 2), timeout=60, interval=0, what="second event"
        )
        assert await committed_offset() == 1  # within the interval: deferred

        # A fetch that brings nothing commits what was deferred.
        async def idle_poll_committed() -> bool:
            return await consumer.poll_once(timeout_ms=200) == 0 and (await committed_offset() == 2)

        await eventually_async(idle_poll_committed, timeout=60, interval=0, what="idle commit")
    finally:
        await consumer.stop()
    assert consumer.stats.processed == 2


async def _applied_one_batch(consumer: InboxConsumer, processed: int) -> bool:
    """One fetch-apply-commit round with records in it; True once ``processed`` are applied."""
    if await consumer.poll_once(timeout_ms=200) == 0:
        return False
    return consumer.stats.processed >= processed
