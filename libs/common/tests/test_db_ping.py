"""PostgreSQL connections are pinged before use only after sitting idle: a ping per
transaction was a third of a short transaction's CPU (bench/RESULTS.md 2026-12-07)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from tousu_common.db import Database
from tousu_common.testing.postgres import PostgresCluster

pytestmark = pytest.mark.integration


@pytest.fixture
async def url(postgres: PostgresCluster) -> str:
    return postgres.create_database(f"ping_{uuid.uuid4().hex[:12]}")


async def one(db: Database) -> int:
    async with db.transaction() as session:
        return int(await session.scalar(sa.text("SELECT 1")) or 0)


async def server_ends_every_other_connection(url: str) -> None:
    """What a server restart does to a pool: every connection it holds is gone."""
    killer = Database(url, pool_size=1)
    try:
        async with killer.engine.connect() as connection:
            await connection.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
    finally:
        await killer.dispose()


@pytest.fixture
def pings(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The pings the dialect sends (counted, then sent as usual)."""
    from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg

    sent: list[object] = []
    ping = PGDialect_asyncpg.do_ping

    def counted(self: PGDialect_asyncpg, dbapi_connection: object) -> bool:
        sent.append(dbapi_connection)
        return ping(self, dbapi_connection)

    monkeypatch.setattr(PGDialect_asyncpg, "do_ping", counted)
    return sent


@pytest.fixture
async def quick_ping(url: str) -> AsyncIterator[Database]:
    db = Database(url, pool_size=2, ping_after_idle_s=0.2)
    yield db
    await db.dispose()


async def test_a_connection_used_a_moment_ago_is_not_pinged(
    quick_ping: Database, pings: list[object]
) -> None:
    for _ in range(5):
        assert await one(quick_ping) == 1
    assert pings == []


async def test_a_connection_the_server_dropped_while_idle_is_replaced_before_use(
    quick_ping: Database, url: str, pings: list[object]
) -> None:
    assert await one(quick_ping) == 1
    await server_ends_every_other_connection(url)
    await asyncio.sleep(0.3)  # the time this test is about: longer than ping_after_idle_s
    assert await one(quick_ping) == 1  # pinged, found dead, replaced: no error
    assert len(pings) == 1


async def test_a_connection_dropped_within_the_idle_time_fails_once_then_the_pool_is_new(
    url: str, pings: list[object]
) -> None:
    """The price of not pinging: the first transaction after a server restart that
    comes within the idle time fails with a disconnect, and the pool is replaced."""
    db = Database(url, pool_size=2, ping_after_idle_s=3600)
    try:
        assert await one(db) == 1
        await server_ends_every_other_connection(url)
        with pytest.raises(DBAPIError) as failed:
            await one(db)
        assert failed.value.connection_invalidated
        assert await one(db) == 1
        assert pings == []
    finally:
        await db.dispose()
