"""Building aiokafka clients the same way everywhere.

The clients tolerate the local Tansu broker's limits without depending on
them: no idempotent or transactional producer (consumers deduplicate by event
id instead), ``auto_offset_reset="earliest"`` always, and topics created
explicitly because a memory-only broker forgets them on restart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tousu_common.settings import ServiceSettings

log = logging.getLogger(__name__)

TOPIC_ALREADY_EXISTS = 36
#: How long closing one client may take: a producer flushing to a broker that is
#: gone, or a consumer leaving its group, would otherwise wait a request timeout.
CLOSE_TIMEOUT_S = 2.0


async def close_client(client: Any, what: str, timeout: float = CLOSE_TIMEOUT_S) -> None:
    """``client.stop()`` (or ``close()``) within ``timeout``; a failure is logged, not raised."""
    stop = getattr(client, "stop", None) or client.close
    try:
        async with asyncio.timeout(timeout):
            await stop()
    except TimeoutError:
        log.warning(
            "kafka client did not close in time", extra={"client": what, "timeout_s": timeout}
        )
    except Exception as exc:
        log.warning("kafka client failed to close", extra={"client": what, "error": repr(exc)})


def make_producer(settings: ServiceSettings) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=f"{settings.service_name}-producer",
        acks="all",
        enable_idempotence=False,
        linger_ms=2,
        request_timeout_ms=settings.kafka_request_timeout_ms,
    )


def make_consumer(
    settings: ServiceSettings,
    group_id: str,
    topics: Iterable[str],
    *,
    auto_offset_reset: str = "earliest",
) -> AIOKafkaConsumer:
    """``auto_offset_reset="latest"`` only for a consumer that may miss what came
    before its group's first start (the console's live feed); see the module text."""
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=f"{settings.service_name}-consumer",
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset=auto_offset_reset,
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
        request_timeout_ms=max(settings.kafka_request_timeout_ms, 40_000),
        max_poll_records=settings.consumer_batch_size,
    )


class FetchPacing:
    """A consumer's fetch wait: short while records come, long once it has been idle.

    Each fetch a consumer sends is held by the broker for up to its wait; an empty
    answer costs both sides CPU, so at a 50 ms wait an idle stack spent a third of
    a core on fetches (issue 17). Under traffic the short wait stays: the local
    broker answers a waiting fetch after about half its wait whether records came
    or not, so the wait bounds each hop's latency (hop p90 ≈ wait / 2, measured at
    25–500 ms; bench/RESULTS.md 2026-12-07). aiokafka reads the wait each time it
    builds a fetch request, so changing it takes effect from the next fetch; the
    one place this reaches into aiokafka is :meth:`_apply`.

    ``busy_ms`` overrides the short wait for one consumer. A read model nobody
    waits on (the digests, the customer's tracking page) passes the idle wait and
    keeps it under traffic too: each consumer in the 50 ms wait costs the broker
    and itself ~2–3% of a core whatever the traffic (the broker scans every
    partition several times per wait), and a long wait also brings the events in
    bigger groups, one transaction each.
    """

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        settings: ServiceSettings,
        clock: Callable[[], float] = time.monotonic,
        *,
        busy_ms: int | None = None,
    ) -> None:
        self._consumer = consumer
        self.busy_ms = busy_ms or settings.kafka_fetch_max_wait_ms
        self.idle_ms = max(settings.kafka_idle_fetch_max_wait_ms, self.busy_ms)
        self._idle_after_s = settings.kafka_idle_after_s
        self._clock = clock
        self._last_records = clock()
        self.wait_ms = self.busy_ms
        self._apply()

    def observe(self, records: int) -> None:
        """Call after each ``getmany`` with how many records it returned."""
        now = self._clock()
        if records:
            self._last_records = now
            wanted = self.busy_ms
        elif now - self._last_records >= self._idle_after_s:
            wanted = self.idle_ms
        else:
            wanted = self.wait_ms
        if wanted != self.wait_ms:
            self.wait_ms = wanted
            self._apply()

    def _apply(self) -> None:
        fetcher = getattr(self._consumer, "_fetcher", None)
        if fetcher is not None:  # None before start(): the constructor's value holds then
            fetcher._fetch_max_wait_ms = self.wait_ms


async def ensure_topics(settings: ServiceSettings, topics: Iterable[str]) -> list[str]:
    """Create the topics that do not exist yet; return those this call created.

    Idempotent, and races between services are harmless (a topic another
    service created a moment earlier counts as existing).
    """
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=f"{settings.service_name}-admin",
        request_timeout_ms=settings.kafka_request_timeout_ms,
    )
    await admin.start()
    try:
        missing = sorted(set(topics) - set(await admin.list_topics()))
        if not missing:
            return []
        response = await admin.create_topics(
            [
                NewTopic(
                    name,
                    num_partitions=settings.kafka_topic_partitions,
                    replication_factor=settings.kafka_replication_factor,
                )
                for name in missing
            ]
        )
        created = []
        for error in getattr(response, "topic_errors", ()):
            name, code = error[0], error[1]
            if code not in (0, TOPIC_ALREADY_EXISTS):
                raise RuntimeError(f"could not create topic {name}: error code {code}")
            if code == 0:
                created.append(name)
        if created:
            log.info("created topics", extra={"topics": created})
        return created
    finally:
        await close_client(admin, "admin")
