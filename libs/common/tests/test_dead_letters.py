"""Dead letters are kept in the consumer's database and can be re-driven once after a fix:
the inbox consumer and the operator API on the real broker and both databases."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import httpx
import pytest
import sqlalchemy as sa
from aiokafka import TopicPartition
from sqlalchemy.ext.asyncio import AsyncSession

from tousu_common.auth import mint_token
from tousu_common.cli import fetch_ops_status, format_ops_table
from tousu_common.db import Database, new_metadata
from tousu_common.devstack import Broker, free_port
from tousu_common.errors import Conflict
from tousu_common.events import Channel, ComplaintReceived, Event, new_event
from tousu_common.messaging import deadletters
from tousu_common.messaging.inbox import InboxConsumer
from tousu_common.messaging.tables import dead_letter, inbox, messaging_metadata
from tousu_common.settings import ServiceSettings
from tousu_common.testing.helpers import poll_until, produce, read_topic
from tousu_common.testing.helpers import settings_for_tests as make_settings
from tousu_common.testing.wait import eventually_async
from tousu_common.web import create_service_app

pytestmark = pytest.mark.integration

effects_metadata = new_metadata()
effects = sa.Table(
    "dl_effects",
    effects_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
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


class Handler:
    """Records an effect per event; fails for titles in ``broken`` until they are fixed."""

    def __init__(self, *broken: str) -> None:
        self.broken = set(broken)

    async def __call__(self, session: AsyncSession, event: Event) -> None:
        await session.execute(sa.insert(effects).values(event_id=event.id))
        if event.data.title in self.broken:  # type: ignore[attr-defined]
            raise RuntimeError("downstream says no")


def received(title: str) -> Event:
    payload = ComplaintReceived(
        complaint_id=uuid4(),
        reference="TS-2026-000001",
        channel=Channel.hotline,
        received_at=datetime.now(UTC),
        title=title,
        description="发动机漏油",
    )
    return new_event(payload, source="tousu/test")


async def effect_count(db: Database, event: Event) -> int:
    async with db.sessions() as session:
        count = await session.scalar(
            sa.select(sa.func.count()).select_from(effects).where(effects.c.event_id == event.id)
        )
    return int(count or 0)


async def dead_rows(db: Database, group: str) -> list[Any]:
    async with db.sessions() as session:
        result = await session.execute(
            sa.select(dead_letter).where(dead_letter.c.consumer == group).order_by(dead_letter.c.id)
        )
        return list(result.all())


async def in_inbox(db: Database, group: str, event: Event) -> bool:
    async with db.sessions() as session:
        count = await session.scalar(
            sa.select(sa.func.count())
            .select_from(inbox)
            .where(inbox.c.consumer == group, inbox.c.event_id == event.id)
        )
    return bool(count)


def consumer_for(
    db: Database, settings: ServiceSettings, group: str, topic: str, handler: Handler
) -> InboxConsumer:
    return InboxConsumer(
        db, settings, group_id=group, topics=[topic], handlers={"complaint.received": handler}
    )


async def test_failing_handler_is_kept_published_and_committed_then_redriven_once_after_fix(
    db: Database, settings: ServiceSettings, unique: Callable[[str], str]
) -> None:
    topic, group = unique("topic"), unique("group")
    before, doomed, after = received("before"), received("doomed"), received("after")
    handler = Handler("doomed")
    await produce(
        settings.kafka_bootstrap_servers,
        topic,
        *((event.value(), event.headers()) for event in (before, doomed, after)),
    )
    consumer = consumer_for(db, settings, group, topic, handler)
    await consumer.start()
    try:
        await poll_until(
            consumer, lambda: consumer.stats.processed >= 2 and consumer.stats.dead_lettered >= 1
        )
        [row] = await dead_rows(db, group)
        assert consumer._consumer is not None
        committed = await consumer._consumer.committed(TopicPartition(topic, row.source_partition))
    finally:
        await consumer.stop()

    assert (row.status, row.event_id, row.event_type) == ("dead", doomed.id, "complaint.received")
    assert "downstream says no" in row.error
    assert row.attempts == settings.consumer_max_attempts
    assert (row.source_topic, row.value, row.value_encoding) == (
        topic,
        doomed.value().decode(),
        "utf-8",
    )
    assert {"name": "ce_id", "value": doomed.id} in row.headers
    assert committed is not None and committed >= row.source_offset + 1  # the partition moved on
    assert await effect_count(db, before) == 1 and await effect_count(db, after) == 1
    assert await effect_count(db, doomed) == 0
    published = await read_topic(
        settings.kafka_bootstrap_servers, consumer.dlq_topic, until=lambda rs: len(rs) >= 1
    )
    assert [dict(record.headers)["ce_id"] for record in published] == [doomed.id.encode()]

    # Re-driven before the fix: refused, nothing changed, the row remembers the attempt.
    with pytest.raises(deadletters.RedriveFailed, match="downstream says no"):
        await deadletters.redrive(db, [consumer], row.id, by="ops-1")
    [still] = await dead_rows(db, group)
    assert (still.status, still.attempts) == ("dead", row.attempts + 1)
    assert await effect_count(db, doomed) == 0

    handler.broken.clear()  # the fix is deployed
    assert await deadletters.redrive(db, [consumer], row.id, by="ops-1") == {"applied": True}
    assert await effect_count(db, doomed) == 1
    assert await in_inbox(db, group, doomed)
    with pytest.raises(Conflict, match="already redriven by ops-1"):
        await deadletters.redrive(db, [consumer], row.id, by="ops-2")
    assert await effect_count(db, doomed) == 1
    [done] = await dead_rows(db, group)
    assert (done.status, done.redriven_by) == ("redriven", "ops-1")
    assert done.redriven_at is not None


async def test_undecodable_record_is_kept_once_cannot_be_redriven_and_can_be_discarded(
    db: Database, settings: ServiceSettings, unique: Callable[[str], str]
) -> None:
    topic, group, good = unique("topic"), unique("group"), received("fine")
    await produce(
        settings.kafka_bootstrap_servers,
        topic,
        (b"{not json \xff\x00", good.headers()),
        (good.value(), good.headers()),
    )
    consumer = consumer_for(db, settings, group, topic, Handler())
    await consumer.start()
    seen = 0

    async def both_seen() -> int:
        nonlocal seen
        batch = await consumer.fetch(timeout_ms=200)
        offsets = await consumer.apply(batch)
        # The process dies before committing; the batch comes again and is applied again.
        await consumer.apply(batch)
        await consumer.commit(offsets)
        seen += sum(len(records) for records in batch.values())
        return seen

    try:
        await eventually_async(
            both_seen,
            until=lambda n: n >= 2,
            timeout=60,
            interval=0,
            what=lambda: f"consumer stats {consumer.stats}",
        )
    finally:
        await consumer.stop()

    assert consumer.stats.dead_lettered == 2  # published to the DLQ topic at least once ...
    [row] = await dead_rows(db, group)  # ... but recorded once
    assert (row.event_id, row.event_type, row.value_encoding) == (None, None, "base64")
    assert "not JSON" in row.error
    assert await effect_count(db, good) == 1

    with pytest.raises(Conflict, match="undecodable"):
        await deadletters.redrive(db, [consumer], row.id, by="ops-1")
    await deadletters.discard(db, row.id, by="ops-1", reason="a test producer's garbage")
    [gone] = await dead_rows(db, group)
    assert (gone.status, gone.redriven_by, gone.resolution) == (
        "discarded",
        "ops-1",
        "a test producer's garbage",
    )
    with pytest.raises(Conflict, match="already discarded"):
        await deadletters.discard(db, row.id, by="ops-2", reason="again")


@dataclass
class FakeRecord:
    topic: str = "tousu.complaints"
    partition: int = 0
    offset: int = 7
    key: bytes | None = b"k"
    value: bytes | None = b""
    headers: tuple[tuple[str, bytes], ...] = ()


def as_row(values: dict[str, Any]) -> Any:
    """What the table hands back for these values (attribute access), without a database."""
    return type("Row", (), {**values, "id": 1})()


def test_huge_poison_value_is_stored_truncated_and_refused_for_redrive() -> None:
    huge = b"x" * (deadletters.DEAD_LETTER_VALUE_MAX + 10)
    row = deadletters.dead_letter_row("g", FakeRecord(value=huge), "undecodable", attempts=0)
    assert row["value_truncated"] and row["value_size"] == len(huge)
    assert len(row["value"]) == deadletters.DEAD_LETTER_VALUE_MAX
    with pytest.raises(Conflict, match="truncated"):
        deadletters.stored_record(as_row(row))


def test_a_record_stored_as_base64_comes_back_byte_for_byte() -> None:
    record = FakeRecord(value=b"\x00\xffbinary", headers=(("trace", b"\xfe"), ("ce_id", b"1")))
    row = deadletters.dead_letter_row("g", record, "undecodable", attempts=0)
    rebuilt = deadletters.stored_record(as_row(row))
    assert rebuilt.value == record.value and rebuilt.headers == list(record.headers)
    assert row["dedupe_key"].startswith("record:")
    other = deadletters.dead_letter_row("g", FakeRecord(value=b"other"), "x", attempts=0)
    assert other["dedupe_key"] != row["dedupe_key"]  # same offset, another record


async def test_operator_sees_a_dead_letter_and_redrives_it_over_http_after_the_fix(
    db: Database, settings: ServiceSettings, unique: Callable[[str], str]
) -> None:
    topic, group, doomed = unique("topic"), unique("group"), received("doomed")
    handler = Handler("doomed")
    app = create_service_app(
        settings,
        title="test",
        description="a service with one consumer",
        routers=[],
        consumers=lambda database, s: [consumer_for(database, s, group, topic, handler)],
    )
    secret = settings.jwt_secret.get_secret_value()
    admin = {"Authorization": f"Bearer {mint_token(secret, subject='ops-1', roles=['admin'])}"}
    manager = {"Authorization": f"Bearer {mint_token(secret, subject='m-1', roles=['manager'])}"}
    transport = httpx.ASGITransport(app=app)
    await produce(settings.kafka_bootstrap_servers, topic, (doomed.value(), doomed.headers()))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://service") as http,
    ):

        async def ops_status() -> dict[str, Any]:
            return (await http.get("/v1/ops/status", headers=manager)).json()

        def dead_lettered(status: dict[str, Any]) -> bool:
            # The row is written first, then the record goes to the DLQ topic, then the
            # consumer counts it: wait for the whole of it, not for the row alone.
            counted = [c["dead_lettered"] for c in status["consumers"]] == [1]
            dead = status["dead_letters"].get(group, {}).get("dead")
            return status["ready"] and dead == 1 and counted

        status = await eventually_async(ops_status, until=dead_lettered, timeout=90, interval=0.2)
        assert status["service"] == "test" and status["ready"] is True
        assert status["outbox"] == {"pending": 0, "oldest_pending_age_s": None}
        [stats] = status["consumers"]
        assert (stats["group_id"], stats["dead_lettered"], stats["assigned"]) == (group, 1, True)

        listed = (await http.get("/v1/ops/dead-letters", headers=manager)).json()
        [item] = listed["items"]
        assert listed["total"] == 1 and "value" not in item
        detail = (await http.get(f"/v1/ops/dead-letters/{item['id']}", headers=manager)).json()
        assert detail["value"] == doomed.value().decode()

        redrive = f"/v1/ops/dead-letters/{item['id']}/redrive"
        assert (await http.post(redrive, headers=manager)).status_code == 403
        failed = await http.post(redrive, headers=admin)
        assert failed.status_code == 409 and failed.json()["error"]["code"] == "redrive_failed"
        handler.broken.clear()
        done = await http.post(redrive, headers=admin)
        assert done.status_code == 200, done.text
        assert done.json()["applied"] is True
        assert done.json()["dead_letter"]["redriven_by"] == "ops-1"
        again = await http.post(redrive, headers=admin)
        assert again.status_code == 409 and "already redriven" in again.json()["error"]["message"]
        assert await effect_count(db, doomed) == 1

        # The CLI's table, from this service and one that is not running.
        token = mint_token(secret, subject="cli", roles=["admin"])
        async with httpx.AsyncClient(mounts={"http://service": transport}) as cli_http:
            rows = await fetch_ops_status(
                {"test": "http://service", "gone": f"http://127.0.0.1:{free_port()}"},
                token,
                cli_http,
            )
    table = format_ops_table(rows).splitlines()
    ready = "yes" if rows[0]["ready"] else "no"  # a loaded machine may miss the 2 s check
    assert table[1].split() == ["test", ready, "0", "-", "0", "1"]
    assert table[2].split()[:3] == ["gone", "no", "unreachable:"]
