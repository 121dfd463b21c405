"""Small helpers for tests that talk to the real broker."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord

from tousu_common.settings import ServiceSettings
from tousu_common.testing.wait import eventually_async

if TYPE_CHECKING:
    from tousu_common.messaging.inbox import InboxConsumer


def settings_for_tests(bootstrap: str, database_url: str, **overrides: Any) -> ServiceSettings:
    """Settings with short timeouts and backoffs, so failure paths run quickly."""
    values: dict[str, Any] = {
        "service_name": "test",
        "environment": "test",
        "jwt_secret": "test-secret-" + "x" * 40,
        "database_url": database_url,
        "kafka_bootstrap_servers": bootstrap,
        "kafka_topic_partitions": 3,
        "consumer_backoff_base_s": 0.01,
        "consumer_backoff_max_s": 0.05,
        "consumer_max_attempts": 3,
        "outbox_poll_interval_s": 0.05,
        "kafka_request_timeout_ms": 3000,
        **overrides,
    }
    return ServiceSettings(**values)


async def read_topic(
    bootstrap: str,
    topic: str,
    *,
    until: Callable[[list[ConsumerRecord]], bool],
    timeout: float = 20,
) -> list[ConsumerRecord]:
    """Every record on ``topic`` from the beginning, read until ``until(records)`` holds
    (or the timeout passes: the caller's assertion then says what is missing)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=20,
    )
    deadline = time.monotonic() + timeout
    records: list[ConsumerRecord] = []
    try:
        # Bounded too: a broker that never answers must fail the caller, not hang it.
        await asyncio.wait_for(consumer.start(), timeout)
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for partition_records in batch.values():
                records.extend(partition_records)
            if until(records):
                break
            await asyncio.sleep(0)
        return records
    finally:
        await consumer.stop()


async def poll_until(
    consumer: InboxConsumer,
    done: Callable[[], bool | Awaitable[bool]],
    *,
    timeout: float = 60,
) -> None:
    """Drive ``consumer`` one poll at a time (it runs no loop of its own) until
    ``done()`` (a plain or a coroutine function, e.g. one that reads the database);
    the failure shows the consumer's stats. Not a second way to wait: it is
    :func:`~tousu_common.testing.wait.eventually_async` with a consumer step."""

    async def met() -> bool:
        answer = done()
        return bool(await answer) if inspect.isawaitable(answer) else bool(answer)

    async def step() -> bool:
        if await met():
            return True
        await consumer.poll_once(timeout_ms=200)
        return await met()

    await eventually_async(
        step, timeout=timeout, interval=0, what=lambda: f"consumer stats {consumer.stats}"
    )


async def produce(
    bootstrap: str, topic: str, *records: tuple[bytes | None, list[tuple[str, bytes]]]
) -> None:
    """Put raw ``(value, headers)`` records on ``topic``, all with one key (so one
    partition, in this order) — for tests that feed consumers what they like."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        for value, headers in records:
            await producer.send_and_wait(topic, value, key=b"k", headers=headers)
    finally:
        await producer.stop()


def header(record: ConsumerRecord, name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name:
            return value.decode()
    return None
