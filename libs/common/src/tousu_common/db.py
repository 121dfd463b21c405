"""Async database access shared by the services (SQLAlchemy 2).

SQLite is the embedded default, PostgreSQL the production database; the same
code runs on both. SQLite allows one writer at a time, so on SQLite:

- write transactions (:meth:`Database.transaction`) start with
  ``BEGIN IMMEDIATE`` (no "database is locked" when a read lock would be
  upgraded) and queue on an in-process asyncio lock first, so writers of one
  process wait their turn without SQLite's sleeping busy handler (which
  turned p99 latency into seconds under load);
- read-only sessions (:attr:`Database.sessions`) use a plain deferred
  ``BEGIN`` and, in WAL mode, never wait for the writer.

On PostgreSQL neither applies: row locks and MVCC do the job. Read-only
sessions there run at REPEATABLE READ, so every query of one answer sees the
same snapshot: at READ COMMITTED an API view assembled from several queries
could show a consumer's commit half (a feedback answer without the history line
written in the same transaction). A read-only transaction never gets a
serialization failure, so this costs nothing. (SQLite's deferred ``BEGIN`` is
already one snapshot from the first read on.)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, MetaData, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator
from sqlalchemy.util import await_

from tousu_common.sqlite_inline import inline_connector

# Integer primary keys that autoincrement on both backends (SQLite only
# autoincrements INTEGER PRIMARY KEY, not BIGINT).
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that always comes back timezone-aware in UTC.

    PostgreSQL keeps the zone; SQLite stores text and hands back naive values.
    Naive input is refused, so a local time can never be stored by mistake.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass a timezone-aware value")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)


def make_base() -> type[DeclarativeBase]:
    """A declarative base with its own metadata, one per service.

    A service's metadata then holds only its own tables plus the shared
    outbox/inbox (see ``tousu_common.messaging.tables``).
    """
    metadata = new_metadata()

    class ServiceBase(DeclarativeBase):
        pass

    ServiceBase.metadata = metadata
    return ServiceBase


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _prepare_sqlite_path(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    echo: bool = False,
    ping_after_idle_s: float | None = None,
) -> AsyncEngine:
    """An engine whose errors never quote bound values: those are customers' names
    and phone numbers, and errors end up in logs and dead-letter headers."""
    if is_sqlite(url):
        _prepare_sqlite_path(url)
        database = make_url(url).database or ":memory:"
        engine = create_async_engine(
            url,
            echo=echo,
            hide_parameters=True,
            async_creator=inline_connector(database, busy_wait_s=SQLITE_BUSY_WAIT_S),
        )
        _make_sqlite_behave(engine)
        return engine
    engine = create_async_engine(
        url,
        echo=echo,
        hide_parameters=True,
        pool_size=pool_size,
        max_overflow=pool_size,
    )
    _ping_after_idle(engine, PING_AFTER_IDLE_S if ping_after_idle_s is None else ping_after_idle_s)
    return engine


#: A pooled PostgreSQL connection idle longer than this is pinged before use.
PING_AFTER_IDLE_S = 5.0
_CHECKED_IN = "tousu_checked_in"


def _ping_after_idle(engine: AsyncEngine, idle_s: float) -> None:
    """Ping a pooled connection before use only if it sat idle for ``idle_s``.

    ``pool_pre_ping`` pings on every checkout: a round trip per transaction, a
    third of a short transaction's CPU on both sides (bench/RESULTS.md,
    2026-12-07). A connection that served a transaction seconds ago is alive
    unless the server went away since; then the statement fails with a
    disconnect error, SQLAlchemy invalidates the whole pool, and the caller's
    retry (a consumer's backoff, a client's) gets fresh connections. A connection
    idle for longer is pinged as before, so a server restarted during a quiet
    spell costs no failed transaction at all."""

    @event.listens_for(engine.sync_engine.pool, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_CHECKED_IN] = time.monotonic()

    @event.listens_for(engine.sync_engine.pool, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        checked_in = record.info.get(_CHECKED_IN)
        if checked_in is None or time.monotonic() - checked_in < idle_s:
            return  # fresh, or used a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # Every pooled connection is as old as this one: replace them all.
            raise InvalidatePoolError() from exc


_WRITE_OPTION = "tousu_write"
_BEGIN_IMMEDIATE = "tousu_begin_immediate"
#: How long a statement waits for another process's write lock on SQLite.
SQLITE_BUSY_WAIT_S = 30.0


def _make_sqlite_behave(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # No sleeping in SQLite's busy handler: on the loop's thread it would stop
        # every task; the connection waits with asyncio instead (sqlite_inline).
        cursor.execute("PRAGMA busy_timeout=0")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.connection.info[_BEGIN_IMMEDIATE] = immediate

    def do_begin(dbapi_connection: Any) -> None:
        # Straight to the driver, where SQLAlchemy begins a transaction (and wraps
        # what fails as it wraps any statement's error): a BEGIN run from the event
        # above with exec_driver_sql paid for a whole statement's execution context
        # and result, a tenth of a short transaction's instructions (issue 17).
        immediate = dbapi_connection.info.pop(_BEGIN_IMMEDIATE, False)
        await_(dbapi_connection.driver_connection.begin(immediate=immediate))

    engine.sync_engine.dialect.do_begin = do_begin  # type: ignore[method-assign]


class Database:
    """An engine plus a session factory; one per service process."""

    def __init__(
        self, url: str, *, pool_size: int = 10, ping_after_idle_s: float | None = None
    ) -> None:
        self.url = url
        self.engine = create_engine(url, pool_size=pool_size, ping_after_idle_s=ping_after_idle_s)
        #: Read-only sessions (queries for APIs and checks); never write through them.
        read_engine = (
            self.engine
            if is_sqlite(url)
            else self.engine.execution_options(isolation_level="REPEATABLE READ")
        )
        self.sessions = async_sessionmaker(read_engine, expire_on_commit=False)
        self._write_sessions = async_sessionmaker(
            self.engine.execution_options(**{_WRITE_OPTION: True}), expire_on_commit=False
        )
        self._write_lock: asyncio.Lock | None = asyncio.Lock() if is_sqlite(url) else None
        self._after_commit: list[Callable[[AsyncSession], None]] = []

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session whose work is committed together, or not at all."""
        async with self._writer_turn(), self._write_sessions() as session:
            async with session.begin():
                yield session
        for hook in self._after_commit:
            hook(session)

    @asynccontextmanager
    async def _writer_turn(self) -> AsyncIterator[None]:
        if self._write_lock is None:
            yield
            return
        async with self._write_lock:
            yield

    def on_commit(self, hook: Callable[[AsyncSession], None]) -> None:
        """Run ``hook(session)`` after every committed :meth:`transaction`."""
        self._after_commit.append(hook)

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
