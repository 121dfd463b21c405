"""Digest computation time for 100k and 1M complaints, beside a bare ceiling
measured in the same run on the same table.

    python bench/bench_digest.py [--sizes 100000 1000000] [--backends sqlite postgresql] [--write]

For each backend and size: a fresh notify database (migrated), synthetic
read-model rows inserted in bulk (complaints received over the 24 months up to
October 2026: ~92 % closed after 1–30 days, 3 % reopened, 2 % withdrawn, 2 %
duplicates, 3 % still open; 80 % with a callback, 10 % with a rectification),
``ANALYZE``, then:

- ceiling: ``SELECT channel, count(*) FROM digest_complaints GROUP BY channel``
  — one aggregate scan of the whole complaints table, the least any
  whole-table report costs;
- the monthly digest of 2026-10 and the weekly digest of 2026-W44, each the full
  ``compute_numbers`` (the period, the previous period and 8 trend periods),
  best of ``--repeat`` runs.

Bounded: ``--max-seconds`` per backend (sizes left over are skipped, and said so).
Prints Markdown; ``--write`` appends it to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent

from tousu_common.db import Database  # noqa: E402
from tousu_common.migrations import upgrade  # noqa: E402
from tousu_notify.domain.digest_periods import Period  # noqa: E402
from tousu_notify.handlers.digests import compute_numbers  # noqa: E402

TZ = "Asia/Shanghai"
END = datetime(2026, 11, 1, tzinfo=UTC)
SPAN_DAYS = 730
CHANNELS = ["hotline", "web", "email", "fax", "letter", "visit", "key_account"]
CATEGORIES = ["product_quality", "service_quality", "delivery", "commercial", "other"]
URGENCIES = ["urgent", "important", "general"]
TIERS = ["strategic", "key", "general"]
SEGMENTS = ["oem", "dealer", "end_customer", None]
DEPARTMENTS = ["csc", "quality", "logistics", "sales", "technical"]
MODELS = [f"YC{n}-{p}" for n in (4, 6) for p in (150, 280, 375, 420)]
SUPPLIERS = ["江淮配套厂", "博世", "潍柴零部件", "玉柴配件", "康明斯"]
ROOTS = ["design", "material", "process", "workmanship", "service", "other"]

COMPLAINT_COLUMNS = [
    "complaint_id", "reference", "channel", "customer_tier", "customer_segment", "key_account",
    "product_model", "received_at", "category", "urgency", "owner_department", "triaged_at",
    "first_response_due", "resolution_plan_due", "is_duplicate", "first_response_at",
    "resolution_proposed_at", "resolutions_rejected", "withdrawn_at", "first_close_at",
    "reopen_count", "fr_due", "fr_outcome_at", "fr_met", "rp_due", "rp_outcome_at", "rp_met",
]  # fmt: skip
FACT_COLUMNS = ["event_id", "complaint_id", "kind", "at", "detail", "score", "rectification_id"]
RECT_COLUMNS = [
    "rectification_id", "complaint_id", "kind", "department", "supplier_name", "reference",
    "issued_at", "due_date", "supplier_responded_at", "root_cause_category", "root_cause_at",
    "verified_at",
]  # fmt: skip


def synthetic(n: int, seed: int = 7) -> tuple[list[tuple], list[tuple], list[tuple]]:
    rng = random.Random(seed)
    complaints, facts, rects = [], [], []
    start = END - timedelta(days=SPAN_DAYS)
    for i in range(n):
        cid = uuid.UUID(int=rng.getrandbits(128))
        received = start + timedelta(seconds=rng.randrange(SPAN_DAYS * 86400))
        urgency = URGENCIES[i % 3]
        fr_due = received + timedelta(hours=(2, 24, 48)[i % 3])
        rp_due = received + timedelta(hours=(24, 72, 120)[i % 3])
        fr_at = received + timedelta(hours=rng.uniform(0.1, 60))
        rp_at = received + timedelta(hours=rng.uniform(2, 150))
        fate = rng.random()
        duplicate = fate < 0.02
        withdrawn = received + timedelta(days=rng.uniform(0.2, 5)) if 0.02 <= fate < 0.04 else None
        still_open = 0.04 <= fate < 0.07
        closed = None
        reopens = 0
        if not (duplicate or withdrawn or still_open):
            closed = received + timedelta(days=rng.uniform(1, 30))
            facts.append((uuid.uuid4().hex, cid, "closed", closed, None, None, None))
            if rng.random() < 0.8:
                score = rng.choice((1, 2, 3, 4, 4, 5, 5))
                facts.append((uuid.uuid4().hex, cid, "callback", closed, None, score, None))
            if rng.random() < 0.03:
                reopens = 1
                again = closed + timedelta(days=rng.uniform(1, 10))
                facts.append((uuid.uuid4().hex, cid, "reopened", again, None, None, None))
                facts.append(
                    (uuid.uuid4().hex, cid, "closed", again + timedelta(days=3), None, None, None)
                )
        if fr_at > fr_due:
            facts.append(
                (uuid.uuid4().hex, cid, "sla_breached", fr_due, "first_response", None, None)
            )
        if rng.random() < 0.10:
            rid = uuid.UUID(int=rng.getrandbits(128))
            issued = received + timedelta(days=rng.uniform(0.5, 3))
            answered = issued + timedelta(days=rng.uniform(1, 20))
            supplier = rng.random() < 0.4
            rects.append(
                (rid, cid, "supplier_notice" if supplier else "service_instruction",
                 None if supplier else rng.choice(DEPARTMENTS),
                 rng.choice(SUPPLIERS) if supplier else None, f"TS-2026-{i:07d}", issued,
                 (issued + timedelta(days=10)).date(), answered if supplier else None,
                 rng.choice(ROOTS), answered, answered + timedelta(days=2))
            )  # fmt: skip
            if rng.random() < 0.2:
                facts.append(
                    (uuid.uuid4().hex, cid, "verification_failed", answered, None, None, rid)
                )
        fr_met = fr_at <= fr_due
        rp_met = rp_at <= rp_due
        complaints.append(
            (cid, f"TS-2026-{i:07d}", CHANNELS[i % 7], TIERS[i % 3 if i % 5 else 2],
             SEGMENTS[i % 4], False, MODELS[i % len(MODELS)], received,
             None if duplicate else CATEGORIES[i % 5], None if duplicate else urgency,
             None if duplicate else DEPARTMENTS[i % 5], received + timedelta(minutes=10),
             fr_due, rp_due, duplicate, fr_at, rp_at, 0, withdrawn, closed, reopens,
             fr_due, fr_at if fr_met else fr_due, fr_met, rp_due, rp_at if rp_met else rp_due,
             rp_met)
        )  # fmt: skip
    return complaints, facts, rects


def _sqlite_value(value: Any) -> Any:
    """What SQLAlchemy's SQLite types store: Uuid as 32 hex chars, timestamps as
    'YYYY-MM-DD HH:MM:SS.ffffff' in UTC, dates ISO, booleans 0/1."""
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    return value


def load_sqlite(path: str, rows: tuple[list[tuple], list[tuple], list[tuple]]) -> None:
    connection = sqlite3.connect(path)
    try:
        for table, columns, data in zip(
            ("digest_complaints", "digest_facts", "digest_rectifications"),
            (COMPLAINT_COLUMNS, FACT_COLUMNS, RECT_COLUMNS),
            rows,
            strict=True,
        ):
            marks = ",".join("?" * len(columns))
            connection.executemany(
                f"INSERT INTO {table} ({','.join(columns)}) VALUES ({marks})",  # noqa: S608 - constant names
                ([_sqlite_value(v) for v in row] for row in data),
            )
        connection.execute(
            "UPDATE digest_complaints SET key_account = 0, resolutions_rejected = 0 "
            "WHERE key_account IS NULL"
        )
        connection.commit()
        connection.execute("ANALYZE")
    finally:
        connection.close()


async def load_postgres(dsn: str, rows: tuple[list[tuple], list[tuple], list[tuple]]) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        for table, columns, data in zip(
            ("digest_complaints", "digest_facts", "digest_rectifications"),
            (COMPLAINT_COLUMNS, FACT_COLUMNS, RECT_COLUMNS),
            rows,
            strict=True,
        ):
            await connection.copy_records_to_table(table, records=data, columns=columns)
        await connection.execute("ANALYZE")
    finally:
        await connection.close()


async def timed(fn: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        await fn()
        times.append(time.perf_counter() - started)
    return min(times)


async def measure(url: str, repeat: int) -> dict[str, Any]:
    db = Database(url)
    try:

        async def ceiling() -> None:
            async with db.sessions() as session:
                await session.execute(
                    sa.text("SELECT channel, count(*) FROM digest_complaints GROUP BY channel")
                )

        results: dict[str, Any] = {"ceiling": await timed(ceiling, repeat)}
        for kind, label in (("month", "2026-10"), ("week", "2026-W44")):
            period = Period.parse(kind, label, TZ)
            numbers: dict[str, Any] = {}

            async def digest(period: Period = period, out: dict[str, Any] = numbers) -> None:
                async with db.sessions() as session:
                    out.update(
                        await compute_numbers(session, period, trend_periods=8, units={"oem": 1})
                    )

            results[kind] = await timed(digest, repeat)
            results[f"{kind}_received"] = numbers["volume"]["received"]
            results[f"{kind}_backlog"] = numbers["volume"]["open_backlog_end"]
        return results
    finally:
        await db.dispose()


async def run_backend(
    backend: str, sizes: list[int], repeat: int, max_seconds: float, workdir: Path
) -> list[str]:
    lines, began = [], time.monotonic()
    cluster = None
    if backend == "postgresql":
        from tousu_common.testing.postgres import PostgresCluster

        cluster = PostgresCluster(Path(tempfile.mkdtemp(prefix="tousu-bench-pg-"))).start()
    try:
        for n in sizes:
            if time.monotonic() - began > max_seconds:
                lines.append(f"| {backend} | {n:,} | skipped: over --max-seconds | | | | |")
                continue
            t0 = time.perf_counter()
            rows = synthetic(n)
            if cluster is None:
                path = workdir / f"digest-{n}.db"
                url = f"sqlite+aiosqlite:///{path}"
                await asyncio.to_thread(upgrade, "tousu_notify", url)
                await asyncio.to_thread(load_sqlite, str(path), rows)
            else:
                url = cluster.create_database(f"bench_{n}")
                await asyncio.to_thread(upgrade, "tousu_notify", url)
                await load_postgres(url.replace("postgresql+asyncpg", "postgresql"), rows)
            load_s = time.perf_counter() - t0
            r = await measure(url, repeat)
            lines.append(
                f"| {backend} | {n:,} | {r['ceiling']:.3f} | "
                f"{r['month']:.2f} ({r['month'] / r['ceiling']:.0f}×) | "
                f"{r['week']:.2f} ({r['week'] / r['ceiling']:.0f}×) | "
                f"{r['month_received']:,} / {r['month_backlog']:,} | {load_s:.0f} |"
            )
            print(lines[-1], flush=True)
            del rows
    finally:
        if cluster is not None:
            cluster.stop()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--max-seconds", type=float, default=600)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("TOUSU_JWT_SECRET", "bench-" + "x" * 40)
    header = [
        f"## {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — digest computation (notify)",
        "",
        f"Command: `python bench/bench_digest.py --sizes {' '.join(map(str, args.sizes))} "
        f"--backends {' '.join(args.backends)} --repeat {args.repeat}`",
        "Machine: 2 cores shared with other work. Synthetic read-model rows over 24 months; "
        "each digest is the full computation (period + previous period + 8 trend periods), "
        f"best of {args.repeat}. Ceiling: one `GROUP BY channel` scan of the whole complaints "
        "table, same database, same run.",
        "",
        "| backend | complaints | ceiling scan (s) | month 2026-10 (s, × ceiling) "
        "| week 2026-W44 (s, × ceiling) | month received / open at end | load (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    print("\n".join(header), flush=True)
    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="tousu-bench-digest-") as workdir:
        for backend in args.backends:
            lines += asyncio.run(
                run_backend(backend, args.sizes, args.repeat, args.max_seconds, Path(workdir))
            )
    if args.write:
        with (ROOT / "bench" / "RESULTS.md").open("a", encoding="utf-8") as results:
            results.write("\n" + "\n".join(header + lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
