"""Upgrading masks the free text of outbox rows staged before masking existed
(pending ones would go out unmasked, retained ones be re-published so), in
every service; rows without free text, and rows it cannot read, stay as they were."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime
from uuid import uuid4

import pytest
import sqlalchemy as sa

from tousu_common.db import Database
from tousu_common.devstack import SERVICES
from tousu_common.events import new_event
from tousu_common.events.catalog import (
    Channel,
    ComplaintCategory,
    ComplaintReceived,
    ComplaintTriaged,
    ResolutionAction,
    ResolutionActionKind,
    ResolutionProposed,
    Urgency,
)
from tousu_common.messaging.tables import outbox
from tousu_common.migrations import upgrade

pytestmark = pytest.mark.integration

WHEN = datetime(2027, 3, 15, 9, tzinfo=UTC)
CID = uuid4()
TEXT = "发动机漏油，联系电话13812345678，邮箱zhang.san@163.com，出厂编号 SN 2027031500123456"
MASKED = "发动机漏油，联系电话138****5678，邮箱z***@163.com，出厂编号 SN 2027031500123456"


def staged_before_masking() -> list[dict]:
    received = ComplaintReceived(
        complaint_id=CID,
        reference="TS-2027-000001",
        channel=Channel.hotline,
        received_at=WHEN,
        title="漏油 13812345678",
        description=TEXT,
    )
    triaged = ComplaintTriaged(
        complaint_id=CID,
        reference="TS-2027-000001",
        category=ComplaintCategory.product_quality,
        urgency=Urgency.important,
        owner_department="quality",
        decided_by="rules",
        ruleset_version="2027.03-1",
        triaged_at=WHEN,
        first_response_due=WHEN,
        resolution_plan_due=WHEN,
    )
    proposed = ResolutionProposed(
        complaint_id=CID,
        reference="TS-2027-000001",
        case_id=uuid4(),
        by="csc-1",
        at=WHEN,
        plan_version=1,
        actions=[
            ResolutionAction(
                kind=ResolutionActionKind.repair,
                description="张工上门，电话021-5555 1234",
                due_date=date(2027, 3, 20),
            )
        ],
    )
    rows = []
    for index, payload in enumerate((received, triaged, proposed)):
        event = new_event(payload, source="tousu/test")
        rows.append(
            {
                "event_id": event.id,
                "event_type": event.type,
                "topic": event.topic,
                "key": str(CID),
                "headers": [],
                # what add_event wrote before masking: the payload as given
                "payload": event.value().decode(),
                "status": "published" if index else "pending",
                "created_at": WHEN,
            }
        )
    rows.append({**rows[0], "event_id": "broken", "payload": '{"description": "13812345678"'})
    return rows


@pytest.mark.parametrize("package", [spec.package for spec in SERVICES])
async def test_upgrade_masks_free_text_already_in_the_outbox(
    package: str, database_url: str
) -> None:
    await asyncio.to_thread(upgrade, package, database_url, "0701")
    db = Database(database_url)
    try:
        rows = staged_before_masking()
        async with db.transaction() as session:
            await session.execute(sa.insert(outbox), rows)
        await asyncio.to_thread(upgrade, package, database_url)
        async with db.sessions() as session:
            after = dict(
                (await session.execute(sa.select(outbox.c.event_id, outbox.c.payload))).all()
            )
    finally:
        await db.dispose()
    received, triaged, proposed, broken = (after[row["event_id"]] for row in rows)
    body = json.loads(received)
    assert body["description"] == MASKED and body["title"] == "漏油 138****5678"
    assert body["received_at"] == json.loads(rows[0]["payload"])["received_at"]
    assert triaged == rows[1]["payload"]  # no free text: untouched
    assert json.loads(proposed)["actions"][0]["description"] == "张工上门，电话021-****1234"
    assert broken == rows[3]["payload"]  # unreadable: left alone
