"""A customer's decision (``resolution.decision_received``) that reaches rectification
before its case is kept and handed to the case when it opens — through the real
broker and rectification's own consumer, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaProducer

from tousu_common.auth import Principal
from tousu_common.db import Database
from tousu_common.devstack import Broker
from tousu_common.events import Event, new_event
from tousu_common.events.catalog import (
    Channel,
    ComplaintCategory,
    ComplaintTriaged,
    CustomerDecision,
    ResolutionAction,
    ResolutionActionKind,
    ResolutionDecisionReceived,
    Urgency,
)
from tousu_common.messaging.inbox import InboxConsumer
from tousu_common.testing.helpers import poll_until, settings_for_tests
from tousu_rectification.adapters.orm import PendingDecisionRow
from tousu_rectification.adapters.repository import CaseRepository
from tousu_rectification.domain.model import Case
from tousu_rectification.domain.status import CaseStatus
from tousu_rectification.entrypoints.consumer import build_consumers

REFERENCE = "TS-2027-000314"


def decision_event(complaint_id: UUID, *, plan_version: int = 1) -> Event:
    return new_event(
        ResolutionDecisionReceived(
            complaint_id=complaint_id,
            reference=REFERENCE,
            plan_version=plan_version,
            decision=CustomerDecision.accept,
            comment="同意更换水泵",
            via=Channel.web,
            decided_at=datetime(2027, 1, 6, 3, 15, tzinfo=UTC),
        ),
        source="tousu/intake",
    )


def triaged_payload(complaint_id: UUID) -> ComplaintTriaged:
    return ComplaintTriaged(
        complaint_id=complaint_id,
        reference=REFERENCE,
        category=ComplaintCategory.product_quality,
        urgency=Urgency.important,
        owner_department="quality",
        decided_by="rules",
        ruleset_version="2027.01-1",
        triaged_at=datetime(2027, 1, 6, 3, 20, tzinfo=UTC),
    )


async def publish(bootstrap: str, event: Event) -> None:
    """As the owning service's relay would: its topic, the complaint id as key."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            event.topic, event.value(), key=event.key, headers=event.headers()
        )
    finally:
        await producer.stop()


async def pending(db: Database, complaint_id: UUID) -> int:
    async with db.sessions() as session:
        count = await session.scalar(
            sa.select(sa.func.count())
            .select_from(PendingDecisionRow)
            .where(PendingDecisionRow.complaint_id == complaint_id)
        )
    return int(count or 0)


async def case_of(db: Database, complaint_id: UUID) -> Case | None:
    async with db.sessions() as session:
        return await CaseRepository(session).get_by_complaint(complaint_id)


@pytest.mark.integration
async def test_a_decision_published_before_its_case_is_kept_and_handed_to_the_case_once(
    broker: Broker, db: Database
) -> None:
    settings = settings_for_tests(broker.bootstrap, db.url, service_name="rectification")
    [service_consumer] = build_consumers(db, settings)
    consumer = InboxConsumer(
        db,
        settings,
        group_id=f"tousu-rectification-early-{uuid4().hex[:8]}",
        topics=service_consumer.topics,
        handlers=service_consumer.handlers,
    )
    complaint_id = uuid4()
    decision = decision_event(complaint_id)
    await consumer.start()
    try:
        await publish(broker.bootstrap, decision)

        async def kept() -> bool:
            return await pending(db, complaint_id) == 1

        # Kept durably, not dropped: there is nothing to apply it to yet.
        await poll_until(consumer, kept)
        assert await case_of(db, complaint_id) is None

        await publish(
            broker.bootstrap, new_event(triaged_payload(complaint_id), source="tousu/routing")
        )

        async def opened() -> bool:
            return await case_of(db, complaint_id) is not None

        await poll_until(consumer, opened)
        # The same decision again (a redelivery, a relay re-publishing): the inbox drops it.
        await publish(broker.bootstrap, decision)
        await poll_until(consumer, lambda: consumer.stats.duplicates >= 1)
    finally:
        await consumer.stop()

    case = await case_of(db, complaint_id)
    assert case is not None
    async with db.sessions() as session:
        history = await CaseRepository(session).history(case.case_id)
    handed = [entry for entry in history if entry.action == "customer.decision_before_case"]
    assert len(handed) == 1, [entry.action for entry in history]
    assert [entry.action for entry in history] == ["case.opened", "customer.decision_before_case"]
    assert handed[0].by == "customer"
    assert handed[0].detail is not None
    assert "accepted plan 1 via web at 2027-01-06T03:15:00+00:00" in handed[0].detail
    assert "同意更换水泵" in handed[0].detail
    # Taken from the pending table in the transaction that opened the case; no plan
    # existed to accept, so the case is still waiting for one.
    assert await pending(db, complaint_id) == 0
    assert case.status is CaseStatus.awaiting_resolution


def test_an_early_decision_that_is_legal_when_handed_over_is_applied() -> None:
    """The hand-over applies what a live decision would; here a case that (unusually)
    already has the plan answered."""
    now = datetime(2027, 1, 6, 4, 0, tzinfo=UTC)
    case = Case.open(triaged_payload(uuid4()), at=now)
    case.propose_resolution(
        actions=[
            ResolutionAction(
                kind=ResolutionActionKind.replace,
                description="更换水泵",
                due_date=date(2027, 1, 20),
            )
        ],
        by=Principal("csc-1", frozenset({"csc"}), "csc"),
        at=now + timedelta(minutes=5),
    )
    early = decision_event(case.complaint_id).data
    assert isinstance(early, ResolutionDecisionReceived)
    assert case.hand_over_early_decision(early, at=now) is True
    assert case.status is CaseStatus.resolution_accepted
    assert case.plan is not None and case.plan.decided_by == "customer"
    late = early.model_copy(update={"plan_version": 2})
    assert case.hand_over_early_decision(late, at=now) is False
    assert case.status is CaseStatus.resolution_accepted
