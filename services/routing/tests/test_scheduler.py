"""The SLA scheduler on both backends: warning at 80 %, breach and escalation at
100 %, each once, whatever the number of polls; paused and stopped clocks stay quiet."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY

from tousu_common.db import Database
from tousu_common.events.catalog import CustomerWaitStarted, FirstResponseRecorded
from tousu_common.lifecycle import stop_tasks
from tousu_common.testing.wait import eventually_async
from tousu_routing.entrypoints.scheduler import SlaScheduler

from .conftest import MONDAY_10, Desk, received
from .test_desk import case_fields, staged

pytestmark = pytest.mark.integration

URGENT = {"title": "车辆抛锚", "description": "发动机故障，车辆抛锚在国道上，整个车队停运。"}


async def sla_events(db: Database) -> list[tuple[str, str | None]]:
    return [
        (kind, payload.get("clock"))
        for kind, payload in await staged(db)
        if kind.startswith("sla.") or kind == "complaint.escalated"
    ]


def sla_counted(kind: str) -> float:
    labels = {"service": "routing", "kind": kind}
    return REGISTRY.get_sample_value("tousu_sla_events_total", labels) or 0.0


async def test_warning_then_breach_once_each(desk: Desk, db: Database) -> None:
    warnings, breaches = sla_counted("warning"), sla_counted("breached")
    payload = received(**URGENT)
    await desk.deliver(payload)
    scheduler = SlaScheduler(db, desk.routing)
    # Urgent first response: 2 clock hours → warning at 1h36m, breach at 2h.
    assert await scheduler.tick(MONDAY_10 + timedelta(minutes=95)) == 0
    assert await scheduler.tick(MONDAY_10 + timedelta(minutes=96)) == 1
    assert await scheduler.tick(MONDAY_10 + timedelta(minutes=100)) == 0
    assert await sla_events(db) == [("sla.warning", "first_response")]
    assert await scheduler.tick(MONDAY_10 + timedelta(hours=2)) == 2
    for _ in range(3):
        assert await scheduler.tick(MONDAY_10 + timedelta(hours=3)) == 0
    events = await staged(db)
    escalated = [p for kind, p in events if kind == "complaint.escalated"]
    assert await sla_events(db) == [
        ("sla.warning", "first_response"),
        ("sla.breached", "first_response"),
        ("complaint.escalated", "first_response"),
    ]
    assert escalated[0]["department"] == "quality" and escalated[0]["to_role"] == "manager"
    assert escalated[0]["by"] == "sla"
    breached = next(p for kind, p in events if kind == "sla.breached")
    assert breached["due_at"].startswith("2026-11-23T04:00:00")
    assert breached["urgency"] == "urgent" and breached["owner_department"] == "quality"
    # the metrics count what was committed, once each like the events
    assert (sla_counted("warning") - warnings, sla_counted("breached") - breaches) == (1, 1)


async def test_a_poll_after_a_long_outage_raises_warning_and_breach_together(
    desk: Desk, db: Database
) -> None:
    await desk.deliver(received(**URGENT))
    scheduler = SlaScheduler(db, desk.routing)
    # 30 h later both clocks (2 h and 24 h) are past due.
    assert await scheduler.tick(MONDAY_10 + timedelta(hours=30)) == 6
    assert sorted(await sla_events(db)) == sorted(
        [
            ("sla.warning", "first_response"),
            ("sla.breached", "first_response"),
            ("complaint.escalated", "first_response"),
            ("sla.warning", "resolution_plan"),
            ("sla.breached", "resolution_plan"),
            ("complaint.escalated", "resolution_plan"),
        ]
    )


async def test_an_answered_complaint_raises_nothing(desk: Desk, db: Database) -> None:
    payload = received(**URGENT)
    await desk.deliver(payload)
    await desk.deliver(
        FirstResponseRecorded(
            **case_fields(payload.complaint_id, MONDAY_10 + timedelta(minutes=30))
        )
    )
    scheduler = SlaScheduler(db, desk.routing)
    await scheduler.tick(MONDAY_10 + timedelta(hours=3))
    assert ("sla.warning", "first_response") not in await sla_events(db)


async def test_a_paused_clock_raises_nothing_while_paused(desk: Desk, db: Database) -> None:
    payload = received(**URGENT)
    await desk.deliver(payload)
    await desk.deliver(
        CustomerWaitStarted(
            **case_fields(payload.complaint_id, MONDAY_10 + timedelta(minutes=10)), reason="等照片"
        )
    )
    scheduler = SlaScheduler(db, desk.routing)
    assert await scheduler.tick(MONDAY_10 + timedelta(days=5)) == 0


async def test_scheduler_ticks_by_itself(make_desk: Callable[..., Desk], db: Database) -> None:
    desk = make_desk(sla_poll_interval_s=0.05)
    desk.time.current = MONDAY_10 + timedelta(hours=3)
    await desk.deliver(received(**URGENT))
    task = asyncio.create_task(SlaScheduler(db, desk.routing).run())
    try:
        await eventually_async(lambda: sla_events(db), until=lambda found: len(found) >= 3)
    finally:
        assert await stop_tasks([task], 30, what="scheduler") == []
    assert len(await sla_events(db)) == 3
