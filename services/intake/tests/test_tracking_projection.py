"""The tracking read model on the real databases: what each event writes, and that
the consumer does it with one read of the tracking row per event (it runs for
nearly every event about every complaint)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import zip_longest
from typing import Any
from uuid import UUID, uuid4

import pytest
import sqlalchemy as sa

from tousu_common.db import Database
from tousu_common.events import Channel, Event, new_event
from tousu_common.events.catalog import (
    CallbackDone,
    CaseOpened,
    ComplaintCategory,
    ComplaintClosed,
    ComplaintReopened,
    ComplaintTriaged,
    Urgency,
)
from tousu_intake.config import Settings
from tousu_intake.domain.commands import ReceiveFromChannel
from tousu_intake.handlers.receive import receive
from tousu_intake.handlers.tracking import project_event, project_events

from .conftest import statements

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


@pytest.fixture
def settings(database_url: str, tmp_path) -> Settings:  # type: ignore[no-untyped-def]
    return Settings(jwt_secret="x" * 40, database_url=database_url, data_dir=tmp_path)


async def received_complaint(
    db: Database, settings: Settings, description: str, customer_name: str
) -> tuple[UUID, str]:
    """A hotline complaint taken by intake: its id and reference."""
    receipt = await receive(
        db,
        settings,
        ReceiveFromChannel(
            channel=Channel.hotline, description=description, customer_name=customer_name
        ),
        received_by="agent-1",
    )
    return UUID(receipt.body["id"]), receipt.body["reference"]


def closing_life(cid: UUID, reference: str) -> tuple[Any, Any, Any, Any]:
    """What routing and rectification announce for a complaint, in order: triaged to
    quality, a case opened by after-sales (the owner moves), a satisfied callback, and
    the case closed."""
    common = {"complaint_id": cid, "reference": reference}
    case = {**common, "case_id": uuid4(), "by": "csc-1"}
    triaged = ComplaintTriaged(
        **common,
        category=ComplaintCategory.product_quality,
        urgency=Urgency.important,
        owner_department="quality",
        decided_by="rules",
        ruleset_version="1",
        triaged_at=T0,
    )
    opened = CaseOpened(
        **common,
        case_id=case["case_id"],
        status="open",
        owner_department="after_sales",
        category=ComplaintCategory.product_quality,
        urgency=Urgency.important,
        opened_at=T0 + timedelta(minutes=1),
    )
    callback = CallbackDone(**case, at=T0 + timedelta(minutes=2), score=5, satisfied=True)
    closed = ComplaintClosed(
        **case,
        at=T0 + timedelta(minutes=3),
        category=ComplaintCategory.product_quality,
        urgency=Urgency.important,
        owner_department="after_sales",
        opened_at=T0 + timedelta(minutes=1),
    )
    return triaged, opened, callback, closed


async def project(db: Database, event: Event) -> Counter[str]:
    with statements(db) as seen:
        async with db.transaction() as session:
            await project_event(session, event)
    return seen


async def tracking_row(db: Database, complaint_id: UUID) -> dict[str, Any]:
    async with db.sessions() as session:
        row = (
            await session.execute(
                sa.text(
                    "SELECT reference, stage, owner_department, category, pending_plan,"
                    " decision_sent, updated_at FROM tracking_status WHERE complaint_id = :id"
                ).bindparams(sa.bindparam("id", type_=sa.Uuid)),
                {"id": complaint_id},
            )
        ).one()
        return dict(row._mapping)


async def complaint_status(db: Database, complaint_id: UUID) -> str:
    async with db.sessions() as session:
        return await session.scalar(
            sa.text("SELECT status FROM complaints WHERE id = :id").bindparams(
                sa.bindparam("id", type_=sa.Uuid)
            ),
            {"id": complaint_id},
        )


async def test_each_event_reads_the_tracking_row_once_and_writes_only_what_moved(
    db: Database, settings: Settings
) -> None:
    cid, reference = await received_complaint(db, settings, "发动机漏油", "王")
    triaged, opened, callback, closed = closing_life(cid, reference)

    # The first entry inserts the row; no complaint read (triage mirrors no status).
    seen = await project(db, new_event(triaged, source="tousu/routing"))
    assert seen["SELECT tracking_status"] == 1 and seen["INSERT tracking_status"] == 1
    assert seen["UPDATE tracking_status"] == 0 and seen["SELECT complaints"] == 0
    assert seen["INSERT tracking_entries"] == 1
    row = await tracking_row(db, cid)
    assert row["reference"] == reference and row["stage"] == "in_progress"
    assert row["owner_department"] == "quality" and row["category"] == "product_quality"

    seen = await project(db, new_event(opened, source="tousu/rectification"))
    assert seen["SELECT tracking_status"] == 1 and seen["UPDATE tracking_status"] == 1
    assert seen["INSERT tracking_status"] == 0 and seen["SELECT complaints"] == 0
    after_opened = await tracking_row(db, cid)
    assert after_opened["owner_department"] == "after_sales"
    assert after_opened["category"] == "product_quality"

    # A callback is a line on the timeline and moves nothing: the row stays as it was.
    seen = await project(db, new_event(callback, source="tousu/rectification"))
    assert seen["SELECT tracking_status"] == 1 and seen["INSERT tracking_entries"] == 1
    assert seen["UPDATE tracking_status"] == 0 and seen["SELECT complaints"] == 0
    assert await tracking_row(db, cid) == after_opened

    # Closing and reopening are mirrored onto the complaint row: that needs it read.
    seen = await project(db, new_event(closed, source="tousu/rectification"))
    assert seen["SELECT tracking_status"] == 1 and seen["SELECT complaints"] == 1
    assert (await tracking_row(db, cid))["stage"] == "closed"
    assert await complaint_status(db, cid) == "closed"
    reopened = ComplaintReopened(
        complaint_id=cid,
        reference=reference,
        case_id=opened.case_id,
        by="csc-1",
        at=T0 + timedelta(minutes=4),
        reason="又坏了",
    )
    await project(db, new_event(reopened, source="tousu/rectification"))
    assert (await tracking_row(db, cid))["stage"] == "in_progress"
    assert await complaint_status(db, cid) == "received"


async def test_events_of_one_complaint_in_one_transaction_see_each_other(
    db: Database, settings: Settings
) -> None:
    """The inbox applies a group of events in one transaction: the second event reads
    what the first wrote (no stale state, no second INSERT of the row)."""
    cid, reference = await received_complaint(db, settings, "异响", "李")
    triaged = ComplaintTriaged(
        complaint_id=cid,
        reference=reference,
        category=ComplaintCategory.service_quality,
        urgency=Urgency.general,
        owner_department="csc",
        decided_by="rules",
        ruleset_version="1",
        triaged_at=T0,
    )
    opened = CaseOpened(
        complaint_id=cid,
        reference=reference,
        case_id=uuid4(),
        status="open",
        owner_department="csc",
        category=ComplaintCategory.service_quality,
        urgency=Urgency.general,
        opened_at=T0 + timedelta(minutes=1),
    )
    with statements(db) as seen:
        async with db.transaction() as session:
            await project_event(session, new_event(triaged, source="tousu/routing"))
            await project_event(session, new_event(opened, source="tousu/rectification"))
    assert seen["SELECT tracking_status"] == 2
    assert seen["INSERT tracking_status"] == 1 and seen["UPDATE tracking_status"] == 1
    row = await tracking_row(db, cid)
    assert row["stage"] == "in_progress" and row["owner_department"] == "csc"


async def test_a_group_of_events_is_projected_with_one_statement_per_kind_as_if_one_by_one(
    db: Database, settings: Settings
) -> None:
    """The consumer hands the projection a whole group commit: one read of the tracking
    rows, one insert of the entries, one insert and one update of the rows that moved,
    and the same rows and timelines as the events applied one at a time."""

    def lives(cid: UUID, reference: str, closes: bool) -> list[Event]:
        payloads = closing_life(cid, reference)
        return [
            new_event(payload, source="tousu/test") for payload in payloads[: 4 if closes else 2]
        ]

    async def timeline(cid: UUID) -> list[tuple[str, Any]]:
        async with db.sessions() as session:
            rows = await session.execute(
                sa.text(
                    "SELECT kind, details FROM tracking_entries"
                    " WHERE complaint_id = :id ORDER BY id"
                ).bindparams(sa.bindparam("id", type_=sa.Uuid)),
                {"id": cid},
            )
            return [(kind, details) for kind, details in rows]

    grouped = [await received_complaint(db, settings, "异响", "李") for _ in range(3)]
    alone = [await received_complaint(db, settings, "异响", "李") for _ in range(3)]
    group_lives = [lives(cid, ref, closes=i == 0) for i, (cid, ref) in enumerate(grouped)]
    # Interleaved across complaints, as a fetch of several partitions brings them.
    group = [event for step in zip_longest(*group_lives) for event in step if event is not None]
    with statements(db) as seen:
        async with db.transaction() as session:
            await project_events(session, group)
    assert seen["SELECT tracking_status"] == 1 and seen["INSERT tracking_entries"] == 1
    assert seen["INSERT tracking_status"] == 1 and seen["UPDATE tracking_status"] == 0
    assert seen["SELECT complaints"] == 1  # the closing mirrored onto the complaint row

    for i, (cid, ref) in enumerate(alone):
        for event in lives(cid, ref, closes=i == 0):
            await project(db, event)
    for (cid, _), (other, _) in zip(grouped, alone, strict=True):
        mine, theirs = await tracking_row(db, cid), await tracking_row(db, other)
        for row in (mine, theirs):
            del row["reference"], row["updated_at"]
        assert mine == theirs
        assert await timeline(cid) == await timeline(other)
        assert await complaint_status(db, cid) == await complaint_status(db, other)
    assert (await tracking_row(db, grouped[0][0]))["stage"] == "closed"
    assert (await tracking_row(db, grouped[1][0]))["stage"] == "in_progress"

    # A second group: only the rows whose state moved are written, in one UPDATE.
    (first, first_ref), (second, second_ref) = grouped[0], grouped[1]
    reopened = ComplaintReopened(
        complaint_id=first,
        reference=first_ref,
        case_id=uuid4(),
        by="csc-1",
        at=T0 + timedelta(minutes=4),
        reason="又坏了",
    )
    callback = CallbackDone(
        complaint_id=second,
        reference=second_ref,
        case_id=uuid4(),
        by="csc-1",
        at=T0 + timedelta(minutes=2),
        score=4,
        satisfied=True,
    )
    before = await tracking_row(db, second)
    with statements(db) as seen:
        async with db.transaction() as session:
            await project_events(
                session,
                [
                    new_event(reopened, source="tousu/rectification"),
                    new_event(callback, source="tousu/rectification"),
                ],
            )
    assert seen["SELECT tracking_status"] == 1 and seen["INSERT tracking_entries"] == 1
    assert seen["UPDATE tracking_status"] == 1 and seen["INSERT tracking_status"] == 0
    assert (await tracking_row(db, first))["stage"] == "in_progress"
    assert await complaint_status(db, first) == "received"
    assert await tracking_row(db, second) == before
