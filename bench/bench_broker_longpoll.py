"""How soon a waiting fetch on the local broker returns once a record arrives.

    python bench/bench_broker_longpoll.py            # waits 50 ms … 5 s, 12 records each

A Kafka consumer's fetch waits up to ``fetch_max_wait_ms`` for records; Apache
Kafka answers as soon as one arrives. The idle cost of a running stack is
mostly empty fetches (issue 17), so a longer wait would save CPU only if the
broker answered early. This measures it: a consumer per wait value on a
one-partition topic, and a record produced 0.37 s after each delivery; the time
from the producer's acknowledgement to the consumer's delivery is what a
complaint would wait at each hop. Loopback only; every loop is bounded.
"""

from __future__ import annotations

import asyncio
import statistics
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tousu_common.devstack import Broker

WAITS_MS = (50, 100, 250, 500, 1000, 2000, 5000)
RECORDS = 12
PAUSE_S = 0.37  # between a delivery and the next record: off any round number


async def measure(bootstrap: str) -> list[tuple[int, float, float]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic("longpoll", 1, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await producer.start()
    rows = []
    try:
        for wait in WAITS_MS:
            consumer = AIOKafkaConsumer(
                "longpoll",
                bootstrap_servers=bootstrap,
                group_id=f"longpoll-{wait}",
                fetch_max_wait_ms=wait,
                auto_offset_reset="latest",
            )
            await consumer.start()
            try:
                await consumer.getmany(timeout_ms=1000)  # assigned, positioned
                latencies = []
                for _ in range(RECORDS):
                    await asyncio.sleep(PAUSE_S)
                    await producer.send_and_wait("longpoll", b"x")
                    sent = time.perf_counter()
                    deadline = sent + 30
                    while time.perf_counter() < deadline:
                        if await consumer.getmany(timeout_ms=5000):
                            break
                    latencies.append((time.perf_counter() - sent) * 1000)
            finally:
                await consumer.stop()
            rows.append((wait, statistics.median(latencies), max(latencies)))
            print(f"fetch_max_wait_ms {wait}: p50 {rows[-1][1]:.0f} ms", flush=True)
    finally:
        await producer.stop()
    return rows


def main() -> int:
    broker = Broker().start()
    try:
        rows = asyncio.run(measure(broker.bootstrap))
    finally:
        broker.stop()
    print("\n| fetch_max_wait_ms | record → delivered p50 (ms) | max (ms) |")
    print("|---|---|---|")
    for wait, p50, worst in rows:
        print(f"| {wait} | {p50:.0f} | {worst:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
