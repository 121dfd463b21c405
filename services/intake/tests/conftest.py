"""The shared fixtures (`db`, `client`, `headers_for`, ...) come from
``tousu_common.testing.plugin``; this names the package they build and keeps
each test's files (attachments) in its own directory."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from tousu_common.db import Database
from tousu_common.messaging.tables import outbox
from tousu_common.testing.statements import sql_run, statement_kind


@pytest.fixture
def service_package() -> str:
    return "tousu_intake"


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Settings built by the `client` fixture read this (TOUSU_INTAKE_DATA_DIR)."""
    directory = tmp_path / "intake-data"
    monkeypatch.setenv("TOUSU_INTAKE_DATA_DIR", str(directory))
    return directory


def stored_files(directory: Path) -> list[Path]:
    root = directory / "attachments"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


async def outbox_events(db: Database) -> list[dict]:
    async with db.sessions() as session:
        rows = await session.execute(
            sa.select(outbox.c.event_type, outbox.c.payload).order_by(outbox.c.id)
        )
    return [{"type": row.event_type, **json.loads(row.payload)} for row in rows]


async def count_rows(db: Database, table: str) -> int:
    async with db.sessions() as session:
        return int(await session.scalar(sa.text(f"SELECT count(*) FROM {table}")) or 0)  # noqa: S608


@contextmanager
def statements(db: Database) -> Iterator[Counter[str]]:
    """Counts the statements run on ``db`` by kind and table ("SELECT tracking_status",
    "INSERT customers", "UPDATE complaints"; a SELECT by the first table it reads),
    filled in when the block ends."""
    seen: Counter[str] = Counter()
    with sql_run(db) as ran:
        yield seen
    for statement in ran:
        kind = statement_kind(statement)
        if kind is not None:
            seen[kind] += 1
