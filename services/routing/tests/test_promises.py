"""What the customer was promised: a reopened complaint's resolution-plan clock
runs again, and a stop that arrives after a breach is recorded and shown."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from tousu_common.db import Database
from tousu_common.events.catalog import (
    ComplaintCategory,
    ComplaintClosed,
    ComplaintReopened,
    FirstResponseRecorded,
    ResolutionAction,
    ResolutionActionKind,
    ResolutionProposed,
    Urgency,
)
from tousu_routing.entrypoints.scheduler import SlaScheduler

from .conftest import Desk, received
from .test_desk import case_fields, staged

pytestmark = pytest.mark.integration

SHANGHAI = ZoneInfo("Asia/Shanghai")
Auth = Callable[..., dict[str, str]]
URGENT = {"title": "车辆抛锚", "description": "发动机故障，车辆抛锚在国道上，整个车队停运。"}


def sh(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2027, month, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


def proposed(complaint_id, at: datetime, version: int = 1) -> ResolutionProposed:  # type: ignore[no-untyped-def]
    return ResolutionProposed(
        **case_fields(complaint_id, at),
        plan_version=version,
        actions=[
            ResolutionAction(
                kind=ResolutionActionKind.repair, description="更换缸盖垫片", due_date=at.date()
            )
        ],
    )


async def clocks_of(client: httpx.AsyncClient, auth: Auth, complaint_id) -> dict:  # type: ignore[no-untyped-def]
    answer = await client.get(f"/v1/triage/{complaint_id}", headers=auth("csc"))
    assert answer.status_code == 200, answer.text
    return {c["clock"]: c for c in answer.json()["clocks"]}


async def test_a_reopened_complaint_owes_a_new_plan_on_a_new_clock(
    desk: Desk, db: Database, client: httpx.AsyncClient, auth: Auth
) -> None:
    # Important (oil leak): first response 1 working day, plan 3 working days.
    payload = received(received_at=sh(3, 1, 10))
    await desk.deliver(payload)
    cid = payload.complaint_id
    await desk.deliver(FirstResponseRecorded(**case_fields(cid, sh(3, 1, 11))))
    await desk.deliver(proposed(cid, sh(3, 2, 10)))
    await desk.deliver(
        ComplaintClosed(
            **case_fields(cid, sh(3, 5, 10)),
            category=ComplaintCategory.product_quality,
            urgency=Urgency.important,
            owner_department="quality",
            opened_at=sh(3, 1, 10),
        )
    )
    # Reopened on Wednesday 3-10 at 14:00: three working days from then = Monday 3-15 14:00.
    await desk.deliver(ComplaintReopened(**case_fields(cid, sh(3, 10, 14)), reason="问题复发"))
    clocks = await clocks_of(client, auth, cid)
    plan = clocks["resolution_plan"]
    assert plan["state"] == "running" and plan["outcome"] == "running"
    assert datetime.fromisoformat(plan["started_at"]) == sh(3, 10, 14)
    assert datetime.fromisoformat(plan["due_at"]) == sh(3, 15, 14)
    assert plan["breached_at"] is None and plan["stopped_at"] is None
    [first_run] = plan["previous_runs"]
    assert first_run["outcome"] == "met"
    assert datetime.fromisoformat(first_run["stopped_at"] or "") == sh(3, 2, 10)
    # The first response was given; it is not owed again.
    assert clocks["first_response"]["state"] == "stopped"
    assert clocks["first_response"]["outcome"] == "met"

    # The new run warns and breaches on its own.
    scheduler = SlaScheduler(db, desk.routing)
    assert await scheduler.tick(sh(3, 15, 14)) == 3  # warning, breach, escalation
    breached = [p for kind, p in await staged(db, cid) if kind == "sla.breached"]
    assert [p["clock"] for p in breached] == ["resolution_plan"]
    assert datetime.fromisoformat(breached[0]["started_at"]) == sh(3, 10, 14)

    # The revised plan comes an hour late: the breach stands, the stop is recorded.
    await desk.deliver(proposed(cid, sh(3, 15, 15), version=2))
    plan = (await clocks_of(client, auth, cid))["resolution_plan"]
    assert plan["state"] == "stopped" and plan["outcome"] == "met_late"
    assert datetime.fromisoformat(plan["stopped_at"]) == sh(3, 15, 15)
    assert plan["breached_at"] is not None


async def test_a_stop_delivered_after_the_breach_is_recorded_and_shown(
    desk: Desk, db: Database, client: httpx.AsyncClient, auth: Auth
) -> None:
    # Urgent: first response within 2 clock hours, due 12:00.
    payload = received(received_at=sh(6, 1, 10), **URGENT)
    await desk.deliver(payload)
    cid = payload.complaint_id
    scheduler = SlaScheduler(db, desk.routing)
    assert await scheduler.tick(sh(6, 1, 12, 0) + timedelta(seconds=5)) == 3
    # The agent called back at 11:59; the event reached routing after the breach.
    await desk.deliver(FirstResponseRecorded(**case_fields(cid, sh(6, 1, 11, 59))))
    first = (await clocks_of(client, auth, cid))["first_response"]
    assert first["state"] == "stopped"
    assert datetime.fromisoformat(first["stopped_at"]) == sh(6, 1, 11, 59)
    assert first["breached_at"] is not None  # raised, and kept
    assert first["outcome"] == "met"  # in time: only the delivery was late
    # Later polls raise nothing more for it.
    assert await scheduler.tick(sh(6, 1, 13)) == 0

    # The plan clock (24 h) is stopped late: met_late, and shown on the overdue list
    # no more (it is no longer running), while its breach stays recorded.
    assert await scheduler.tick(sh(6, 2, 10, 1)) == 3  # warning, breach, escalation
    await desk.deliver(proposed(cid, sh(6, 2, 16)))
    plan = (await clocks_of(client, auth, cid))["resolution_plan"]
    assert plan["outcome"] == "met_late"
    assert datetime.fromisoformat(plan["stopped_at"]) == sh(6, 2, 16)
    overdue = (await client.get("/v1/worklists/overdue", headers=auth("csc"))).json()
    assert str(cid) not in {item["complaint_id"] for item in overdue["items"]}
