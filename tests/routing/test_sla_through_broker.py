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
from zoneinfo import ZoneInfo

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


def test_a_complaint_received_just_before_a_2027_holiday_is_due_after_it(
    routing_stack: Stack,
) -> None:
    """Friday 2027-04-02 16:00 (Shanghai), an oil leak (important: one working day
    for the first response): Monday 4-5 is Qingming (清明), so the first response is
    due Tuesday 4-6 16:00 — not Monday. A Spring Festival complaint of the same
    kind, received Thursday 2027-02-04 16:00, is due only after the holidays."""
    import httpx

    from tousu_common.auth import mint_token

    bootstrap = routing_stack.bootstrap or ""
    shanghai = ZoneInfo("Asia/Shanghai")

    def oil_leak(reference: str, received_at: datetime) -> ComplaintReceived:
        return ComplaintReceived(
            complaint_id=uuid4(),
            reference=reference,
            channel=Channel.hotline,
            received_at=received_at,
            title="发动机漏油",
            description="新车行驶不到三千公里，发动机缸盖处持续漏油。",
            product_model="YC6K",
        )

    qingming = oil_leak("TS-2027-009101", datetime(2027, 4, 2, 16, tzinfo=shanghai))
    spring = oil_leak("TS-2027-009102", datetime(2027, 2, 4, 16, tzinfo=shanghai))
    asyncio.run(publish(bootstrap, qingming))
    asyncio.run(publish(bootstrap, spring))

    def triaged(records: list) -> dict[str, dict]:
        return {
            payload["complaint_id"]: payload
            for payload in (
                json.loads(r.value) for r in records if header(r, "ce_type") == "complaint.triaged"
            )
        }

    wanted = {str(qingming.complaint_id), str(spring.complaint_id)}
    records = asyncio.run(
        read_topic(
            bootstrap, "tousu.routing", until=lambda rs: wanted <= set(triaged(rs)), timeout=90
        )
    )
    events = triaged(records)
    assert wanted <= set(events), f"not triaged within 90 s: {wanted - set(events)}"
    due = datetime.fromisoformat(events[str(qingming.complaint_id)]["first_response_due"])
    assert due == datetime(2027, 4, 6, 16, tzinfo=shanghai)
    assert events[str(qingming.complaint_id)]["urgency"] == "important"
    # Spring Festival: 除夕 (Fri 2-5) to 初三 (Mon 2-8) are off by law, 2-9 and 2-10 in
    # lieu of 初一/初二 on the weekend (the statutory estimate; no notice yet).
    due = datetime.fromisoformat(events[str(spring.complaint_id)]["first_response_due"])
    assert due == datetime(2027, 2, 11, 16, tzinfo=shanghai)

    # Readiness says whether next year's notice is known; entering it makes it ready.
    token = mint_token(routing_stack.jwt_secret, subject="admin-1", roles=["admin"])
    admin = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=routing_stack.url("routing"), timeout=10) as client:
        today = datetime.now(shanghai).date()
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        if (today.year, today.month) == (2026, 12):
            assert ready.json()["status"] == "degraded"
            assert "2027" in ready.json()["checks"]["calendar"]
        notice = {
            "year": 2027,
            "source": "test notice (not the State Council's)",
            "holidays": [f"2027-02-{d:02d}" for d in range(5, 12)],
            "makeup_working_days": ["2027-02-20"],
        }
        answer = client.put("/v1/calendar/notices/2027", json=notice, headers=admin)
        assert answer.status_code == 201, answer.text
        if today.year in (2026, 2027) and (today.year, today.month) != (2027, 12):
            ready = client.get("/readyz").json()
            assert ready["status"] == "ready", ready
            assert ready["checks"]["calendar"] == "ok"
