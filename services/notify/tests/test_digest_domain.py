"""The digests' domain modules: pure values, no I/O (issue 16)."""

from __future__ import annotations

import ast
from datetime import timedelta
from pathlib import Path

from tousu_notify.domain.digest_data import as_of_instant
from tousu_notify.domain.digest_periods import Period

DOMAIN = Path(__file__).parents[1] / "src" / "tousu_notify" / "domain"
IO_LIBRARIES = {"sqlalchemy", "httpx", "aiokafka", "fastapi", "starlette"}


def test_as_of_is_the_end_of_an_ended_period_and_now_while_it_runs() -> None:
    period = Period.parse("week", "2026-W47", "Asia/Shanghai")
    assert as_of_instant(period, period.end_utc + timedelta(days=3)) == period.end_utc
    running = period.start_utc + timedelta(hours=5)
    assert as_of_instant(period, running) == running
    assert as_of_instant(period, period.start_utc - timedelta(days=1)) == period.start_utc


def test_digest_domain_modules_import_no_io_library() -> None:
    for path in sorted(DOMAIN.glob("digest_*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] not in IO_LIBRARIES, f"{path.name} imports {name}"
