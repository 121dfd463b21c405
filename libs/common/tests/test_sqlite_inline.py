"""SQLite runs on the event loop's thread, and waiting for another process's write
lock does not stop the loop (``tousu_common.sqlite_inline``)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from tousu_common.db import Database, new_metadata
from tousu_common.sqlite_inline import InlineConnection

metadata = new_metadata()
notes = sa.Table(
    "notes", metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("text", sa.Text)
)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'inline.db'}")
    async with database.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield database
    await database.dispose()


def hold_the_write_lock(path: Path) -> sqlite3.Connection:
    """Another process's writer, as far as SQLite can tell: its own connection."""
    locker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    locker.execute("BEGIN IMMEDIATE")
    return locker


async def test_statements_run_on_the_loops_thread_without_a_worker_thread(db: Database) -> None:
    threads_before = threading.active_count()
    async with db.transaction() as session:
        await session.execute(sa.insert(notes).values(id=1, text="one"))
        raw = await session.connection()
        driver = (await raw.get_raw_connection()).driver_connection
    async with db.sessions() as session:
        assert (await session.scalars(sa.select(notes.c.text))).all() == ["one"]
    assert isinstance(driver, InlineConnection)
    assert threading.active_count() == threads_before


async def test_a_writer_waits_for_another_process_lock_while_the_loop_keeps_running(
    db: Database, tmp_path: Path
) -> None:
    locker = hold_the_write_lock(tmp_path / "inline.db")
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    async def write() -> None:
        async with db.transaction() as session:
            await session.execute(sa.insert(notes).values(id=2, text="after the lock"))

    ticker = asyncio.create_task(tick())
    writer = asyncio.create_task(write())
    try:
        await asyncio.sleep(0.5)
        assert not writer.done(), "the write went through while another connection held the lock"
        assert ticks >= 10, f"the event loop was held: {ticks} ticks in 0.5 s"
        locker.rollback()
        await asyncio.wait_for(writer, 10)
    finally:
        ticker.cancel()
        locker.close()
    async with db.sessions() as session:
        assert (await session.scalars(sa.select(notes.c.text))).all() == ["after the lock"]


async def test_a_writer_gives_up_with_database_is_locked_after_its_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tousu_common.db.SQLITE_BUSY_WAIT_S", 0.3)
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'inline.db'}")
    async with db.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    locker = hold_the_write_lock(tmp_path / "inline.db")
    try:
        with pytest.raises(OperationalError, match="database is locked"):
            async with asyncio.timeout(10), db.transaction() as session:
                await session.execute(sa.insert(notes).values(id=3, text="never"))
    finally:
        locker.rollback()
        locker.close()
        await db.dispose()
    async with db.sessions() as session:
        assert (await session.scalars(sa.select(notes.c.text))).all() == []
