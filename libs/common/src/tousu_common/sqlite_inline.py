"""SQLite on the event loop's own thread, for SQLAlchemy's aiosqlite dialect.

aiosqlite runs each connection in a worker thread and hands every statement,
fetch and commit over a queue and back through ``call_soon_threadsafe``: two
thread switches and a wake-up of the event loop per call, several per
statement. Profiles of the pipeline put a third of a service's CPU there
(issue 17), far more than SQLite's own work on a local file, which takes
microseconds. This module gives the dialect a connection with aiosqlite's
shape whose coroutines call :mod:`sqlite3` directly, so a statement costs one
greenlet switch.

The one thing a worker thread did well is waiting: SQLite's busy handler
sleeps while another process holds the write lock, and on the loop's thread
that sleep would stop every other task. So these connections run with
``busy_timeout=0`` (see ``tousu_common.db``) and wait here instead, with
``asyncio.sleep``, up to the same 30 s. Only a statement that starts or ends a
transaction, or runs outside one, is retried: that is where SQLite reports
"busy" without having done part of the work (writers begin ``IMMEDIATE``, so
they never have to upgrade a lock mid-transaction).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from tousu_common import metrics

#: SQLite's primary result codes for "another connection holds the lock".
_BUSY_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
_FIRST_PAUSE_S = 0.001
_LONGEST_PAUSE_S = 0.05


def _busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) in _BUSY_CODES


def _may_retry(connection: sqlite3.Connection, operation: str) -> bool:
    if not connection.in_transaction:
        return True
    return operation.lstrip()[:6].upper() in ("COMMIT", "BEGIN ")


class InlineCursor:
    """A :class:`sqlite3.Cursor` behind aiosqlite's awaitable cursor methods."""

    def __init__(self, connection: InlineConnection) -> None:
        self._owner = connection
        self._cursor = connection._open().cursor()

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, operation: str, parameters: Any = ()) -> InlineCursor:
        await self._owner._run(operation, self._cursor.execute, operation, parameters)
        return self

    async def executemany(self, operation: str, parameters: Iterable[Any]) -> InlineCursor:
        rows = list(parameters)  # a retry must see the same rows again
        await self._owner._run(operation, self._cursor.executemany, operation, rows)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    async def nextset(self) -> None:
        return None

    async def setinputsizes(self, *sizes: Any) -> None:
        return None


class _RunNow:
    """aiosqlite's request queue, as SQLAlchemy's adapter uses it (to set the
    isolation level): here the request runs at once."""

    def put_nowait(self, item: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as exc:
            future.set_exception(exc)


class InlineConnection:
    """What SQLAlchemy's aiosqlite adapter needs of ``aiosqlite.Connection``."""

    def __init__(self, connection: sqlite3.Connection, busy_wait_s: float, name: str) -> None:
        self._conn: sqlite3.Connection | None = connection
        self._tx = _RunNow()
        self._busy_wait_s = busy_wait_s
        self._waiting = metrics.child(metrics.SQLITE_WAITING, name)

    @property
    def _connection(self) -> sqlite3.Connection | None:
        return self._conn

    def _open(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ValueError("Connection closed")
        return self._conn

    async def _run(self, operation: str, call: Callable[..., Any], *args: Any) -> Any:
        """``call(*args)``; while another process holds the lock, wait without
        stopping the event loop and try again (see the module text)."""
        connection = self._open()
        try:
            return call(*args)
        except sqlite3.OperationalError as exc:
            if not (_busy(exc) and _may_retry(connection, operation)):
                raise
        deadline = time.monotonic() + self._busy_wait_s
        pause = _FIRST_PAUSE_S
        self._waiting.inc()
        try:
            while True:
                if time.monotonic() + pause > deadline:
                    return call(*args)  # the last try: its "database is locked" goes up
                await asyncio.sleep(pause)
                pause = min(pause * 2, _LONGEST_PAUSE_S)
                try:
                    return call(*args)
                except sqlite3.OperationalError as exc:
                    if not _busy(exc):
                        raise
        finally:
            self._waiting.dec()

    @property
    def isolation_level(self) -> str | None:
        return self._open().isolation_level

    def cursor(self) -> InlineCursor:
        return InlineCursor(self)

    async def execute(self, operation: str, parameters: Sequence[Any] = ()) -> InlineCursor:
        return await self.cursor().execute(operation, parameters)

    async def begin(self, *, immediate: bool) -> None:
        """Start a transaction (``BEGIN IMMEDIATE`` takes the write lock at once)."""
        operation = "BEGIN IMMEDIATE" if immediate else "BEGIN"
        connection = self._open()
        await self._run(operation, connection.execute, operation)

    async def commit(self) -> None:
        connection = self._open()
        await self._run("COMMIT", connection.commit)

    async def rollback(self) -> None:
        self._open().rollback()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._open().create_function(*args, **kwargs)

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        """Close now (SQLAlchemy's terminate, when a graceful close failed)."""
        connection, self._conn = self._conn, None
        if connection is not None:
            connection.close()


def inline_connector(database: str, *, busy_wait_s: float) -> Callable[[], Any]:
    """An ``async_creator`` for ``create_async_engine``: connections to ``database``
    (a path, or ``:memory:``) that run on the calling thread."""

    name = Path(database).name

    async def connect() -> InlineConnection:
        connection = sqlite3.connect(
            database,
            # The pool may close a connection from the thread that disposes the
            # engine; statements themselves only ever run on the loop's thread.
            check_same_thread=False,
            isolation_level=None,
            timeout=0,
        )
        return InlineConnection(connection, busy_wait_s, name)

    return connect
