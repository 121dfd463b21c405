"""What an event costs in SQL: every complaint pays it, so a statement added on
these paths is CPU the whole pipeline spends (the issue "CPU per complaint").

Counted are the statements on rectification's own tables; the shared outbox
and inbox, and ``BEGIN``, belong to ``tousu_common``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from tousu_common.auth import Principal
from tousu_common.db import Database
from tousu_common.events import ComplaintCategory, ComplaintTriaged, Event, Urgency, new_event
from tousu_common.events.catalog import (
    Channel,
    ComplaintReceived,
    ResolutionAction,
    ResolutionActionKind,
)
from tousu_common.testing.statements import sql_run
from tousu_rectification.adapters.repository import CaseRepository
from tousu_rectification.adapters.unit_of_work import unit_of_work
from tousu_rectification.handlers.complaint_events import keep_complaint_facts
from tousu_rectification.handlers.open_case import open_case_for_triaged_complaint

pytestmark = pytest.mark.integration

SHARED = {"outbox", "inbox"}
_TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE)\s+\"?(\w+)", re.IGNORECASE)


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    """``["SELECT cases", "INSERT case_history", …]`` in the order they ran, shared
    tables left out; filled in when the block ends."""
    seen: list[str] = []
    with sql_run(db) as ran:
        yield seen
    for statement in ran:
        verb = statement.split(None, 1)[0].upper()
        match = _TABLE.search(statement)
        table = match.group(1) if match else ""
        if verb != "BEGIN" and table not in SHARED:
            seen.append(f"{verb} {table}")


def received(complaint_id: UUID) -> Event:
    return new_event(
        ComplaintReceived(
            complaint_id=complaint_id,
            reference="TS-2026-000777",
            channel=Channel.hotline,
            received_at=datetime.now(UTC),
            title="漏油",
            description="发动机漏油",
        ),
        source="tousu/intake",
    )


def triaged(complaint_id: UUID) -> Event:
    now = datetime.now(UTC)
    return new_event(
        ComplaintTriaged(
            complaint_id=complaint_id,
            reference="TS-2026-000777",
            category=ComplaintCategory.product_quality,
            urgency=Urgency.urgent,
            owner_department="quality",
            decided_by="rules",
            rule_id="product-quality",
            ruleset_version="2026.11-1",
            triaged_at=now,
            first_response_due=now + timedelta(hours=2),
        ),
        source="tousu/routing",
    )


async def test_a_received_complaint_is_one_statement(db: Database) -> None:
    complaint_id = uuid4()
    with statements(db) as seen:
        async with db.transaction() as session:
            await keep_complaint_facts(session, received(complaint_id))
    assert seen == ["INSERT complaint_facts"]  # an upsert: no read before it


async def test_opening_a_case_asks_once_then_writes_its_rows(db: Database) -> None:
    complaint_id = uuid4()
    async with db.transaction() as session:
        await keep_complaint_facts(session, received(complaint_id))
    with statements(db) as seen:
        async with db.transaction() as session:
            await open_case_for_triaged_complaint(session, triaged(complaint_id))
    assert seen == ["SELECT cases", "INSERT cases", "INSERT case_history"]
    # Triaged again (a redelivery or a second triage without retriage): one read.
    with statements(db) as seen:
        async with db.transaction() as session:
            await open_case_for_triaged_complaint(session, triaged(complaint_id))
    assert seen == ["SELECT cases"]


async def test_a_case_loads_with_its_facts_plan_and_actions_in_one_statement(
    db: Database,
) -> None:
    complaint_id = uuid4()
    async with db.transaction() as session:
        await keep_complaint_facts(session, received(complaint_id))
        await open_case_for_triaged_complaint(session, triaged(complaint_id))
    due = date.today() + timedelta(days=7)
    actions = [
        ResolutionAction(kind=ResolutionActionKind.repair, description="修", due_date=due),
        ResolutionAction(kind=ResolutionActionKind.replace, description="换", due_date=due),
    ]
    csc = Principal("csc-1", frozenset({"csc"}), "csc")
    async with unit_of_work(db) as uow:
        case = await uow.cases.require(complaint_id)
        case.propose_resolution(actions=actions, by=csc, at=datetime.now(UTC))
        await uow.cases.save(case)
    with statements(db) as seen:
        async with db.sessions() as session:
            loaded = await CaseRepository(session).require(complaint_id)
    assert seen == ["SELECT cases"]
    assert loaded.received_at is not None
    assert loaded.plan is not None and loaded.plan.version == 1
    assert [(a.position, a.kind) for a in loaded.plan.actions] == [
        (1, ResolutionActionKind.repair),
        (2, ResolutionActionKind.replace),
    ]
