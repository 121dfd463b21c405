"""Fixtures for the rectification tests: the app with a data dir, tokens with a
department, a case to work on, and what the database holds."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
import sqlalchemy as sa

from tousu_common.db import Database
from tousu_common.events import ComplaintCategory, ComplaintTriaged, Urgency, new_event
from tousu_common.messaging.tables import outbox
from tousu_rectification.adapters.rectification_orm import (
    EvidenceRow,
    RectificationHistoryRow,
    RectificationRow,
)
from tousu_rectification.config import Settings
from tousu_rectification.handlers.open_case import open_case_for_triaged_complaint
from tousu_rectification.main import create_app

PUBLIC_URL = "http://rectification.example"


@pytest.fixture
def settings(db: Database, jwt_secret: str, tmp_path: Path) -> Settings:
    return Settings(
        jwt_secret=jwt_secret,
        database_url=db.url,
        environment="test",
        data_dir=tmp_path / "data",
        public_url=PUBLIC_URL,
    )


@pytest.fixture
async def api(db: Database, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The rectification app in-process (no lifespan) on the test database."""
    app = create_app(settings)
    app.state.db = db
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as http:
        yield http


@pytest.fixture
def as_(token_for: Callable[..., str]) -> Callable[..., dict[str, str]]:
    """``as_("department", department="logistics")``: headers for such a caller."""

    def headers(*roles: str, department: str | None = None, sub: str | None = None):
        subject = sub or f"{'-'.join(roles)}-{department or 'x'}"
        return {"Authorization": f"Bearer {token_for(*roles, sub=subject, department=department)}"}

    return headers


def in_days(days: int) -> str:
    return (date.today() + timedelta(days=days)).isoformat()


@pytest.fixture
def open_case(db: Database) -> Callable[..., Awaitable[UUID]]:
    """Open a case the way routing would (complaint.triaged); returns the complaint id."""

    async def make(category: ComplaintCategory = ComplaintCategory.service_quality) -> UUID:
        complaint_id = uuid4()
        event = new_event(
            ComplaintTriaged(
                complaint_id=complaint_id,
                reference=f"TS-2026-{uuid4().int % 10**6:06d}",
                category=category,
                urgency=Urgency.important,
                owner_department="csc",
                decided_by="rules",
                ruleset_version="test",
                triaged_at=datetime.now(UTC),
            ),
            source="tousu/routing",
        )
        async with db.transaction() as session:
            await open_case_for_triaged_complaint(session, event)
        return complaint_id

    return make


async def outbox_types(db: Database, complaint_id: UUID | None = None) -> list[str]:
    query = sa.select(outbox.c.event_type).order_by(outbox.c.id)
    if complaint_id is not None:
        query = query.where(outbox.c.key == str(complaint_id))
    async with db.sessions() as session:
        return list(await session.scalars(query))


async def snapshot(db: Database, rectification_id: UUID) -> dict[str, Any]:
    """Everything a refused request must leave as it was."""
    async with db.sessions() as session:
        row = await session.get(RectificationRow, rectification_id)
        history = await session.scalar(
            sa.select(sa.func.count())
            .select_from(RectificationHistoryRow)
            .where(RectificationHistoryRow.rectification_id == rectification_id)
        )
        events = await session.scalar(sa.select(sa.func.count()).select_from(outbox))
        files = await session.scalar(
            sa.select(sa.func.count())
            .select_from(EvidenceRow)
            .where(EvidenceRow.rectification_id == rectification_id)
        )
    assert row is not None
    return {
        "status": row.status,
        "version": row.version,
        "history": history,
        "outbox": events,
        "evidence": files,
        "evidence_count": row.evidence_count,
    }
