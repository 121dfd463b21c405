"""complaint.received → triage row + complaint.triaged in the outbox (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID, uuid4

import httpx
import pytest
import sqlalchemy as sa
from tousu_routing.handlers.triage import triage_received_complaint

from tousu_common.db import Database
from tousu_common.events import Channel, ComplaintReceived, Event, new_event
from tousu_common.messaging.tables import outbox
from tousu_routing.adapters.orm import TriageRow

pytestmark = pytest.mark.integration


def received_event(complaint_id: UUID | None = None) -> Event:
    return new_event(
        ComplaintReceived(
            complaint_id=complaint_id or uuid4(),
            reference="TS-2026-000123",
            channel=Channel.hotline,
            received_at=datetime.now(UTC),
            title="车辆抛锚",
            description="发动机故障，车辆在工地抛锚，整个工程停工。",
            product_model="YC6MK",
        ),
        source="tousu/intake",
    )


async def handle(db: Database, event: Event) -> None:
    async with db.transaction() as session:
        await triage_received_complaint(session, event)


async def staged_events(db: Database) -> list[tuple[str, str, str]]:
    async with db.sessions() as session:
        result = await session.execute(sa.select(outbox.c.event_type, outbox.c.key, outbox.c.topic))
        return [(row.event_type, row.key, row.topic) for row in result.all()]


async def test_received_complaint_is_triaged_and_announced(db: Database) -> None:
    event = received_event()
    await handle(db, event)
    async with db.sessions() as session:
        row = await session.get(TriageRow, event.complaint_id)
    assert row is not None
    assert (row.category, row.urgency) == ("product_quality", "urgent")
    assert row.owner_department == "quality"
    assert row.received_event_id == event.id
    assert await staged_events(db) == [
        ("complaint.triaged", str(event.complaint_id), "tousu.routing")
    ]


async def test_a_complaint_is_triaged_only_once(db: Database) -> None:
    first = received_event()
    await handle(db, first)
    # The same complaint announced again under another event id (a re-publish).
    await handle(db, received_event(first.complaint_id))
    async with db.sessions() as session:
        count = await session.scalar(sa.select(sa.func.count()).select_from(TriageRow))
    assert count == 1
    assert len(await staged_events(db)) == 1


async def test_triage_is_readable_over_the_api(
    db: Database, client: httpx.AsyncClient, headers_for: Callable[..., dict[str, str]]
) -> None:
    event = received_event()
    await handle(db, event)
    response = await client.get(f"/v1/triage/{event.complaint_id}", headers=headers_for("csc"))
    assert response.status_code == 200
    body = response.json()
    assert body["category"] == "product_quality"
    assert body["urgency"] == "urgent"
    assert body["owner_department"] == "quality"
    assert body["decided_by"] == "rules"
    assert body["triaged_at"].endswith(("+00:00", "Z"))


async def test_unknown_complaint_is_a_json_404(
    client: httpx.AsyncClient, headers_for: Callable[..., dict[str, str]]
) -> None:
    response = await client.get(f"/v1/triage/{uuid4()}", headers=headers_for("department"))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_triage_needs_a_staff_token(
    client: httpx.AsyncClient, headers_for: Callable[..., dict[str, str]]
) -> None:
    assert (await client.get(f"/v1/triage/{uuid4()}")).status_code == 401
    gateway = await client.get(f"/v1/triage/{uuid4()}", headers=headers_for("gateway"))
    assert gateway.status_code == 403
