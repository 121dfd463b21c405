"""Fixtures for the digest tests: a broker of their own (the real topic names,
no other test's events on them), the generated month, and notify's app on a
migrated database with the digest settings the tests need."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tousu_common.db import Database
from tousu_common.devstack import Broker
from tousu_common.migrations import upgrade
from tousu_notify.config import Settings
from tousu_notify.main import create_app

from .generator import Generated, generate

UNITS = {"oem": 5000, "dealer": 20000, "end_customer": 150000}


@pytest.fixture(scope="session")
def generated() -> Generated:
    return generate()


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[Broker]:
    instance = Broker(log_path=tmp_path / "broker.log").start()
    yield instance
    instance.stop()


@pytest.fixture
async def notify_db(database_url: str) -> AsyncIterator[Database]:
    await asyncio.to_thread(upgrade, "tousu_notify", database_url)
    database = Database(database_url)
    yield database
    await database.dispose()


@pytest.fixture
def notify_settings(own_broker: Broker, notify_db: Database, jwt_secret: str) -> Settings:
    return Settings(
        jwt_secret=jwt_secret,
        database_url=notify_db.url,
        environment="test",
        kafka_bootstrap_servers=own_broker.bootstrap,
        kafka_topic_partitions=3,
        consumer_backoff_base_s=0.01,
        consumer_backoff_max_s=0.05,
        outbox_poll_interval_s=0.05,
        digest_units_in_service=UNITS,
        digest_scheduler_enabled=False,
        public_url="http://notify.example",
    )


@pytest.fixture
async def notify_client(
    notify_settings: Settings, notify_db: Database
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(notify_settings)
    app.state.db = notify_db
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://notify") as http:
        yield http
