"""Through the real broker: a complaint nobody answers raises exactly one warning,
one breach and one escalation — even when routing is killed and restarted between
the warning and the breach. Routing runs as its own process with tiny SLA
durations and a fast scheduler; the complaint is published as intake would."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest
from aiokafka import AIOKafkaProducer

from tousu_common.devstack import SERVICES, Stack, free_port
from tousu_common.events import new_event
from tousu_common.events.catalog import Channel, ComplaintReceived
from tousu_common.testing.helpers import header, read_topic
from tousu_common.testing.wait import eventually

pytestmark = pytest.mark.integration

ROUTING = next(spec for spec in SERVICES if spec.name == "routing")
# Urgent first response: warning at 2 s, breach at 8 s. The 6 s between them is
# the time the test has to see the warning and kill routing, on a loaded machine.
FIRST_RESPONSE_S = 8
WARNING_FRACTION = 0.25


@pytest.fixture(params=["sqlite", "postgresql"])
def routing_stack(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    database_urls = {}
    if request.param == "postgresql":
        cluster = request.getfixturevalue("postgres")
        database_urls = {"routing": cluster.create_database(f"routing_{secrets.token_hex(4)}")}
    stack = Stack(
        var_dir=tmp_path,
        services=(ROUTING,),
        database_urls=database_urls,
        ports={"routing": free_port()},
        extra_env={
            "TOUSU_KAFKA_TOPIC_PARTITIONS": "3",
            "TOUSU_ROUTING_SLA_POLL_INTERVAL_S": "0.2",
            "TOUSU_ROUTING_SLA_WARNING_FRACTION": str(WARNING_FRACTION),
            "TOUSU_ROUTING_SLA_DURATIONS": json.dumps(
                {"urgent": {"first_response": f"{FIRST_RESPONSE_S}s", "resolution_plan": "1h"}}
            ),
        },
    )
    stack.start(timeout=90)
    yield stack
    stack.stop()


async def publish(bootstrap: str, payload: ComplaintReceived) -> None:
    event = new_event(payload, source="tousu/intake")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            event.topic, event.value(), key=event.key, headers=event.headers()
        )
    finally:
        await producer.stop()


def unanswered() -> ComplaintReceived:
    """An urgent complaint (a breakdown) with no customer: never a duplicate of another."""
    return ComplaintReceived(
        complaint_id=uuid4(),
        reference=f"TS-2027-{secrets.randbelow(10**6):06d}",
        channel=Channel.hotline,
        received_at=datetime.now(UTC),
        title="车辆抛锚",
        description="发动机故障，车辆抛锚在高速上，整个车队停运。",
        product_model="YC6K",
    )


def sla_types(records: list) -> Counter:
    """Distinct events (by CloudEvents id) per type; redeliveries would count once."""
    seen: dict[str, str] = {}
    for record in records:
        seen[header(record, "ce_id") or ""] = header(record, "ce_type") or ""
    return Counter(seen.values())


def test_unanswered_complaint_warns_once_and_breaches_once_across_a_restart(
    routing_stack: Stack,
) -> None:
    bootstrap = routing_stack.bootstrap or ""
    complaint = unanswered()
    key = str(complaint.complaint_id).encode()
    asyncio.run(publish(bootstrap, complaint))

    def count(records: list, kind: str) -> int:
        return sla_types([r for r in records if r.key == key])[kind]

    records = asyncio.run(
        read_topic(
            bootstrap, "tousu.routing", until=lambda rs: count(rs, "sla.warning") >= 1, timeout=60
        )
    )
    assert count(records, "complaint.triaged") == 1
    triaged = next(
        json.loads(r.value)
        for r in records
        if r.key == key and header(r, "ce_type") == "complaint.triaged"
    )
    assert triaged["urgency"] == "urgent"
    assert triaged["first_response_due"] is not None
    assert count(records, "sla.warning") == 1 and count(records, "sla.breached") == 0

    # Killed between the warning and the breach; the breach falls due while it is down.
    routing_stack.stop_service("routing", kill=True)
    due = datetime.fromisoformat(triaged["first_response_due"])
    eventually(lambda: datetime.now(UTC) > due, timeout=FIRST_RESPONSE_S + 5, interval=0.1)
    routing_stack.start_service(ROUTING)
    routing_stack.wait_ready(60)

    records = asyncio.run(
        read_topic(
            bootstrap,
            "tousu.routing",
            until=lambda rs: count(rs, "complaint.escalated") >= 1,
            timeout=60,
        )
    )
    # Nothing more after the breach: the restarted scheduler has gone on polling
    # until it raised a later complaint's warning, and raised nothing more for ours.
    marker = unanswered()
    marker_key = str(marker.complaint_id).encode()
    asyncio.run(publish(bootstrap, marker))
    records = asyncio.run(
        read_topic(
            bootstrap,
            "tousu.routing",
            until=lambda rs: any(
                r.key == marker_key and header(r, "ce_type") == "sla.warning" for r in rs
            ),
            timeout=60,
        )
    )
    assert any(r.key == marker_key and header(r, "ce_type") == "sla.warning" for r in records)
    counts = sla_types([r for r in records if r.key == key])
    assert counts["sla.warning"] == 1
    assert counts["sla.breached"] == 1
    assert counts["complaint.escalated"] == 1
    assert counts["complaint.triaged"] == 1
    # (The kill may land between the relay's send and its commit: the outbox then
    # sends that record again after the restart — the same event, same id, which
    # subscribers' inboxes drop. What must never happen is a second *decision*.)
    ours = [r for r in records if r.key == key]
    breached = next(json.loads(r.value) for r in ours if header(r, "ce_type") == "sla.breached")
    assert breached["clock"] == "first_response" and breached["owner_department"] == "quality"
    escalated = next(
        json.loads(r.value) for r in ours if header(r, "ce_type") == "complaint.escalated"
    )
    assert (escalated["department"], escalated["to_role"], escalated["by"]) == (
        "quality",
        "manager",
        "sla",
    )
