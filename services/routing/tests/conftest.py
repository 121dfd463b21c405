"""The shared fixtures (`db`, `client`, `headers_for`, ...) come from
``tousu_common.testing.plugin``; this names the package they build and adds
routing's own factories."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import httpx
import pytest

from tousu_common.db import Database
from tousu_common.events import Event, new_event
from tousu_common.events.catalog import Channel, ComplaintReceived, EventPayload
from tousu_routing.bootstrap import Routing
from tousu_routing.config import Settings
from tousu_routing.handlers.events import build_handlers
from tousu_routing.main import create_app


@pytest.fixture
def service_package() -> str:
    return "tousu_routing"


@dataclass
class FakeTime:
    """A clock the test moves by hand."""

    current: datetime

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> datetime:
        self.current += timedelta(**delta)
        return self.current


# Monday 2026-11-23 10:00 in Shanghai (a working day, inside working hours).
MONDAY_10 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def settings_for(database_url: str, jwt_secret: str = "s" * 40, **overrides: Any) -> Settings:
    return Settings(
        jwt_secret=jwt_secret, database_url=database_url, environment="test", **overrides
    )


def received(**overrides: Any) -> ComplaintReceived:
    values: dict[str, Any] = {
        "complaint_id": uuid4(),
        "reference": "TS-2026-000123",
        "channel": Channel.hotline,
        "received_at": MONDAY_10,
        "title": "发动机漏油",
        "description": "新车行驶不到三千公里，发动机缸盖处持续漏油。",
        "product_model": "YC6K",
        "serial_number": "SN-1",
        "customer_id": uuid4(),
    }
    values.update(overrides)
    return ComplaintReceived(**values)


class Desk:
    """Routing's event handlers on a real database, with a hand-moved clock."""

    def __init__(self, db: Database, settings: Settings, time: FakeTime) -> None:
        self.db = db
        self.time = time
        self.routing = Routing(settings, time)
        self.handlers = build_handlers(self.routing)

    async def deliver(self, payload: EventPayload, source: str = "tousu/test") -> Event:
        event = new_event(payload, source=source)
        async with self.db.transaction() as session:
            await self.handlers[event.type](session, event)
        return event


@pytest.fixture
def time() -> FakeTime:
    return FakeTime(MONDAY_10 + timedelta(minutes=1))


@pytest.fixture
def make_desk(db: Database, time: FakeTime, jwt_secret: str) -> Callable[..., Desk]:
    return lambda **overrides: Desk(db, settings_for(db.url, jwt_secret, **overrides), time)


@pytest.fixture
def desk(make_desk: Callable[..., Desk]) -> Desk:
    return make_desk()


@pytest.fixture
async def client(db: Database, jwt_secret: str, time: FakeTime) -> AsyncIterator[httpx.AsyncClient]:
    """Routing's app on that database with the test's hand-moved clock, in-process
    without its lifespan (no broker, no scheduler task: tests tick it themselves)."""
    app = create_app(settings_for(db.url, jwt_secret), time=time)
    app.state.db = db
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as http:
        yield http


@pytest.fixture
def auth(token_for: Callable[..., str]) -> Callable[..., dict[str, str]]:
    """``auth("department", department="quality", sub="q-1")``."""

    def headers(*roles: str, sub: str = "tester", department: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token_for(*roles, sub=sub, department=department)}"}

    return headers
