"""Concurrent transitions on the same case cannot both win (optimistic locking).

The case row carries a version; every save is ``UPDATE … WHERE version = <the
version loaded>``. On PostgreSQL two transactions really run at the same time:
the second UPDATE waits for the first's row lock, then finds the version moved
and matches nothing — its caller gets 409 ``stale_case`` and its whole
transaction (history, plan rows, outbox) rolls back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import httpx
import pytest
import sqlalchemy as sa

from tousu_common.auth import Principal
from tousu_common.db import Database
from tousu_common.events import new_event
from tousu_common.events.catalog import Channel, CustomerDecision, ResolutionDecisionReceived
from tousu_common.messaging.tables import outbox
from tousu_rectification.adapters.orm import CaseHistoryRow, CaseRow
from tousu_rectification.adapters.repository import StaleCase
from tousu_rectification.adapters.unit_of_work import unit_of_work
from tousu_rectification.config import Settings
from tousu_rectification.handlers.complaint_events import apply_customer_decision
from tousu_rectification.main import create_app

pytestmark = pytest.mark.integration

DUE = (date.today() + timedelta(days=7)).isoformat()
PLAN = {"actions": [{"kind": "repair", "description": "修", "due_date": DUE}]}


@pytest.fixture
def postgres_only(db: Database) -> Database:
    if db.url.startswith("sqlite"):
        pytest.skip("SQLite has one writer at a time: transactions never overlap there")
    return db


@pytest.fixture
async def second_client(
    postgres_only: Database, jwt_secret: str
) -> AsyncIterator[httpx.AsyncClient]:
    """Another app instance with its own engine and connection pool, like a replica."""
    other = Database(postgres_only.url)
    app = create_app(Settings(jwt_secret=jwt_secret, database_url=other.url, environment="test"))
    app.state.db = other
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://replica"
    ) as http:
        yield http
    await other.dispose()


async def counts(db: Database, complaint: UUID, action: str, event_type: str) -> tuple[int, int]:
    async with db.sessions() as session:
        case_id = await session.scalar(
            sa.select(CaseRow.case_id).where(CaseRow.complaint_id == complaint)
        )
        history = await session.scalar(
            sa.select(sa.func.count()).where(
                CaseHistoryRow.case_id == case_id, CaseHistoryRow.action == action
            )
        )
        staged = await session.scalar(
            sa.select(sa.func.count())
            .select_from(outbox)
            .where(outbox.c.key == str(complaint), outbox.c.event_type == event_type)
        )
    return int(history or 0), int(staged or 0)


async def test_two_saves_of_the_same_loaded_version_one_wins(
    postgres_only: Database, open_case: Callable[..., Awaitable[UUID]]
) -> None:
    db = postgres_only
    complaint = await open_case(owner="csc")
    loaded = asyncio.Barrier(2)

    async def propose(who: str) -> str:
        try:
            async with unit_of_work(db) as uow:
                case = await uow.cases.require(complaint)
                await loaded.wait()  # both transactions hold version 1 before either saves
                case.rectification_opened(
                    by=Principal(who, frozenset({"csc"}), "csc"), at=datetime.now(UTC)
                )
                await uow.cases.save(case)
        except StaleCase:
            return "stale"
        return "saved"

    outcomes = await asyncio.gather(propose("a"), propose("b"))
    assert sorted(outcomes) == ["saved", "stale"]
    async with db.sessions() as session:
        row = (
            await session.execute(sa.select(CaseRow).where(CaseRow.complaint_id == complaint))
        ).scalar_one()
    assert (row.version, row.open_rectifications, row.rectifications_total) == (2, 1, 1)
    assert await counts(db, complaint, "rectification.opened", "-") == (1, 0)


async def test_concurrent_requests_on_two_replicas_only_one_decision_wins(
    postgres_only: Database,
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    open_case: Callable[..., Awaitable[UUID]],
    staff: Callable[..., dict[str, str]],
) -> None:
    db = postgres_only
    agent = staff("agent", department="csc")
    saw_stale = False
    for _ in range(5):
        complaint = await open_case(owner="csc")
        url = f"/v1/cases/{complaint}"
        assert (await client.post(f"{url}/resolution", json=PLAN, headers=staff("csc"))).is_success
        answers = await asyncio.gather(
            *(
                http.post(f"{url}/resolution/decision", json={"decision": decision}, headers=agent)
                for http in (client, second_client)
                for decision in ("accept", "reject", "accept", "reject")
            )
        )
        codes = sorted(answer.status_code for answer in answers)
        assert codes == [200] + [409] * 7, [answer.text for answer in answers]
        losers = {answer.json()["error"]["code"] for answer in answers if answer.status_code == 409}
        assert losers <= {"stale_case", "illegal_transition"}
        saw_stale |= "stale_case" in losers
        accepted = await counts(db, complaint, "resolution.accepted", "resolution.accepted")
        rejected = await counts(db, complaint, "resolution.rejected", "resolution.rejected")
        assert sorted([accepted, rejected]) == [(0, 0), (1, 1)]
        case = (await client.get(url, headers=agent)).json()
        assert case["version"] == 3  # opened 1, proposed 2, decided 3 — and nothing else
        if saw_stale:
            break
    assert saw_stale, "the requests never overlapped: no loser saw a stale case"


async def test_a_customer_decision_event_racing_an_agent_is_applied_or_retried_once(
    postgres_only: Database,
    client: httpx.AsyncClient,
    open_case: Callable[..., Awaitable[UUID]],
    staff: Callable[..., dict[str, str]],
) -> None:
    db = postgres_only
    complaint = await open_case(owner="csc")
    url = f"/v1/cases/{complaint}"
    await client.post(f"{url}/resolution", json=PLAN, headers=staff("csc"))
    event = new_event(
        ResolutionDecisionReceived(
            complaint_id=complaint,
            reference="TS-2026-000777",
            plan_version=1,
            decision=CustomerDecision.reject,
            via=Channel.web,
            decided_at=datetime.now(UTC),
        ),
        source="tousu/intake",
    )

    async def consume() -> str:
        # What the inbox consumer does: one transaction per attempt, retried on failure.
        for _ in range(3):
            try:
                async with db.transaction() as session:
                    await apply_customer_decision(session, event)
                return "applied or ignored"
            except StaleCase:
                continue
        return "gave up"

    answer, consumed = await asyncio.gather(
        client.post(
            f"{url}/resolution/decision", json={"decision": "accept"}, headers=staff("agent")
        ),
        consume(),
    )
    assert consumed == "applied or ignored"
    case = (await client.get(url, headers=staff("csc"))).json()
    decided = [e["action"] for e in case["history"] if e["action"].startswith("resolution.")]
    assert decided in (
        ["resolution.proposed", "resolution.accepted"],
        ["resolution.proposed", "resolution.rejected"],
    )
    assert (answer.status_code == 200) == (decided[-1] == "resolution.accepted")
