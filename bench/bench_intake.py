"""Intake throughput and end-to-end latency, beside a bare ceiling measured in the same run.

    python bench/bench_intake.py [--requests 20000] [--connections 32] [--rate 50] [--postgres] [--write]

Starts a broker, the four services and a bare ceiling app on loopback, then:

1. saturation: wrk posts complaints with --connections open connections to the
   ceiling, then to intake (bounded: --requests per target and --seconds each);
2. fixed arrival rate: --rate complaints/s for --paced-seconds, so end-to-end
   latency is measured on a system that is not saturated;
3. reads the event topics and times received → triaged → case opened from the
   CloudEvents ``time`` of each event.

Prints a Markdown report; --write appends it to bench/RESULTS.md. Needs wrk
(Debian package ``wrk``; installed automatically when running as root).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer
from common import ROOT, cpu_of, ms, percentile, start_ceiling, start_postgres

from tousu_common.auth import mint_token
from tousu_common.devstack import SERVICES, Stack, free_port
from tousu_common.mailsink import MailSink

BODY = {
    "title": "发动机漏油，车辆停在高速上",
    "description": "客户的卡车在高速上发动机漏油，已经停机，急需处理。" * 4,
    "customer_name": "王建国",
    "customer_phone": "PHONE-SLOT",
    "product_model": "YC6L-280",
    "serial_number": "SN-BENCH-SERIAL",
}
# Routing links a repeat (same customer, same serial, similar text) to the open
# complaint instead of triaging it, so every posted complaint names its own
# serial; callers come from a pool of 1,000 phone numbers, as a call centre's
# do (the first call of each creates a provisional customer, later ones find it).
CALLERS = 1000

WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"
local template = [[{body}]]
-- each thread gets its own number (setup runs in wrk's main state), each request
-- its own serial, so no complaint is a duplicate of another
local threads_seen = 0
function setup(thread)
  threads_seen = threads_seen + 1
  thread:set("thread_number", threads_seen)
end
local sent = 0
function request()
  sent = sent + 1
  local serial = string.format("SN-%d-%d-%d", {run}, thread_number, sent)
  local phone = string.format("+86 139 %04d %04d", thread_number, sent % {callers_per_thread})
  local body = template:gsub("SN%-BENCH%-SERIAL", serial):gsub("PHONE%-SLOT", phone)
  return wrk.format(nil, nil, nil, body)
end
-- the count bound; the time bound is wrk's -d
local limit = {per_thread}
local completed = 0
function response(status, headers, body)
  completed = completed + 1
  if completed >= limit then wrk.thread:stop() end
end
function done(summary, latency, requests)
  io.write(string.format(
    '{{"requests": %d, "duration_us": %d, "non2xx": %d, "socket_errors": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d}}\\n',
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
"""


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, capture_output=True)
        found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is needed: apt-get install wrk")
    return found


def run_wrk(
    url: str, token: str, requests: int, connections: int, seconds: int, work: Path
) -> dict[str, Any]:
    threads = 2
    script = work / "post.lua"
    script.write_text(
        WRK_SCRIPT.format(
            body=json.dumps(BODY, ensure_ascii=False),
            token=token,
            run=int(time.time()),
            callers_per_thread=CALLERS // threads,
            per_thread=max(1, requests // threads),
        )
    )
    completed = subprocess.run(
        [
            ensure_wrk(),
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            url,
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    )
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    # wrk reports the full -d as duration even when the count bound stopped it
    # earlier, so the figures are only exact when the time bound ended the run.
    result["throughput"] = result["requests"] / (result["duration_us"] / 1e6)
    result["capped"] = result["requests"] >= max(1, requests // threads) * threads
    return result


async def paced(url: str, token: str, rate: float, seconds: float) -> dict[str, Any]:
    """Post at a fixed arrival rate (open loop), bounded by count and time."""
    headers = {"Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    total = int(rate * seconds)

    async def one(client: httpx.AsyncClient) -> None:
        started = time.perf_counter()
        body = {
            **BODY,
            "serial_number": f"SN-PACED-{time.time_ns()}",
            "customer_phone": f"+86 137 {len(latencies) % CALLERS:08d}",
        }
        response = await client.post(url, json=body, headers=headers)
        latencies.append(time.perf_counter() - started)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    async with httpx.AsyncClient(timeout=30) as client:
        began = time.perf_counter()
        tasks = []
        for n in range(total):
            delay = began + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(client)))
        await asyncio.gather(*tasks)
    return {
        "count": len(latencies),
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "statuses": statuses,
    }


async def event_times(bootstrap: str, at_least: int, timeout: float) -> dict[str, dict[str, float]]:
    """complaint id → {event type: CloudEvents time (epoch s)} for every complaint on the topics.

    Reads until at least ``at_least`` complaints were received, every received
    complaint has its case opened, and nothing new arrived for a second.
    """
    consumer = AIOKafkaConsumer(
        "tousu.complaints",
        "tousu.routing",
        "tousu.cases",
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=10,
        max_poll_records=10_000,
    )
    await consumer.start()
    times: dict[str, dict[str, float]] = {}
    deadline = time.monotonic() + timeout
    last_new = time.monotonic()
    try:
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for record in records:
                    headers = {k: v.decode() for k, v in record.headers}
                    entry = times.setdefault(record.key.decode(), {})
                    entry[headers["ce_type"]] = datetime.fromisoformat(
                        headers["ce_time"]
                    ).timestamp()
            if batch:
                last_new = time.monotonic()
            received = [e for e in times.values() if "complaint.received" in e]
            complete = len(received) >= at_least and all("case.opened" in e for e in received)
            if complete and time.monotonic() - last_new > 1.0:
                break
    finally:
        await consumer.stop()
    return times


def latencies(
    times: dict[str, dict[str, float]], since: float, start: str, end: str
) -> list[float]:
    return [
        entry[end] - entry[start]
        for entry in times.values()
        if start in entry and end in entry and entry[start] >= since
    ]


def row(name: str, result: dict[str, Any]) -> str:
    return (
        f"| {name} | {result['requests']} | {result['throughput']:.0f} | {result['p50_us'] / 1000:.1f} "
        f"| {result['p99_us'] / 1000:.1f} | {result['non2xx']} / {result['socket_errors']} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--requests", type=int, default=200_000, help="count bound per target (at most 200k)"
    )
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=15, help="time bound of each saturation run")
    parser.add_argument("--rate", type=float, default=50, help="complaints/s in the paced run")
    parser.add_argument("--paced-seconds", type=float, default=20)
    parser.add_argument("--postgres", action="store_true", help="run the services on PostgreSQL")
    parser.add_argument(
        "--write", action="store_true", help="append the report to bench/RESULTS.md"
    )
    args = parser.parse_args()
    args.requests = min(args.requests, 200_000)
    args.seconds = min(args.seconds, 300)
    ensure_wrk()

    work = Path(tempfile.mkdtemp(prefix="tousu-bench-"))
    cluster = None
    database_urls: dict[str, str] = {}
    if args.postgres:
        cluster, database_urls, _ = start_postgres()
    # notify delivers its acknowledgements to a real SMTP server, as in production
    mail = MailSink().start()
    stack = Stack(
        var_dir=work,
        database_urls=database_urls,
        ports={s.name: free_port() for s in SERVICES},
        mail_port=mail.port,
    )
    ceiling_port = free_port()
    ceiling = None
    try:
        stack.start(timeout=120)
        ceiling = start_ceiling(ceiling_port, work / "ceiling.log")
        token = mint_token(stack.jwt_secret, subject="bench", roles=["agent"])
        ceiling_url = f"http://127.0.0.1:{ceiling_port}/v1/complaints"
        intake_url = f"{stack.url('intake')}/v1/complaints"

        run_wrk(ceiling_url, token, 1000, args.connections, 5, work)  # warm-up
        bare = run_wrk(ceiling_url, token, args.requests, args.connections, args.seconds, work)
        cpu_before = cpu_of(stack)
        ours = run_wrk(intake_url, token, args.requests, args.connections, args.seconds, work)
        posted = ours["requests"] - ours["non2xx"]
        drain_started = time.monotonic()
        saturated_times = asyncio.run(event_times(stack.bootstrap or "", posted, timeout=300))
        posted = sum(1 for e in saturated_times.values() if "complaint.received" in e)
        drain_s = time.monotonic() - drain_started
        cpu_after = cpu_of(stack)
        cpu_ms = {
            name: (cpu_after[name] - cpu_before[name]) * 1000 / max(posted, 1)
            for name in cpu_after
            if name != "driver"  # wrk does the posting here, not this process
        }

        paced_since = time.time()
        slow = asyncio.run(paced(intake_url, token, args.rate, args.paced_seconds))
        times = asyncio.run(event_times(stack.bootstrap or "", posted + slow["count"], timeout=120))
    finally:
        if ceiling:
            ceiling.terminate()
            ceiling.wait(10)
        stack.stop()
        mail.stop()
        if cluster:
            cluster.stop()

    all_triaged = latencies(saturated_times, 0, "complaint.received", "complaint.triaged")
    all_opened = latencies(saturated_times, 0, "complaint.received", "case.opened")
    paced_triaged = latencies(times, paced_since, "complaint.received", "complaint.triaged")
    paced_opened = latencies(times, paced_since, "complaint.received", "case.opened")
    backend = "PostgreSQL 15" if args.postgres else "SQLite (embedded default)"
    flags = " --postgres" if args.postgres else ""
    report = f"""
## {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — {backend}

Command: `python bench/bench_intake.py --seconds {args.seconds} --connections {args.connections} --rate {args.rate:g}{flags}`
Machine: {os.cpu_count()} cores shared by wrk, the broker and the four services.

Saturation (wrk, {args.connections} connections, 2 threads):

| target | requests | throughput (req/s) | p50 (ms) | p99 (ms) | non-2xx / socket errors |
|---|---|---|---|---|---|
{row("bare ceiling: FastAPI, same body validation, same uvicorn flags", bare)}
{row("intake `POST /v1/complaints`", ours)}

**intake / ceiling throughput: {ours["throughput"] / bare["throughput"]:.2f}** (p50 {ours["p50_us"] / bare["p50_us"]:.1f}×, p99 {ours["p99_us"] / bare["p99_us"]:.1f}×)

CPU time per complaint during the burst and its drain, by process (ms; wrk and PostgreSQL not counted):
{" · ".join(f"{name} {value:.2f}" for name, value in cpu_ms.items())} · **total {sum(cpu_ms.values()):.2f}**.
The ceiling run has no pipeline behind it, so the ratio prices the whole pipeline sharing the cores, not intake alone.

End to end, from the CloudEvents `time` of each event on the topics:

| run | complaints reaching case opened | received → triaged p50 / p99 (ms) | received → case opened p50 / p99 (ms) |
|---|---|---|---|
| saturation burst above (backlog drained in {drain_s:.1f} s) | {len(all_opened)} / {posted} | {ms(all_triaged, 0.5)} / {ms(all_triaged, 0.99)} | {ms(all_opened, 0.5)} / {ms(all_opened, 0.99)} |
| paced, {args.rate:g}/s for {args.paced_seconds:g} s (intake p50 {slow["p50_ms"]:.1f} ms, p99 {slow["p99_ms"]:.1f} ms) | {len(paced_opened)} / {slow["count"]} | {ms(paced_triaged, 0.5)} / {ms(paced_triaged, 0.99)} | {ms(paced_opened, 0.5)} / {ms(paced_opened, 0.99)} |
"""
    print(report)
    if args.write:
        with (ROOT / "bench" / "RESULTS.md").open("a", encoding="utf-8") as results:
            results.write(report)
    if bare["capped"] or ours["capped"]:
        print(
            "warning: the count bound ended a run before its time bound; throughput is understated"
        )
    return 0 if len(all_opened) == posted and len(paced_opened) == slow["count"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
