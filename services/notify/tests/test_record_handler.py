"""Events → notification rows, once each, readable over the API (SQLite and PostgreSQL)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID, uuid4

import httpx
import pytest
import sqlalchemy as sa

from tousu_common.db import Database
from tousu_common.events import (
    Channel,
    ComplaintCategory,
    ComplaintReceived,
    ComplaintTriaged,
    Event,
    Urgency,
    new_event,
)
from tousu_notify.adapters.orm import NotificationRow
from tousu_notify.handlers.record import record_notification

pytestmark = pytest.mark.integration

SECRET_TEXT = "张三 13800000000 zhangsan@example.com"


def received_event(complaint_id: UUID) -> Event:
    return new_event(
        ComplaintReceived(
            complaint_id=complaint_id,
            reference="TS-2026-000900",
            channel=Channel.hotline,
            received_at=datetime.now(UTC),
            title="服务态度差",
            description=f"维修站师傅态度很差。联系人 {SECRET_TEXT}",
        ),
        source="tousu/intake",
    )


def triaged_event(complaint_id: UUID, owner: str = "csc") -> Event:
    return new_event(
        ComplaintTriaged(
            complaint_id=complaint_id,
            reference="TS-2026-000900",
            category=ComplaintCategory.service_quality,
            urgency=Urgency.general,
            owner_department=owner,
            decided_by="rules",
            rule_id="service-quality",
            ruleset_version="2026.11-1",
            triaged_at=datetime.now(UTC),
        ),
        source="tousu/routing",
    )


async def handle(db: Database, event: Event) -> None:
    async with db.transaction() as session:
        await record_notification(session, event)


async def recorded(db: Database) -> list[tuple[str, str]]:
    async with db.sessions() as session:
        rows = await session.execute(
            sa.select(NotificationRow.kind, NotificationRow.recipient).order_by(
                NotificationRow.created_at
            )
        )
        return [(row.kind, row.recipient) for row in rows.all()]


async def test_received_and_triaged_complaint_get_one_notification_each(db: Database) -> None:
    complaint_id = uuid4()
    await handle(db, received_event(complaint_id))
    await handle(db, triaged_event(complaint_id, owner="csc"))
    assert await recorded(db) == [
        ("acknowledgement", "customer"),
        ("assigned_to_department", "department:csc"),
    ]


async def test_the_customer_is_acknowledged_once_per_complaint(db: Database) -> None:
    complaint_id = uuid4()
    await handle(db, received_event(complaint_id))
    await handle(db, received_event(complaint_id))
    assert await recorded(db) == [("acknowledgement", "customer")]


async def test_a_new_owner_department_is_notified_too(db: Database) -> None:
    complaint_id = uuid4()
    await handle(db, triaged_event(complaint_id, owner="csc"))
    await handle(db, triaged_event(complaint_id, owner="quality"))
    assert [recipient for _, recipient in await recorded(db)] == [
        "department:csc",
        "department:quality",
    ]


async def test_the_log_line_holds_ids_not_complaint_text(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    complaint_id = uuid4()
    with caplog.at_level(logging.INFO, logger="tousu_notify"):
        await handle(db, received_event(complaint_id))
    [line] = [record for record in caplog.records if record.message == "notification recorded"]
    assert line.kind == "acknowledgement"  # type: ignore[attr-defined]
    assert line.complaint_id == str(complaint_id)  # type: ignore[attr-defined]
    assert all(SECRET_TEXT not in str(value) for value in vars(line).values())


async def test_notifications_are_listed_per_complaint(
    db: Database, client: httpx.AsyncClient, headers_for: Callable[..., dict[str, str]]
) -> None:
    complaint_id, other = uuid4(), uuid4()
    await handle(db, received_event(complaint_id))
    await handle(db, triaged_event(complaint_id, owner="csc"))
    await handle(db, received_event(other))
    response = await client.get(
        "/v1/notifications",
        params={"complaint_id": str(complaint_id)},
        headers=headers_for("agent"),
    )
    assert response.status_code == 200
    body = response.json()
    assert [(item["kind"], item["recipient"]) for item in body] == [
        ("acknowledgement", "customer"),
        ("assigned_to_department", "department:csc"),
    ]
    assert all(item["status"] == "recorded" for item in body)
    assert body[0]["created_at"].endswith(("+00:00", "Z"))


async def test_a_complaint_without_notifications_lists_none(
    client: httpx.AsyncClient, headers_for: Callable[..., dict[str, str]]
) -> None:
    response = await client.get(
        "/v1/notifications", params={"complaint_id": str(uuid4())}, headers=headers_for("csc")
    )
    assert response.status_code == 200
    assert response.json() == []


async def test_listing_needs_a_complaint_id_and_a_staff_token(
    client: httpx.AsyncClient, headers_for: Callable[..., dict[str, str]]
) -> None:
    params = {"complaint_id": str(uuid4())}
    assert (await client.get("/v1/notifications", params=params)).status_code == 401
    gateway = await client.get("/v1/notifications", params=params, headers=headers_for("gateway"))
    assert gateway.status_code == 403
    missing = await client.get("/v1/notifications", headers=headers_for("csc"))
    assert missing.status_code == 422
