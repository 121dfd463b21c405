"""Two routing replicas on PostgreSQL, one consumer group: a customer who reports
the same problem twice within seconds (the hotline and the web form, say) gets
one triaged complaint and one linked duplicate — even when the two repeats are
handled at the same moment by different replicas.

Each pair's two ``complaint.received`` events go to partitions 2k and 2k+1,
which aiokafka's round-robin assignor gives to different members of a
two-member group, and are sent together, so both replicas check for duplicates
at the same time. Without a lock on the duplicate-candidate key each sees no
open complaint of that customer (the other has not committed) and both triage.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import pytest
from aiokafka import AIOKafkaProducer

from tousu_common.devstack import SERVICES, Stack, free_port
from tousu_common.events import new_event
from tousu_common.events.catalog import Channel, ComplaintReceived
from tousu_common.testing.helpers import header, read_topic

pytestmark = pytest.mark.integration

ROUTING = next(spec for spec in SERVICES if spec.name == "routing")
PAIRS = 12
PARTITIONS = 6
PAIR_INTERVAL_S = 0.25


@pytest.fixture
def two_replicas(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    cluster = request.getfixturevalue("postgres")
    stack = Stack(
        var_dir=tmp_path,
        services=(ROUTING,),
        database_urls={"routing": cluster.create_database(f"routing_{secrets.token_hex(4)}")},
        ports={"routing": free_port()},
        replicas={"routing": 2},
        extra_env={"TOUSU_KAFKA_TOPIC_PARTITIONS": str(PARTITIONS)},
    )
    stack.start(timeout=120)
    yield stack
    stack.stop()


def pair(n: int) -> tuple[ComplaintReceived, ComplaintReceived]:
    customer = uuid4()
    first_at = datetime(2027, 3, 1, 2, 0, tzinfo=UTC) + timedelta(minutes=n)
    common = {
        "title": "发动机漏油",
        "description": f"第{n}台车：新车行驶不到三千公里，发动机缸盖处持续漏油，请尽快处理。",
        "product_model": "YC6K",
        "serial_number": f"SN-{n:04d}",
        "customer_id": customer,
    }
    return (
        ComplaintReceived(
            complaint_id=uuid4(),
            reference=f"TS-2027-{2 * n:06d}",
            channel=Channel.hotline,
            received_at=first_at,
            **common,
        ),
        ComplaintReceived(
            complaint_id=uuid4(),
            reference=f"TS-2027-{2 * n + 1:06d}",
            channel=Channel.web,
            received_at=first_at + timedelta(seconds=2),
            **common,
        ),
    )


async def publish_pairs(bootstrap: str, pairs: list[tuple[ComplaintReceived, ...]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    await producer.start()
    try:
        for n, members in enumerate(pairs):
            sends = []
            for offset, payload in enumerate(members):
                event = new_event(payload, source="tousu/intake")
                sends.append(
                    await producer.send(
                        event.topic,
                        event.value(),
                        key=event.key,
                        headers=event.headers(),
                        partition=(2 * n + offset) % PARTITIONS,
                    )
                )
            await asyncio.gather(*sends)
            await asyncio.sleep(PAIR_INTERVAL_S)
    finally:
        await producer.stop()


def applied_received(stack: Stack, name: str) -> int:
    path = stack.log_path(name)
    if not path.exists():
        return 0
    return sum(
        1
        for line in path.read_text(errors="replace").splitlines()
        if '"event applied"' in line and "complaint.received" in line
    )


def test_near_simultaneous_repeats_on_two_replicas_are_linked_not_both_triaged(
    two_replicas: Stack,
) -> None:
    bootstrap = two_replicas.bootstrap or ""
    pairs = [pair(n) for n in range(PAIRS)]
    asyncio.run(publish_pairs(bootstrap, pairs))
    ids = {str(p.complaint_id) for members in pairs for p in members}

    def decided(records: list) -> dict[str, str]:
        out: dict[str, str] = {}
        for record in records:
            kind = header(record, "ce_type")
            if kind in ("complaint.triaged", "complaint.duplicate_linked"):
                out[json.loads(record.value)["complaint_id"]] = kind or ""
        return out

    records = asyncio.run(
        read_topic(
            bootstrap,
            "tousu.routing",
            until=lambda rs: ids <= set(decided(rs)),
            timeout=90,
        )
    )
    outcome = decided(records)
    assert ids <= set(outcome), f"undecided: {ids - set(outcome)}"
    per_pair: dict[int, list[str]] = defaultdict(list)
    for n, members in enumerate(pairs):
        for payload in members:
            per_pair[n].append(outcome[str(payload.complaint_id)])
    both_triaged = [n for n, kinds in per_pair.items() if kinds.count("complaint.triaged") == 2]
    assert not both_triaged, f"pairs triaged twice: {both_triaged} of {PAIRS}"
    for n, kinds in per_pair.items():
        assert sorted(kinds) == ["complaint.duplicate_linked", "complaint.triaged"], (n, kinds)
    # Both replicas did the work (the pairs really were split between them).
    assert applied_received(two_replicas, "routing") > 0
    assert applied_received(two_replicas, "routing#2") > 0
