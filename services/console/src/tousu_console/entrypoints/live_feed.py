"""The live feed: every event on the four topics → a :class:`Change` on the hub.

The console owns no complaint data and writes nothing per event, so this is
not an inbox consumer: it reads the CloudEvents headers (``ce_type``,
``ce_subject`` = the complaint; the Kafka key as a fallback), decodes the value
only of the few types that say which department a complaint belongs to, and
publishes to the in-memory hub. Offsets are committed every few seconds; a
group that starts for the first time begins at the end of the topics (a new
console does not replay history to pages).

It has the shape the common runtime expects of a consumer (``group_id``,
``topics``, ``assigned``, ``stats``, ``run()``, ``stop()``), so ``/readyz`` shows
``consumer:tousu-console`` and ``/ops`` its counters.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from tousu_common.events import CATALOG, TOPICS
from tousu_common.messaging.inbox import ConsumerStats
from tousu_common.messaging.kafka import (
    FetchPacing,
    close_client,
    ensure_topics,
    make_consumer,
)
from tousu_common.settings import ServiceSettings
from tousu_console.adapters.live_hub import LiveHub

log = logging.getLogger(__name__)

GROUP_ID = "tousu-console"
#: Types whose payload names the complaint's owner department (read from the value).
OWNER_FIELD = {"complaint.triaged": "owner_department", "complaint.reassigned": "to_department"}
#: Types whose payload names the department they are addressed to (a rectification
#: instruction goes to a department that need not own the complaint; an escalation
#: names the owner's): decoded too, so that department's pages hear of it.
DEPARTMENT_FIELD = frozenset(
    name
    for name, spec in CATALOG.items()
    if "department" in spec.model.model_fields and name not in OWNER_FIELD
)


class Owners:
    """Complaint → (owner department, reference), the most recent ``limit`` complaints."""

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self._map: OrderedDict[str, tuple[str | None, str | None]] = OrderedDict()

    def get(self, complaint_id: str) -> tuple[str | None, str | None]:
        found = self._map.get(complaint_id)
        if found is None:
            return None, None
        self._map.move_to_end(complaint_id)
        return found

    def set(self, complaint_id: str, department: str | None, reference: str | None) -> None:
        self._map[complaint_id] = (department, reference)
        self._map.move_to_end(complaint_id)
        while len(self._map) > self.limit:
            self._map.popitem(last=False)

    def __len__(self) -> int:
        return len(self._map)


def _headers(record: ConsumerRecord) -> dict[str, str]:
    decoded: dict[str, str] = {}
    for name, value in record.headers or ():
        with contextlib.suppress(UnicodeDecodeError, AttributeError):
            decoded[name] = value.decode() if isinstance(value, bytes) else str(value)
    return decoded


def _payload(record: ConsumerRecord) -> dict[str, Any]:
    try:
        value = json.loads(record.value) if record.value is not None else None
    except (ValueError, UnicodeDecodeError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def _text(value: Any, limit: int = 100) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= limit else None


class LiveFeed:
    def __init__(
        self,
        settings: ServiceSettings,
        hub: LiveHub,
        *,
        group_id: str = GROUP_ID,
        topics: Iterable[str] = tuple(TOPICS),
        commit_every_s: float = 5.0,
    ) -> None:
        self.settings = settings
        self.hub = hub
        self.group_id = group_id
        self.topics = list(topics)
        self.commit_every_s = commit_every_s
        self.assigned = asyncio.Event()
        self.stats = ConsumerStats()
        self.owners = Owners()
        self._consumer: AIOKafkaConsumer | None = None

    # -- one record ------------------------------------------------------------------

    def handle(self, record: ConsumerRecord) -> None:
        """Publish the change this record stands for (unknown or foreign records: skipped)."""
        headers = _headers(record)
        event_type = headers.get("ce_type")
        if event_type not in CATALOG:
            self.stats.skipped += 1
            return
        complaint_id = headers.get("ce_subject")
        if not complaint_id and record.key:
            with contextlib.suppress(UnicodeDecodeError):
                complaint_id = record.key.decode()
        complaint_id = _text(complaint_id)
        department, reference = self.owners.get(complaint_id) if complaint_id else (None, None)
        previous = department
        if event_type in OWNER_FIELD or event_type in DEPARTMENT_FIELD:
            payload = _payload(record)
            reference = _text(payload.get("reference"), 50) or reference
            if event_type in OWNER_FIELD:
                department = _text(payload.get(OWNER_FIELD[event_type]), 50) or department
                if complaint_id:
                    self.owners.set(complaint_id, department, reference)
                if event_type == "complaint.reassigned":
                    previous = _text(payload.get("from_department"), 50) or previous
            else:
                department = _text(payload.get("department"), 50) or department
        self.hub.publish(event_type, complaint_id, department, reference)
        if event_type in OWNER_FIELD and previous and previous != department:
            # the department that lost it reloads too: its list no longer has it
            self.hub.publish(event_type, complaint_id, previous, reference)
        self.stats.processed += 1
        self.stats.by_type[event_type] = self.stats.by_type.get(event_type, 0) + 1

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        await ensure_topics(self.settings, self.topics)
        self._consumer = make_consumer(
            self.settings, self.group_id, self.topics, auto_offset_reset="latest"
        )
        await self._consumer.start()

    async def stop(self) -> None:
        """Commit what was read (best effort, briefly), then leave the group."""
        consumer, self._consumer = self._consumer, None
        self.assigned.clear()
        if consumer is None:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(consumer.commit(), 1.0)
        await close_client(consumer, f"{self.group_id} consumer")

    async def run(self) -> None:
        """Read forever; on a broker failure start over."""
        backoff = max(self.settings.consumer_backoff_base_s, 0.1)
        while True:
            try:
                await self.start()
                backoff = max(self.settings.consumer_backoff_base_s, 0.1)
                await self._read()
            except asyncio.CancelledError:
                await self.stop()
                raise
            except Exception as exc:
                log.warning(
                    "live feed failed, restarting",
                    extra={"group_id": self.group_id, "error": repr(exc), "retry_in_s": backoff},
                )
                await self.stop()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.settings.consumer_backoff_max_s)

    async def _read(self) -> None:
        consumer = self._consumer
        if consumer is None:
            raise RuntimeError("start() first")
        last_commit = time.monotonic()
        unsaved = False
        pinned: set[TopicPartition] = set()
        pacing = FetchPacing(consumer, self.settings)
        while True:
            batch = await consumer.getmany(
                timeout_ms=1000, max_records=self.settings.consumer_batch_size
            )
            pacing.observe(sum(len(records) for records in batch.values()))
            assignment = consumer.assignment()
            if assignment - pinned:
                # Commit where a newly assigned partition starts: a partition that had
                # nothing yet would otherwise start at its end again after a restart,
                # and miss what came while the console was down.
                fresh = assignment - pinned
                await consumer.commit({tp: await consumer.position(tp) for tp in fresh})
                pinned = set(assignment)
            if assignment:
                self.assigned.set()
            for records in batch.values():
                for record in records:
                    self.handle(record)
                unsaved = unsaved or bool(records)
            if unsaved and time.monotonic() - last_commit >= self.commit_every_s:
                await consumer.commit()
                last_commit = time.monotonic()
                unsaved = False


def build_consumers(settings: ServiceSettings, hub: LiveHub) -> list[LiveFeed]:
    return [LiveFeed(settings, hub)]
