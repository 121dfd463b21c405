"""Routing's event handlers on SQLite and PostgreSQL: triage, transcription,
duplicates, clocks stopped, paused and resumed, and the outbox they fill."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
import sqlalchemy as sa

from tousu_common.db import Database
from tousu_common.events.catalog import (
    AmendmentKind,
    ComplaintAmended,
    ComplaintCategory,
    ComplaintClosed,
    ComplaintReopened,
    ComplaintWithdrawn,
    CustomerTier,
    CustomerWaitEnded,
    CustomerWaitStarted,
    FirstResponseRecorded,
    ResolutionAction,
    ResolutionActionKind,
    ResolutionProposed,
    Urgency,
)
from tousu_common.messaging.tables import outbox
from tousu_routing.adapters.orm import SlaClockRow, TriageRecordRow
from tousu_routing.adapters.repository import ComplaintRepository
from tousu_routing.domain.model import Complaint, Status

from .conftest import MONDAY_10, Desk, FakeTime, received

pytestmark = pytest.mark.integration


async def staged(
    db: Database, complaint_id: UUID | None = None
) -> list[tuple[str, dict[str, Any]]]:
    import json

    async with db.sessions() as session:
        query = sa.select(outbox.c.event_type, outbox.c.payload, outbox.c.key).order_by(outbox.c.id)
        rows = (await session.execute(query)).all()
    return [
        (row.event_type, json.loads(row.payload))
        for row in rows
        if complaint_id is None or row.key == str(complaint_id)
    ]


async def load(db: Database, complaint_id: UUID) -> Complaint:
    async with db.sessions() as session:
        complaint = await ComplaintRepository(session).get(complaint_id)
    assert complaint is not None
    return complaint


def case_fields(complaint_id: UUID, at: Any) -> dict[str, Any]:
    from uuid import uuid4

    return {
        "complaint_id": complaint_id,
        "reference": "TS-2026-000123",
        "case_id": uuid4(),
        "by": "csc-1",
        "at": at,
    }


async def test_received_complaint_is_triaged_with_its_deadlines(desk: Desk, db: Database) -> None:
    payload = received()
    await desk.deliver(payload)
    [(kind, triaged)] = await staged(db)
    assert kind == "complaint.triaged"
    assert triaged["category"] == "product_quality"
    assert triaged["urgency"] == "important"
    assert triaged["owner_department"] == "quality"
    assert triaged["quality_report_needed"] is True
    assert triaged["rule_id"] == "oil-leak" and triaged["ruleset_version"] == "1"
    assert triaged["retriage"] is False and triaged["channel"] == "hotline"
    # Important: 1 working day for the first response, 3 for the plan (Mon 10:00 Shanghai).
    assert triaged["first_response_due"].startswith("2026-11-24T02:00:00")
    assert triaged["resolution_plan_due"].startswith("2026-11-26T02:00:00")
    complaint = await load(db, payload.complaint_id)
    assert complaint.status is Status.triaged
    assert {c.state.value for c in complaint.clocks.values()} == {"running"}


async def test_key_customer_gets_halved_deadlines(desk: Desk, db: Database) -> None:
    payload = received(customer_tier=CustomerTier.key)
    await desk.deliver(payload)
    [(_, triaged)] = await staged(db)
    # Half a working day (4.5 h) from Monday 10:00 → Monday 14:30 Shanghai.
    assert triaged["first_response_due"].startswith("2026-11-23T06:30:00")
    assert triaged["customer_tier"] == "key"


async def test_a_second_delivery_of_the_same_complaint_changes_nothing(
    desk: Desk, db: Database
) -> None:
    payload = received()
    await desk.deliver(payload)
    await desk.deliver(payload)  # re-published under another event id
    assert [kind for kind, _ in await staged(db)] == ["complaint.triaged"]


async def test_unmatched_complaint_waits_in_the_manual_queue_with_running_clocks(
    desk: Desk, db: Database
) -> None:
    payload = received(title="其他问题", description="希望贵公司能在我们县城开一家门店。")
    await desk.deliver(payload)
    assert await staged(db) == []
    complaint = await load(db, payload.complaint_id)
    assert complaint.status is Status.manual_triage and complaint.triage is None
    assert complaint.clocks and all(c.owner_department == "csc" for c in complaint.clocks.values())


async def test_fax_waits_for_its_transcription_then_is_triaged(
    desk: Desk, db: Database, time: FakeTime
) -> None:
    payload = received(title="传真投诉", description="", needs_transcription=True)
    await desk.deliver(payload)
    complaint = await load(db, payload.complaint_id)
    assert complaint.status is Status.awaiting_transcription
    first_due = complaint.clocks[next(iter(complaint.clocks))].started_at
    assert first_due == payload.received_at  # clocks run from receipt regardless
    assert await staged(db) == []
    # A note is not the transcription.
    await desk.deliver(
        ComplaintAmended(
            complaint_id=payload.complaint_id,
            reference=payload.reference,
            kind=AmendmentKind.note,
            text="客户来电催促",
            amended_at=time.now(),
            by="agent-1",
        )
    )
    assert (await load(db, payload.complaint_id)).status is Status.awaiting_transcription
    await desk.deliver(
        ComplaintAmended(
            complaint_id=payload.complaint_id,
            reference=payload.reference,
            kind=AmendmentKind.transcription,
            text="车辆在工地抛锚，发动机无法启动，整个工程停工。",
            amended_at=time.now(),
            by="csc-2",
        )
    )
    [(kind, triaged)] = await staged(db)
    assert kind == "complaint.triaged"
    assert (triaged["rule_id"], triaged["urgency"]) == ("engine-failure", "urgent")
    # Urgent: 2 clock hours from *receipt*, not from the transcription.
    assert triaged["first_response_due"].startswith("2026-11-23T04:00:00")


async def test_a_repeat_of_an_open_complaint_is_linked_not_triaged(
    desk: Desk, db: Database, time: FakeTime
) -> None:
    first = received()
    await desk.deliver(first)
    again = received(
        customer_id=first.customer_id,
        reference="TS-2026-000124",
        received_at=MONDAY_10 + timedelta(days=3),
        title="发动机还在漏油",
        description="新车行驶不到三千公里，发动机缸盖处持续漏油，请尽快处理。",
    )
    await desk.deliver(again)
    events = await staged(db, again.complaint_id)
    assert [kind for kind, _ in events] == ["complaint.duplicate_linked"]
    assert events[0][1]["duplicate_of"] == str(first.complaint_id)
    assert events[0][1]["duplicate_of_reference"] == first.reference
    linked = await load(db, again.complaint_id)
    assert linked.status is Status.duplicate
    assert {c.state.value for c in linked.clocks.values()} == {"cancelled"}


@pytest.mark.parametrize(
    "change",
    [
        {"customer_id": None},  # another customer
        {"serial_number": "SN-OTHER"},  # another engine
        {"description": "发票上的价格和合同价格不一致。", "title": "发票错误"},  # another problem
        {"received_at": MONDAY_10 + timedelta(days=20)},  # outside the 14-day window
    ],
)
async def test_not_a_duplicate(desk: Desk, db: Database, change: dict[str, Any]) -> None:
    first = received()
    await desk.deliver(first)
    values = {"customer_id": first.customer_id, "reference": "TS-2026-000124", **change}
    if values["customer_id"] is None:
        values["customer_id"] = received().customer_id
    again = received(**values)
    await desk.deliver(again)
    assert (await load(db, again.complaint_id)).status is Status.triaged


async def test_a_zero_window_switches_duplicate_linking_off(
    make_desk: Callable[..., Desk], db: Database
) -> None:
    desk = make_desk(duplicate_window_days=0)
    first = received()
    await desk.deliver(first)
    again = received(customer_id=first.customer_id, reference="TS-2026-000124")
    await desk.deliver(again)
    assert (await load(db, again.complaint_id)).status is Status.triaged


async def test_a_closed_complaint_is_no_longer_a_duplicate_target(
    desk: Desk, db: Database, time: FakeTime
) -> None:
    first = received()
    await desk.deliver(first)
    await desk.deliver(
        ComplaintWithdrawn(
            complaint_id=first.complaint_id,
            reference=first.reference,
            reason="已自行解决",
            withdrawn_at=time.now(),
            by="customer",
        )
    )
    closed = await load(db, first.complaint_id)
    assert not closed.open and {c.state.value for c in closed.clocks.values()} == {"stopped"}
    again = received(customer_id=first.customer_id, reference="TS-2026-000124")
    await desk.deliver(again)
    assert (await load(db, again.complaint_id)).status is Status.triaged


async def test_first_response_and_plan_stop_their_clocks(
    desk: Desk, db: Database, time: FakeTime
) -> None:
    payload = received()
    await desk.deliver(payload)
    await desk.deliver(
        FirstResponseRecorded(**case_fields(payload.complaint_id, time.advance(hours=1)))
    )
    complaint = await load(db, payload.complaint_id)
    assert complaint.clocks["first_response"].state.value == "stopped"
    assert complaint.clocks["resolution_plan"].state.value == "running"
    await desk.deliver(
        ResolutionProposed(
            **case_fields(payload.complaint_id, time.advance(hours=1)),
            plan_version=1,
            actions=[
                ResolutionAction(
                    kind=ResolutionActionKind.repair,
                    description="更换缸盖垫片",
                    due_date=time.now().date(),
                )
            ],
        )
    )
    complaint = await load(db, payload.complaint_id)
    assert {c.state.value for c in complaint.clocks.values()} == {"stopped"}
    async with db.sessions() as session:
        due = await session.scalar(
            sa.select(sa.func.count())
            .select_from(SlaClockRow)
            .where(SlaClockRow.next_check_at.is_not(None))
        )
    assert due == 0  # the scheduler will never look at them again


async def test_waiting_on_the_customer_pauses_the_clocks(
    desk: Desk, db: Database, time: FakeTime
) -> None:
    payload = received()
    await desk.deliver(payload)
    before = (await load(db, payload.complaint_id)).clocks["resolution_plan"].due_at
    assert before is not None
    await desk.deliver(
        CustomerWaitStarted(
            **case_fields(payload.complaint_id, MONDAY_10 + timedelta(hours=1)),
            reason="等待客户提供照片",
        )
    )
    paused = (await load(db, payload.complaint_id)).clocks["resolution_plan"]
    assert paused.state.value == "paused" and paused.due_at is None
    # Resumed the next morning at 10:00: the wait (Mon 11:00 → Tue 10:00) is
    # 6.5 + 1.5 = 8 working hours, which the deadline moves by.
    await desk.deliver(
        CustomerWaitEnded(**case_fields(payload.complaint_id, MONDAY_10 + timedelta(days=1)))
    )
    resumed = (await load(db, payload.complaint_id)).clocks["resolution_plan"]
    assert resumed.state.value == "running"
    assert resumed.due_at is not None and resumed.due_at > before
    assert desk.routing.policy.calendar.working_seconds_between(before, resumed.due_at) == 8 * 3600


async def test_closing_stops_every_clock_and_reopening_runs_the_plan_clock_again(
    desk: Desk, db: Database, time: FakeTime
) -> None:
    payload = received()
    await desk.deliver(payload)
    await desk.deliver(
        ComplaintClosed(
            **case_fields(payload.complaint_id, time.now()),
            category=ComplaintCategory.product_quality,
            urgency=Urgency.important,
            owner_department="quality",
            opened_at=time.now(),
        )
    )
    complaint = await load(db, payload.complaint_id)
    assert not complaint.open
    assert {c.state.value for c in complaint.clocks.values()} == {"stopped"}
    await desk.deliver(
        ComplaintReopened(**case_fields(payload.complaint_id, time.now()), reason="问题复发")
    )
    complaint = await load(db, payload.complaint_id)
    assert complaint.open
    # A new plan is owed (test_promises.py has the deadlines); the first response was given.
    assert complaint.clocks["resolution_plan"].state.value == "running"
    assert complaint.clocks["first_response"].state.value == "stopped"


async def test_every_triage_is_recorded_with_its_rule_set_version(desk: Desk, db: Database) -> None:
    payload = received()
    await desk.deliver(payload)
    async with db.sessions() as session:
        records = (await session.scalars(sa.select(TriageRecordRow))).all()
    assert [(r.kind, r.rule_id, r.ruleset_version, r.decided_by) for r in records] == [
        ("rules", "oil-leak", "1", "rules")
    ]
