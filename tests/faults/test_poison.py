"""Poison on tousu.complaints: every consuming group dead-letters it and carries on.

Records that no consumer can decode — not a CloudEvent, an unknown type, a
value that is not JSON, a payload that fails its schema — are put on every
partition, just before a stream of real complaints. Each of the four groups
reading the topic must move every one of them to ``tousu.dlq.<group>`` with
the reason in its headers, and the complaints behind them must still be
carried through once each: no partition is stuck behind its poison.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator

import pytest

from tousu_common.testing.helpers import header, read_topic

from .harness import (
    ComplaintStream,
    FaultStack,
    assert_every_complaint_once,
    produce_raw,
    start_fault_stack,
)

pytestmark = pytest.mark.integration

PARTITIONS = 3  # FAST_RECOVERY_ENV's TOUSU_KAFKA_TOPIC_PARTITIONS
GROUPS = ("tousu-intake-tracking", "tousu-routing", "tousu-rectification", "tousu-notify")


def cloudevent_headers(event_type: str) -> list[tuple[str, bytes]]:
    return [
        ("ce_specversion", b"1.0"),
        ("ce_id", str(uuid.uuid4()).encode()),
        ("ce_source", b"tousu/poisoner"),
        ("ce_type", event_type.encode()),
        ("content-type", b"application/json"),
    ]


POISON = {
    "not a CloudEvent": (b"hello, is this Kafka?", []),
    "unknown type": (b"{}", cloudevent_headers("complaint.teleported")),
    "not JSON": (b"{not json", cloudevent_headers("complaint.received")),
    "invalid payload": (
        json.dumps({"complaint_id": "not-a-uuid", "channel": "carrier pigeon"}).encode(),
        cloudevent_headers("complaint.received"),
    ),
}


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    running = start_fault_stack(tmp_path_factory.mktemp("faults-poison"))
    yield running
    running.stop()


def test_poison_on_every_partition_is_dead_lettered_by_each_group_and_the_stream_flows_on(
    faults: FaultStack,
) -> None:
    keys = {
        f"poison-{kind.replace(' ', '-')}-p{partition}-{uuid.uuid4().hex[:6]}".encode(): (
            partition,
            kind,
        )
        for kind in POISON
        for partition in range(PARTITIONS)
    }
    bootstrap = faults.broker.bootstrap
    asyncio.run(
        produce_raw(
            bootstrap,
            "tousu.complaints",
            [(p, key, *POISON[kind]) for key, (p, kind) in keys.items()],
        )
    )
    with ComplaintStream(faults, count=12, rate=10) as stream:
        pass
    assert_every_complaint_once(faults, stream)

    for group in GROUPS:
        records = asyncio.run(
            read_topic(
                bootstrap,
                f"tousu.dlq.{group}",
                until=lambda rs: set(keys) <= {r.key for r in rs},
                timeout=30,
            )
        )
        dead = {r.key: r for r in records if r.key in keys}
        assert set(dead) == set(keys), f"{group} did not dead-letter {set(keys) - set(dead)}"
        for key, record in dead.items():
            partition, kind = keys[key]
            assert record.value == POISON[kind][0]
            assert header(record, "dlq_consumer") == group
            assert header(record, "dlq_original_topic") == "tousu.complaints"
            assert header(record, "dlq_original_partition") == str(partition)
            assert (header(record, "dlq_error") or "").startswith("undecodable:"), kind
