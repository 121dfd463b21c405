"""The shared fixtures (`db`, `client`, `headers_for`, ...) come from
``tousu_common.testing.plugin``; this names the package they build, and adds
small factories for cases and callers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
import sqlalchemy as sa

from tousu_common.db import Database
from tousu_common.events import ComplaintCategory, ComplaintTriaged, Urgency, new_event
from tousu_common.messaging.tables import outbox


@pytest.fixture
def service_package() -> str:
    return "tousu_rectification"


@pytest.fixture
def staff(token_for: Callable[..., str]) -> Callable[..., dict[str, str]]:
    """``staff("quality", department="quality")``: headers for such a caller."""

    def make(*roles: str, department: str | None = None, sub: str | None = None) -> dict[str, str]:
        subject = sub or f"{'+'.join(roles)}@{department or '-'}"
        token = token_for(*roles, sub=subject, department=department)
        return {"Authorization": f"Bearer {token}"}

    return make


@pytest.fixture
def open_case(db: Database) -> Callable[..., Awaitable[UUID]]:
    """Open a case as routing's complaint.triaged would; returns the complaint id."""
    from tousu_rectification.handlers.open_case import open_case_for_triaged_complaint

    async def make(owner: str = "quality", **overrides: object) -> UUID:
        now = datetime.now(UTC)
        values: dict[str, object] = {
            "complaint_id": uuid4(),
            "reference": "TS-2026-000777",
            "category": ComplaintCategory.product_quality,
            "urgency": Urgency.urgent,
            "owner_department": owner,
            "decided_by": "rules",
            "rule_id": "product-quality",
            "ruleset_version": "2026.11-1",
            "triaged_at": now,
            "first_response_due": now + timedelta(hours=2),
            "resolution_plan_due": now + timedelta(hours=24),
        }
        values.update(overrides)
        event = new_event(ComplaintTriaged.model_validate(values), source="tousu/routing")
        async with db.transaction() as session:
            await open_case_for_triaged_complaint(session, event)
        return event.data.complaint_id

    return make


@pytest.fixture
def staged(db: Database) -> Callable[[UUID], Awaitable[list[tuple[str, dict]]]]:
    """The events staged in the outbox for one complaint: (type, payload), in order."""
    import json

    async def read(complaint_id: UUID) -> list[tuple[str, dict]]:
        async with db.sessions() as session:
            rows = await session.execute(
                sa.select(outbox.c.event_type, outbox.c.payload)
                .where(outbox.c.key == str(complaint_id))
                .order_by(outbox.c.id)
            )
            return [(event_type, json.loads(payload)) for event_type, payload in rows]

    return read
