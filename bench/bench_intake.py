"""Intake throughput and end-to-end latency on the embedded default (or PostgreSQL).

    python bench/bench_intake.py [--requests 2000] [--concurrency 32] [--postgres]

Starts a broker, the four services and a bare ceiling app on loopback; posts
N complaints at the given concurrency to each; reads the event topics to time
received → triaged → case opened. Bounded: at most --requests per target and
--max-seconds overall. Prints a Markdown report (and --write appends it to
bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from tousu_common.auth import mint_token  # noqa: E402
from tousu_common.devstack import SERVICES, Stack, free_port, wait_for_port  # noqa: E402

BODY = {
    "title": "发动机漏油，车辆停在高速上",
    "description": "客户的卡车在高速上发动机漏油，已经停机，急需处理。" * 4,
    "customer_name": "王建国",
    "customer_phone": "+86 138 0013 8000",
    "product_model": "YC6L-280",
    "serial_number": "SN-2026-0001",
}


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def load(
    url: str, headers: dict[str, str], requests: int, concurrency: int, deadline: float
) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    ids: dict[str, float] = {}
    queue = iter(range(requests))

    async def worker(client: httpx.AsyncClient) -> None:
        for _ in queue:
            if time.monotonic() > deadline:
                return
            started = time.perf_counter()
            response = await client.post(url, json=BODY, headers=headers)
            latencies.append(time.perf_counter() - started)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            if response.status_code == 201 and "id" in response.json():
                ids[response.json()["id"]] = time.time()

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        began = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    return {
        "count": len(latencies),
        "elapsed": elapsed,
        "throughput": len(latencies) / elapsed if elapsed else 0.0,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "statuses": statuses,
        "ids": ids,
    }


async def event_times(
    bootstrap: str, wanted: set[str], timeout: float
) -> dict[str, dict[str, float]]:
    """complaint id → {event type: ce_time as epoch seconds, 'seen:<type>': when we read it}."""
    consumer = AIOKafkaConsumer(
        "tousu.complaints",
        "tousu.routing",
        "tousu.cases",
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=10,
        max_poll_records=5000,
    )
    await consumer.start()
    times: dict[str, dict[str, float]] = {}
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    key = record.key.decode() if record.key else ""
                    if key not in wanted:
                        continue
                    headers = {k: v.decode() for k, v in record.headers}
                    entry = times.setdefault(key, {})
                    entry[headers["ce_type"]] = datetime.fromisoformat(
                        headers["ce_time"]
                    ).timestamp()
                    entry[f"seen:{headers['ce_type']}"] = time.time()
            if sum(1 for entry in times.values() if "case.opened" in entry) >= len(wanted):
                break
    finally:
        await consumer.stop()
    return times


def start_ceiling(port: int, log: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "ceiling_app:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=ROOT / "bench",
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(ROOT / "bench")},
    )
    wait_for_port(port, 30, process)
    return process


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--max-seconds", type=float, default=120)
    parser.add_argument("--postgres", action="store_true", help="run the services on PostgreSQL")
    parser.add_argument(
        "--write", action="store_true", help="append the report to bench/RESULTS.md"
    )
    args = parser.parse_args()
    args.requests = min(args.requests, 50_000)

    work = Path(tempfile.mkdtemp(prefix="tousu-bench-"))
    cluster = None
    database_urls: dict[str, str] = {}
    if args.postgres:
        from tousu_common.testing.postgres import PostgresCluster

        cluster = PostgresCluster(Path(tempfile.mkdtemp(prefix="tousu-bench-pg-"))).start()
        database_urls = {spec.name: cluster.create_database(spec.name) for spec in SERVICES}
    stack = Stack(
        var_dir=work, database_urls=database_urls, ports={s.name: free_port() for s in SERVICES}
    )
    ceiling_port = free_port()
    ceiling = None
    try:
        stack.start(timeout=120)
        ceiling = start_ceiling(ceiling_port, work / "ceiling.log")
        token = mint_token(stack.jwt_secret, subject="bench", roles=["agent"])
        headers = {"Authorization": f"Bearer {token}"}
        deadline = time.monotonic() + args.max_seconds

        warm = min(200, args.requests)
        asyncio.run(
            load(
                f"http://127.0.0.1:{ceiling_port}/v1/complaints",
                headers,
                warm,
                args.concurrency,
                deadline,
            )
        )
        asyncio.run(
            load(f"{stack.url('intake')}/v1/complaints", headers, warm, args.concurrency, deadline)
        )

        bare = asyncio.run(
            load(
                f"http://127.0.0.1:{ceiling_port}/v1/complaints",
                headers,
                args.requests,
                args.concurrency,
                deadline,
            )
        )
        ours = asyncio.run(
            load(
                f"{stack.url('intake')}/v1/complaints",
                headers,
                args.requests,
                args.concurrency,
                deadline,
            )
        )
        remaining = max(10.0, deadline - time.monotonic())
        times = asyncio.run(event_times(stack.bootstrap or "", set(ours["ids"]), timeout=remaining))
    finally:
        if ceiling:
            ceiling.terminate()
            ceiling.wait(10)
        stack.stop()
        if cluster:
            cluster.stop()

    triaged = [
        t["complaint.triaged"] - t["complaint.received"]
        for t in times.values()
        if {"complaint.triaged", "complaint.received"} <= t.keys()
    ]
    opened = [
        t["case.opened"] - t["complaint.received"]
        for t in times.values()
        if {"case.opened", "complaint.received"} <= t.keys()
    ]
    observed = [
        t["seen:case.opened"] - ours["ids"][cid]
        for cid, t in times.items()
        if "seen:case.opened" in t
    ]
    complete = len(opened)
    backend = "PostgreSQL 15" if args.postgres else "SQLite (embedded default)"
    report = f"""
## {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — {backend}, {args.requests} requests, concurrency {args.concurrency}

Command: `python bench/bench_intake.py --requests {args.requests} --concurrency {args.concurrency}{" --postgres" if args.postgres else ""}`
Machine: {os.cpu_count()} cores; load generator (httpx) on the same cores.

| target | done | throughput (req/s) | p50 (ms) | p99 (ms) | statuses |
|---|---|---|---|---|---|
| bare ceiling (FastAPI, same body validation, same uvicorn flags) | {bare["count"]} | {bare["throughput"]:.0f} | {bare["p50_ms"]:.1f} | {bare["p99_ms"]:.1f} | {bare["statuses"]} |
| intake `POST /v1/complaints` | {ours["count"]} | {ours["throughput"]:.0f} | {ours["p50_ms"]:.1f} | {ours["p99_ms"]:.1f} | {ours["statuses"]} |
| **ratio intake / ceiling** | | **{ours["throughput"] / bare["throughput"]:.2f}** | {ours["p50_ms"] / bare["p50_ms"]:.1f}× | {ours["p99_ms"] / bare["p99_ms"]:.1f}× | |

End to end (event times on the topics), {complete}/{len(ours["ids"])} complaints reached case opened:

| path | p50 (ms) | p99 (ms) |
|---|---|---|
| received → triaged | {percentile(triaged, 0.5) * 1000:.0f} | {percentile(triaged, 0.99) * 1000:.0f} |
| received → case opened | {percentile(opened, 0.5) * 1000:.0f} | {percentile(opened, 0.99) * 1000:.0f} |
| POST answered → case.opened read by an outside consumer | {percentile(observed, 0.5) * 1000:.0f} | {percentile(observed, 0.99) * 1000:.0f} |
"""
    print(report)
    if args.write:
        with (ROOT / "bench" / "RESULTS.md").open("a", encoding="utf-8") as results:
            results.write(report)
    return 0 if complete == len(ours["ids"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
