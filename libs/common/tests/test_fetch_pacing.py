"""A consumer waits long per fetch only once it has been idle, and short again as
soon as records come (``tousu_common.messaging.kafka.FetchPacing``)."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from tousu_common.devstack import Broker
from tousu_common.messaging.kafka import FetchPacing, make_consumer
from tousu_common.testing.helpers import settings_for_tests
from tousu_common.testing.wait import eventually_async


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def a_consumer() -> Any:
    """What FetchPacing touches of an AIOKafkaConsumer: the fetcher's wait."""
    return SimpleNamespace(_fetcher=SimpleNamespace(_fetch_max_wait_ms=None))


def pacing_for(
    consumer: Any, clock: Clock, *, busy_ms: int | None = None, **overrides: Any
) -> FetchPacing:
    values = {
        "kafka_fetch_max_wait_ms": 50,
        "kafka_idle_fetch_max_wait_ms": 500,
        "kafka_idle_after_s": 2.0,
        **overrides,
    }
    settings = settings_for_tests("127.0.0.1:1", "sqlite+aiosqlite://", **values)
    return FetchPacing(consumer, settings, clock=clock, busy_ms=busy_ms)


def test_a_consumer_starts_with_the_short_wait() -> None:
    consumer = a_consumer()
    pacing_for(consumer, Clock())
    assert consumer._fetcher._fetch_max_wait_ms == 50


def test_empty_fetches_switch_to_the_long_wait_only_after_the_idle_time() -> None:
    consumer, clock = a_consumer(), Clock()
    pacing = pacing_for(consumer, clock)
    clock.now += 1.9
    pacing.observe(0)
    assert consumer._fetcher._fetch_max_wait_ms == 50
    clock.now += 0.2
    pacing.observe(0)
    assert consumer._fetcher._fetch_max_wait_ms == 500


def test_the_next_record_brings_back_the_short_wait() -> None:
    consumer, clock = a_consumer(), Clock()
    pacing = pacing_for(consumer, clock)
    clock.now += 10
    pacing.observe(0)
    pacing.observe(3)
    assert consumer._fetcher._fetch_max_wait_ms == 50
    clock.now += 1  # records a second ago: still busy
    pacing.observe(0)
    assert consumer._fetcher._fetch_max_wait_ms == 50


def test_an_idle_wait_below_the_busy_one_is_raised_to_it() -> None:
    consumer, clock = a_consumer(), Clock()
    pacing = pacing_for(consumer, clock, kafka_idle_fetch_max_wait_ms=10)
    clock.now += 10
    pacing.observe(0)
    assert consumer._fetcher._fetch_max_wait_ms == 50


def test_a_read_model_given_the_long_wait_keeps_it_while_records_come() -> None:
    """A read model nobody waits on (digests, the tracking page) fetches seldom and
    in bigger groups, whatever the traffic."""
    consumer, clock = a_consumer(), Clock()
    pacing = pacing_for(consumer, clock, busy_ms=500)
    assert consumer._fetcher._fetch_max_wait_ms == 500
    pacing.observe(3)
    assert consumer._fetcher._fetch_max_wait_ms == 500
    clock.now += 10
    pacing.observe(0)
    pacing.observe(1)
    assert consumer._fetcher._fetch_max_wait_ms == 500


def test_a_busy_wait_above_the_idle_one_is_kept_when_idle() -> None:
    consumer, clock = a_consumer(), Clock()
    pacing = pacing_for(consumer, clock, busy_ms=800)
    clock.now += 10
    pacing.observe(0)
    assert consumer._fetcher._fetch_max_wait_ms == 800


@pytest.mark.integration
async def test_an_idle_consumer_gets_a_record_before_its_long_wait_ends(broker: Broker) -> None:
    """The broker answers a waiting fetch when a record comes, so the long idle wait
    costs the first event after a quiet spell little (issue 17's measurement). Best
    of three rounds, so a loaded machine's scheduling delay does not decide it."""
    settings = settings_for_tests(
        broker.bootstrap,
        "sqlite+aiosqlite://",
        kafka_topic_partitions=1,
        kafka_idle_fetch_max_wait_ms=500,
        kafka_idle_after_s=0.3,
    )
    topic = f"pacing-{time.monotonic_ns()}"
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
    await producer.start()
    consumer = make_consumer(settings, f"pacing-{topic}", [topic])
    await producer.send_and_wait(topic, b"first")  # creates the topic
    await consumer.start()
    try:
        pacing = FetchPacing(consumer, settings)

        async def fetch(timeout_ms: int) -> list[bytes]:
            batch = await consumer.getmany(timeout_ms=timeout_ms)
            pacing.observe(sum(len(records) for records in batch.values()))
            return [record.value for records in batch.values() for record in records]

        waits = []
        for round_ in range(3):
            await eventually_async(
                lambda: fetch(100), until=lambda _: pacing.wait_ms == 500, timeout=30
            )
            await fetch(100)  # now a fetch with the long wait is in flight
            await producer.send_and_wait(topic, f"round {round_}".encode())
            sent = time.monotonic()
            values = await fetch(10_000)
            waits.append(time.monotonic() - sent)
            assert values == [f"round {round_}".encode()]
            assert pacing.wait_ms == settings.kafka_fetch_max_wait_ms
        assert min(waits) < 0.45, f"records waited {waits} s with a 0.5 s fetch wait"
    finally:
        await consumer.stop()
        await producer.stop()
