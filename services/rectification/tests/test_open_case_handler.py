"""complaint.triaged → case + history + case.opened in the outbox (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from uuid import UUID, uuid4

import httpx
import pytest
import sqlalchemy as sa

from tousu_common.auth import Principal
from tousu_common.db import Database
from tousu_common.events import ComplaintCategory, ComplaintTriaged, Event, Urgency, new_event
from tousu_common.events.catalog import ResolutionAction, ResolutionActionKind
from tousu_common.messaging.tables import outbox
from tousu_rectification.adapters.orm import CaseRow
from tousu_rectification.adapters.repository import CaseRepository, StaleCase
from tousu_rectification.domain.status import CaseStatus
from tousu_rectification.handlers.open_case import open_case_for_triaged_complaint

pytestmark = pytest.mark.integration


def csc(subject: str) -> Principal:
    return Principal(subject, frozenset({"csc"}), "csc")


ACTIONS = [
    ResolutionAction(
        kind=ResolutionActionKind.repair, description="replace the seal", due_date=date(2026, 12, 1)
    )
]


def triaged_event(complaint_id: UUID | None = None, owner: str = "quality") -> Event:
    return new_event(
        ComplaintTriaged(
            complaint_id=complaint_id or uuid4(),
            reference="TS-2026-000777",
            category=ComplaintCategory.product_quality,
            urgency=Urgency.urgent,
            owner_department=owner,
            decided_by="rules",
            rule_id="product-quality",
            ruleset_version="2026.11-1",
            triaged_at=datetime.now(UTC),
        ),
        source="tousu/routing",
    )


async def handle(db: Database, event: Event) -> None:
    async with db.transaction() as session:
        await open_case_for_triaged_complaint(session, event)


async def staged_event_types(db: Database) -> list[str]:
    async with db.sessions() as session:
        return list(await session.scalars(sa.select(outbox.c.event_type)))


async def test_triaged_complaint_gets_a_case_awaiting_resolution(db: Database) -> None:
    event = triaged_event()
    await handle(db, event)
    async with db.sessions() as session:
        cases = CaseRepository(session)
        case = await cases.get_by_complaint(event.complaint_id)
        assert case is not None
        history = await cases.history(case.case_id)
    assert case.status is CaseStatus.awaiting_resolution
    assert (case.owner_department, case.urgency, case.version) == ("quality", Urgency.urgent, 1)
    assert [(entry.status, entry.by) for entry in history] == [
        (CaseStatus.awaiting_resolution, "system")
    ]
    assert await staged_event_types(db) == ["case.opened"]


async def test_a_complaint_gets_one_case_however_often_it_is_triaged(db: Database) -> None:
    first = triaged_event()
    await handle(db, first)
    await handle(db, triaged_event(first.complaint_id, owner="sales"))
    async with db.sessions() as session:
        owners = list(await session.scalars(sa.select(CaseRow.owner_department)))
    assert owners == ["quality"]
    assert await staged_event_types(db) == ["case.opened"]


async def test_saving_a_transition_writes_history_and_bumps_the_version(db: Database) -> None:
    event = triaged_event()
    await handle(db, event)
    async with db.transaction() as session:
        cases = CaseRepository(session)
        case = await cases.get_by_complaint(event.complaint_id)
        assert case is not None
        case.propose_resolution(actions=ACTIONS, by=csc("csc-1"), at=datetime.now(UTC))
        await cases.save(case)
    async with db.sessions() as session:
        cases = CaseRepository(session)
        saved = await cases.get_by_complaint(event.complaint_id)
        assert saved is not None
        history = await cases.history(saved.case_id)
    assert (saved.status, saved.version) == (CaseStatus.resolution_proposed, 2)
    assert [(entry.action, entry.status) for entry in history] == [
        ("case.opened", CaseStatus.awaiting_resolution),
        ("case.first_response_recorded", CaseStatus.awaiting_resolution),
        ("resolution.proposed", CaseStatus.resolution_proposed),
    ]


async def test_a_stale_copy_of_a_case_cannot_overwrite_a_newer_one(db: Database) -> None:
    event = triaged_event()
    await handle(db, event)
    async with db.sessions() as session:
        stale = await CaseRepository(session).get_by_complaint(event.complaint_id)
    assert stale is not None
    async with db.transaction() as session:
        cases = CaseRepository(session)
        fresh = await cases.get_by_complaint(event.complaint_id)
        assert fresh is not None
        fresh.propose_resolution(actions=ACTIONS, by=csc("csc-1"), at=datetime.now(UTC))
        await cases.save(fresh)
    stale.propose_resolution(actions=ACTIONS, by=csc("csc-2"), at=datetime.now(UTC))
    with pytest.raises(StaleCase):
        async with db.transaction() as session:
            await CaseRepository(session).save(stale)


async def test_case_and_history_are_readable_over_the_api(
    db: Database, client: httpx.AsyncClient, headers_for: Callable[..., dict[str, str]]
) -> None:
    event = triaged_event()
    await handle(db, event)
    response = await client.get(f"/v1/cases/{event.complaint_id}", headers=headers_for("quality"))
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "awaiting_resolution"
    assert body["owner_department"] == "quality"
    assert body["opened_at"].endswith(("+00:00", "Z"))
    assert [(entry["status"], entry["by"]) for entry in body["history"]] == [
        ("awaiting_resolution", "system")
    ]


async def test_unknown_complaint_has_no_case(
    client: httpx.AsyncClient, headers_for: Callable[..., dict[str, str]]
) -> None:
    response = await client.get(f"/v1/cases/{uuid4()}", headers=headers_for("csc"))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_cases_need_a_staff_token(
    client: httpx.AsyncClient, headers_for: Callable[..., dict[str, str]]
) -> None:
    assert (await client.get(f"/v1/cases/{uuid4()}")).status_code == 401
    gateway = await client.get(f"/v1/cases/{uuid4()}", headers=headers_for("gateway"))
    assert gateway.status_code == 403


async def test_a_retriage_moves_the_case_to_the_new_owner(db: Database) -> None:
    first = triaged_event()
    await handle(db, first)
    retriaged = triaged_event(first.complaint_id, owner="sales")
    retriaged = new_event(
        retriaged.data.model_copy(update={"retriage": True, "decided_by": "csc-9"}),
        source="tousu/routing",
    )
    await handle(db, retriaged)
    async with db.sessions() as session:
        cases = CaseRepository(session)
        case = await cases.get_by_complaint(first.complaint_id)
        assert case is not None
        history = await cases.history(case.case_id)
    assert case.owner_department == "sales"
    assert (history[-1].action, history[-1].by) == ("case.owner_changed", "csc-9")
    assert await staged_event_types(db) == ["case.opened"]


async def test_a_complaint_withdrawn_before_triage_gets_no_case(db: Database) -> None:
    from tousu_common.events.catalog import ComplaintWithdrawn
    from tousu_rectification.handlers.complaint_events import withdraw_case

    complaint_id = uuid4()
    async with db.transaction() as session:
        await withdraw_case(
            session,
            new_event(
                ComplaintWithdrawn(
                    complaint_id=complaint_id,
                    reference="TS-2026-000777",
                    reason="不用了",
                    withdrawn_at=datetime.now(UTC),
                    by="customer",
                ),
                source="tousu/intake",
            ),
        )
    await handle(db, triaged_event(complaint_id))
    async with db.sessions() as session:
        assert await CaseRepository(session).get_by_complaint(complaint_id) is None
    assert await staged_event_types(db) == []
