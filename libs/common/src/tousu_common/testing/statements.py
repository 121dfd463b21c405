"""The SQL a block of code runs, for tests that pin how many statements a path costs
(issue 17: the per-event paths were tuned statement by statement, and a test keeps
them from growing back)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from tousu_common.db import Database


@contextmanager
def sql_run(db: Database) -> Iterator[list[str]]:
    """Every statement run on ``db`` inside the block, whitespace folded, in order
    (no ``BEGIN``: the drivers begin transactions without a statement of SQLAlchemy's)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(" ".join(statement.split()))

    sa.event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(db.engine.sync_engine, "before_cursor_execute", record)


def statement_kind(statement: str) -> str | None:
    """A statement by kind and table: "SELECT tracking_status" (a SELECT by the first
    table it reads), "INSERT customers", "DELETE outbox", "UPDATE complaints"; None for
    anything else. What the statement-count tests pin, and what the pipeline
    benchmark's ``--count-sql`` reports."""
    words = statement.split()
    if not words:
        return None
    if words[0] == "SELECT" and "FROM" in words:
        return "SELECT " + words[words.index("FROM") + 1]
    if words[0] in ("INSERT", "DELETE"):
        return f"{words[0]} {words[2]}"
    if words[0] == "UPDATE":
        return f"UPDATE {words[1]}"
    return None
