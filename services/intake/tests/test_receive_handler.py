"""Receiving on the real databases: one transaction for row, reference and event."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from uuid import uuid4

import pytest
import sqlalchemy as sa

from tousu_common.auth import Principal
from tousu_common.db import Database
from tousu_common.errors import Conflict
from tousu_common.messaging.tables import outbox
from tousu_intake.adapters.orm import ComplaintRow
from tousu_intake.config import Settings
from tousu_intake.domain.commands import ReceiveComplaint
from tousu_intake.handlers.receive import receive_complaint

pytestmark = pytest.mark.integration

AGENT = Principal(subject="agent-1", roles=frozenset({"agent"}), department="csc")
COMMAND = ReceiveComplaint(title="漏油", description="发动机漏油", customer_name="王先生")


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(jwt_secret="x" * 40, database_url=database_url)


async def counts(db: Database) -> tuple[int, int]:
    async with db.sessions() as session:
        complaints = await session.scalar(sa.select(sa.func.count()).select_from(ComplaintRow))
        events = await session.scalar(sa.select(sa.func.count()).select_from(outbox))
    return int(complaints or 0), int(events or 0)


async def test_complaint_and_its_event_are_committed_together(
    db: Database, settings: Settings
) -> None:
    receipt = await receive_complaint(db, settings, COMMAND, AGENT, None)
    assert receipt.status_code == 201
    assert await counts(db) == (1, 1)
    async with db.sessions() as session:
        row = (
            await session.execute(sa.select(outbox.c.event_type, outbox.c.key, outbox.c.payload))
        ).one()
    assert row.event_type == "complaint.received"
    assert row.key == receipt.body["id"]
    assert "王先生" not in row.payload


async def test_concurrent_requests_with_one_idempotency_key_create_one_complaint(
    db: Database, settings: Settings
) -> None:
    receipts = await asyncio.gather(
        *(receive_complaint(db, settings, COMMAND, AGENT, "same-key") for _ in range(8))
    )
    assert len({receipt.body["id"] for receipt in receipts}) == 1
    assert sum(not receipt.replayed for receipt in receipts) == 1
    assert await counts(db) == (1, 1)


async def test_key_reused_for_another_body_is_a_conflict_and_writes_nothing(
    db: Database, settings: Settings
) -> None:
    await receive_complaint(db, settings, COMMAND, AGENT, "k")
    other = ReceiveComplaint(title="别的", description="别的", customer_name="赵")
    with pytest.raises(Conflict):
        await receive_complaint(db, settings, other, AGENT, "k")
    assert await counts(db) == (1, 1)


async def test_idempotency_keys_are_per_caller(db: Database, settings: Settings) -> None:
    other_agent = Principal(subject="agent-2", roles=frozenset({"agent"}), department="csc")
    first = await receive_complaint(db, settings, COMMAND, AGENT, "k")
    second = await receive_complaint(db, settings, COMMAND, other_agent, "k")
    assert first.body["id"] != second.body["id"]


async def test_references_are_consecutive_under_concurrency(
    db: Database, settings: Settings
) -> None:
    receipts = await asyncio.gather(
        *(receive_complaint(db, settings, COMMAND, AGENT, None) for _ in range(20))
    )
    serials = sorted(int(receipt.body["reference"].rsplit("-", 1)[1]) for receipt in receipts)
    assert serials == list(range(1, 21))


async def test_database_errors_do_not_quote_personal_data(db: Database) -> None:
    row = {
        "id": uuid4(),
        "reference": "TS-2026-999999",
        "channel": "hotline",
        "status": "received",
        "title": "t",
        "description": "d",
        "customer_name": "王建国",
        "customer_phone": "13800138000",
        "customer_email": None,
        "product_model": None,
        "serial_number": None,
        "language": "zh",
        "received_at": datetime.now(UTC),
        "received_by": "a",
    }
    async with db.transaction() as session:
        await session.execute(sa.insert(ComplaintRow).values(row))
    with pytest.raises(sa.exc.IntegrityError) as caught:
        async with db.transaction() as session:  # same reference again: a constraint violation
            await session.execute(sa.insert(ComplaintRow).values({**row, "id": uuid4()}))
    assert "王建国" not in str(caught.value) and "13800138000" not in str(caught.value)
