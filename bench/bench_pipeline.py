"""The whole pipeline under a realistic mix, beside a bare ceiling measured in the same run.

    python bench/bench_pipeline.py                      # SQLite and PostgreSQL, ~7 min
    python bench/bench_pipeline.py --backend sqlite     # one backend
    python bench/bench_pipeline.py --quick              # ~1 min smoke run (SQLite)

For each backend it starts a broker, the four services (tousu_common.devstack),
a mail sink for what notify sends (its own process) and the bare ceiling app, all on loopback,
then runs five phases:

a. ceiling: the bare FastAPI endpoint (same body validation, same uvicorn
   flags), hotline posts from --concurrency closed-loop callers;
b. idle: the running stack with no traffic for --idle-seconds, from
   --idle-settle-seconds after the last event (its CPU as a share of one core;
   the bench's own reader is paused between its reads of the topics);
c. paced: --rate complaints/s for --paced-seconds (open loop), so latencies
   are those of a system that is not saturated;
d. paced-fast: the same at --fast-rate complaints/s (issue 17's 100/s phase);
e. saturation: --concurrency closed-loop callers for --saturation-seconds
   (and at most --max-requests).

Each phase records the machine's 1-minute load average (mean and peak, sampled
every second), so a run disturbed by other work is visible in its own table;
the last table sets the figures beside issue 17's goals.

The mix (by complaint number): 80% hotline JSON, 10% e-mail through intake's
SMTP listener, 10% key-account line; six complaint texts that the default
triage rules route to quality, logistics, sales, after-sales and the CSC; for
10% of the hotline complaints the CSC issues a service instruction once the
case is open (rectification), for another 10% the owner proposes a
resolution, the agent records the customer's acceptance, the owner marks it
done and the agent records a satisfied callback (which closes the case).
Fax is left out: OCR costs ~0.7 s of CPU per page, so even 1% would be
a different benchmark. The web form is left out: it is rate-limited per
client address by design, and every bench caller is 127.0.0.1.

After each phase the event topics are read (aiokafka) until every complaint
received in the phase has its acknowledgement sent (bounded in time), and it
reports: intake latency per channel, end-to-end received → triaged → case
opened → acknowledgement sent from the CloudEvents ``time`` of each event,
outbox lag (Kafka record timestamp, set when the relay sends, minus the
event's ``time``) per topic, and CPU ms per complaint per process (psutil).
Every loop is bounded in count and time; everything binds to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any
from uuid import UUID

import aiosmtplib
import httpx
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer
from common import cpu_of, ms, percentile, start_ceiling, start_mail_sink, start_postgres
from sqlalchemy.ext.asyncio import create_async_engine

from tousu_common.auth import mint_token
from tousu_common.devstack import SERVICES, Stack, free_port

TOPICS = ("tousu.complaints", "tousu.routing", "tousu.cases", "tousu.notifications")
#: The processes whose CPU a complaint costs (the driver is counted apart).
PROCESSES = ("intake", "routing", "rectification", "notify", "broker", "postgres")

#: (title, description): what the default triage rules route to different departments.
TEXTS: tuple[tuple[str, str], ...] = (
    ("发动机漏油，车辆停在高速上", "客户的卡车在高速上发动机漏油，已经停机，急需处理。"),  # quality
    ("发动机异响", "行驶中发动机有异响，怠速时更明显，客户担心出问题。"),  # quality
    ("配件发货延迟", "订购的滤清器迟迟不到，交货延迟两周，影响车队保养。"),  # logistics
    ("发票金额不对", "上月维修的发票金额不对，要求重新开票并退款差额。"),  # sales
    ("申请三包", "新车在质保期内，客户申请三包保修，希望尽快处理。"),  # after_sales
    ("服务站态度差", "维修站师傅态度差，推诿不修，客户非常不满。"),  # csc
)
CALLERS = 1000  # a call centre's pool of repeat callers (see bench_intake.py)
DUE = (date.today() + timedelta(days=7)).isoformat()


def channel_of(n: int) -> str:
    return {0: "email", 1: "email", 2: "key_account", 3: "key_account"}.get(n % 20, "hotline")


def follow_up_of(n: int) -> str | None:
    """Only hotline complaints (n % 20 >= 4) get one, so the share is of known ids."""
    return {4: "instruction", 5: "callback"}.get(n % 10)


@dataclass
class Phase:
    name: str
    started: float = 0.0  # wall clock (epoch s), to attribute events by their time
    ended: float = 0.0
    submitted: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    failures: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    follow_ups: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    follow_up_failures: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    drain_s: float = 0.0
    report: dict[str, Any] = field(default_factory=dict)
    load: list[float] = field(default_factory=list)  # 1-minute load average, once a second

    @property
    def accepted(self) -> int:
        return sum(len(v) for v in self.submitted.values())


class Driver:
    """Posts the mix to intake (HTTP and SMTP) and drives the follow-ups."""

    def __init__(self, stack: Stack, run: str, client: httpx.AsyncClient) -> None:
        self.stack = stack
        self.run = run
        self.client = client
        secret = stack.jwt_secret
        self.agent = {"Authorization": f"Bearer {mint_token(secret, subject='b', roles=['agent'])}"}
        self.csc = {
            "Authorization": "Bearer "
            + mint_token(secret, subject="b-csc", roles=["csc", "agent"], department="csc")
        }
        self.owners: dict[str, dict[str, str]] = {}
        self.follow_up_tasks: set[asyncio.Task] = set()

    def owner(self, department: str) -> dict[str, str]:
        if department not in self.owners:
            token = mint_token(
                self.stack.jwt_secret,
                subject=f"b-{department}",
                roles=["department", "quality", "supply"],
                department=department,
            )
            self.owners[department] = {"Authorization": f"Bearer {token}"}
        return self.owners[department]

    def body(self, n: int) -> dict[str, Any]:
        title, description = TEXTS[n % len(TEXTS)]
        caller = n % CALLERS
        return {
            "title": title,
            "description": description * 3,
            "customer_name": "王建国",
            "customer_phone": f"+86 139 {caller // 100:04d} {caller % 100:04d}",
            "customer_email": f"caller{caller}@example.cn",
            "product_model": "YC6L-280",
            "serial_number": f"SN-{self.run}-{n}",
        }

    async def submit(self, url: str, n: int, phase: Phase, deadline: float) -> None:
        """One complaint; ``url`` is intake's base URL, or the ceiling's endpoint (hotline only)."""
        ceiling = "/v1/" in url
        channel = "hotline" if ceiling else channel_of(n)
        started = time.perf_counter()
        complaint_id = None
        try:
            if channel == "email":
                reply = await self.mail(n)
                ok = reply.startswith("OK filed")
            else:
                path = "/v1/channels/key-account" if channel == "key_account" else "/v1/complaints"
                response = await self.client.post(
                    url if ceiling else url + path, json=self.body(n), headers=self.agent
                )
                ok = response.status_code == 201
                if ok and response.headers.get("content-type", "").startswith("application/json"):
                    complaint_id = response.json().get("id")
        except (httpx.HTTPError, aiosmtplib.SMTPException, OSError):
            ok = False
        if not ok:
            phase.failures[channel] += 1
            return
        phase.submitted[channel].append(time.perf_counter() - started)
        kind = follow_up_of(n) if channel == "hotline" and not ceiling else None
        if complaint_id and kind:
            task = asyncio.create_task(self.follow_up(complaint_id, kind, phase, deadline))
            self.follow_up_tasks.add(task)
            task.add_done_callback(self.follow_up_tasks.discard)

    async def mail(self, n: int) -> str:
        title, description = TEXTS[n % len(TEXTS)]
        message = EmailMessage()
        message["From"] = f"王建国 <mail-{self.run}-{n}@example.cn>"
        message["To"] = "complaints@tousu.example"
        message["Subject"] = f"{title}（{n}）"
        message["Message-ID"] = make_msgid(domain="example.cn")
        message.set_content(f"{description}\n发动机号 SN-{self.run}-{n}\n")
        _, reply = await aiosmtplib.send(
            message, hostname="127.0.0.1", port=self.stack.smtp_port, timeout=30
        )
        return reply

    async def follow_up(self, complaint_id: str, kind: str, phase: Phase, deadline: float) -> None:
        """Once the case is open: a service instruction, or resolution → callback."""
        case_url = f"{self.stack.url('rectification')}/v1/cases/{complaint_id}"
        try:
            case = None
            while time.monotonic() < deadline:
                response = await self.client.get(case_url, headers=self.csc)
                if response.status_code == 200:
                    case = response.json()
                    break
                await asyncio.sleep(0.5)
            if case is None:
                phase.follow_up_failures += 1
                return
            if kind == "instruction":
                steps = [
                    (
                        "/instructions",
                        self.csc,
                        {"department": "logistics", "instruction": "核查配送流程", "due_date": DUE},
                    )
                ]
            else:
                owner = self.owner(case["owner_department"])
                action = {"kind": "repair", "description": "更换油封", "due_date": DUE}
                steps = [
                    ("/resolution", owner, {"investigation": "油封失效", "actions": [action]}),
                    ("/resolution/decision", self.agent, {"decision": "accept", "via": "hotline"}),
                    ("/actions/1/done", owner, None),
                    ("/callback", self.agent, {"score": 5, "comment": "满意"}),
                ]
            for path, headers, body in steps:
                response = await self.client.post(case_url + path, json=body, headers=headers)
                if response.status_code not in (200, 201):
                    phase.follow_up_failures += 1
                    return
            phase.follow_ups[kind] += 1
        except httpx.HTTPError:
            phase.follow_up_failures += 1

    async def paced(
        self, url: str, phase: Phase, rate: float, seconds: float, offset: int = 0
    ) -> None:
        """Open loop: one complaint every 1/rate s, at most rate × seconds of them."""
        counter = itertools.count(offset)
        began = time.perf_counter()
        deadline = time.monotonic() + seconds + 120
        tasks = []
        for n in range(int(rate * seconds)):
            delay = began + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(self.submit(url, next(counter), phase, deadline)))
        await asyncio.gather(*tasks)

    async def closed_loop(
        self, url: str, phase: Phase, callers: int, seconds: float, limit: int, offset: int
    ) -> None:
        """``callers`` callers, each posting again when answered; bounded by count and time."""
        counter = itertools.count(offset)
        stop = time.monotonic() + seconds
        deadline = stop + 120

        async def caller() -> None:
            while time.monotonic() < stop:
                n = next(counter)
                if n - offset >= limit:
                    return
                await self.submit(url, n, phase, deadline)

        await asyncio.gather(*(caller() for _ in range(callers)))

    async def wait_follow_ups(self, timeout: float) -> None:
        if self.follow_up_tasks:
            await asyncio.wait(list(self.follow_up_tasks), timeout=timeout)


class Collector:
    """Reads the event topics (no consumer group) between phases."""

    def __init__(self, bootstrap: str) -> None:
        self.consumer = AIOKafkaConsumer(
            *TOPICS,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            fetch_max_wait_ms=50,
            max_poll_records=10_000,
        )
        #: complaint id → event type → CloudEvents time (first seen)
        self.times: dict[str, dict[str, float]] = defaultdict(dict)
        #: (topic, ce time, record timestamp) for the outbox lag
        self.sent: list[tuple[str, float, float]] = []

    async def start(self) -> None:
        await self.consumer.start()

    async def stop(self) -> None:
        await self.consumer.stop()

    def add(self, record: Any) -> None:
        headers = {k: v.decode() for k, v in record.headers}
        ce_type, ce_time = headers.get("ce_type"), headers.get("ce_time")
        if not ce_type or not ce_time or record.key is None:
            return
        at = datetime.fromisoformat(ce_time).timestamp()
        self.sent.append((record.topic, at, record.timestamp / 1000))
        if ce_type == "notification.sent":
            payload = json.loads(record.value)
            if payload.get("template") != "acknowledgement":
                return
            ce_type = "acknowledgement.sent"
        self.times[record.key.decode()].setdefault(ce_type, at)

    def received_in(self, phase: Phase) -> list[dict[str, float]]:
        return [
            e
            for e in self.times.values()
            if phase.started <= e.get("complaint.received", 0) <= phase.ended
        ]

    async def drain(self, phase: Phase, timeout: float) -> None:
        """Read until every complaint received in the phase is acknowledged (or timeout).

        Between drains the collector's partitions are paused: a consumer that keeps
        fetching at a 50 ms wait costs the broker ~1.7% of a core, which the phases'
        CPU (and the idle phase's, most of all) would otherwise charge to the stack."""
        self.consumer.resume(*self.consumer.assignment())
        try:
            await self._read_until_acknowledged(phase, timeout)
        finally:
            self.consumer.pause(*self.consumer.assignment())

    async def _read_until_acknowledged(self, phase: Phase, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            batch = await self.consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for record in records:
                    self.add(record)
            if batch:
                quiet_since = time.monotonic()
            mine = self.received_in(phase)
            done = len(mine) >= phase.accepted and all("acknowledgement.sent" in e for e in mine)
            if done and time.monotonic() - quiet_since > 1.0:
                return


def spans(entries: list[dict[str, float]], start: str, end: str) -> list[float]:
    return [e[end] - e[start] for e in entries if start in e and end in e]


async def sample_load(phase: Phase) -> None:
    """The machine's 1-minute load average once a second until cancelled."""
    while True:
        phase.load.append(os.getloadavg()[0])
        await asyncio.sleep(1)


def load_cell(phase: Phase) -> str:
    if not phase.load:
        return "–"
    return f"{sum(phase.load) / len(phase.load):.1f} / {max(phase.load):.1f}"


def summarise(phase: Phase, collector: Collector, seconds: float) -> None:
    mine = collector.received_in(phase)
    received = len(mine)
    http = phase.submitted["hotline"] + phase.submitted["key_account"]
    lag: dict[str, list[float]] = defaultdict(list)
    for topic, at, stamped in collector.sent:
        if phase.started <= at <= phase.ended + phase.drain_s:
            lag[topic].append(stamped - at)
    phase.report = {
        "accepted": phase.accepted,
        "failed": sum(phase.failures.values()),
        "throughput": phase.accepted / seconds,
        "http_p50": percentile(http, 0.5),
        "http_p99": percentile(http, 0.99),
        "smtp_p50": percentile(phase.submitted["email"], 0.5),
        "smtp_p99": percentile(phase.submitted["email"], 0.99),
        "received": received,
        "triaged": spans(mine, "complaint.received", "complaint.triaged"),
        "opened": spans(mine, "complaint.received", "case.opened"),
        "acked": spans(mine, "complaint.received", "acknowledgement.sent"),
        "lag": lag,
        "cpu_ms": {name: value * 1000 / max(received, 1) for name, value in phase.cpu.items()},
    }


async def acknowledgement_stages(
    stack: Stack, received: dict[str, float]
) -> dict[str, list[float]]:
    """Where the acknowledgement's time goes inside notify, from its deliveries table:
    received → planned (notify's consumer), planned → claimed (the delivery
    worker's queue), claimed → sent (the SMTP send and its commit)."""
    url = stack.env(stack.spec("notify"))["TOUSU_NOTIFY_DATABASE_URL"]
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            rows = (
                await connection.execute(
                    sa.text(
                        "SELECT complaint_id, created_at, claimed_at, sent_at FROM deliveries"
                        " WHERE template = 'acknowledgement' AND status = 'sent'"
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    stages: dict[str, list[float]] = defaultdict(list)
    for complaint_id, planned, claimed, sent in rows:
        start = received.get(str(UUID(str(complaint_id))))
        if start is None:
            continue
        planned, claimed, sent = (_epoch(t) for t in (planned, claimed, sent))
        stages["planned"].append(planned - start)
        stages["claimed"].append(claimed - planned)
        stages["sent"].append(sent - claimed)
    return stages


def _epoch(value: Any) -> float:
    """A timestamp column as seconds (SQLite hands back text, PostgreSQL datetimes)."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


async def run_backend(backend: str, args: argparse.Namespace) -> list[Phase]:
    work = Path(tempfile.mkdtemp(prefix=f"tousu-pipeline-{backend}-"))
    cluster, database_urls, postgres_pid = None, {}, None
    if backend == "postgresql":
        cluster, database_urls, postgres_pid = start_postgres()
    mail, mail_port = start_mail_sink()
    extra_env = dict(item.split("=", 1) for item in args.env)
    sql_counts = work / "sql-counts" if args.count_sql else None
    if sql_counts is not None:
        sql_counts.mkdir()
        extra_env["TOUSU_BENCH_SQL_COUNTS"] = str(sql_counts)
        extra_env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(SQL_COUNTER), extra_env.get("PYTHONPATH", "")) if p
        )
    ceiling = None
    phases: list[Phase] = []
    run = f"{int(time.time())}{backend[0]}"
    stack = Stack(var_dir=work, database_urls=database_urls, mail_port=mail_port)
    try:
        for attempt in range(3):
            # a port chosen free may be taken by someone else before the service binds it
            stack = Stack(
                var_dir=work / f"stack-{attempt}",
                database_urls=database_urls,
                ports={s.name: free_port() for s in SERVICES},
                mail_port=mail_port,
                extra_env=extra_env,
            )
            try:
                await asyncio.to_thread(stack.start, timeout=180)
                break
            except RuntimeError as exc:
                if attempt == 2:
                    raise  # (migrating again is a no-op, so PostgreSQL may retry too)
                print(f"[{backend}] stack did not start ({exc}); again", flush=True)
        ceiling_port = free_port()
        ceiling = start_ceiling(ceiling_port, work / "ceiling.log")
        limits = httpx.Limits(max_connections=args.concurrency + 16)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:
            driver = Driver(stack, run, client)
            collector = Collector(stack.bootstrap or "")
            await collector.start()
            try:
                # (a) the bare ceiling: hotline bodies only, same client, same callers
                bare = Phase("ceiling")
                ceiling_url = f"http://127.0.0.1:{ceiling_port}/v1/complaints"
                ceiling_driver = Driver(stack, run + "c", client)
                bare.started = time.time()
                sampler = asyncio.create_task(sample_load(bare))
                began = time.perf_counter()
                await ceiling_driver.closed_loop(
                    ceiling_url, bare, args.concurrency, args.ceiling_seconds, 100_000, 1_000_000
                )
                seconds = time.perf_counter() - began
                sampler.cancel()
                bare.ended = time.time()
                http = bare.submitted["hotline"] + bare.submitted["key_account"]
                bare.report = {
                    "accepted": len(http),
                    "failed": sum(bare.failures.values()),
                    "throughput": len(http) / seconds,
                    "http_p50": percentile(http, 0.5),
                    "http_p99": percentile(http, 0.99),
                }
                phases.append(bare)

                # warm-up, not reported: a service's first complaints compile its SQL
                # statements and templates and open its connections (seconds of CPU
                # that a short phase would otherwise charge to its few complaints)
                intake = stack.url("intake")
                if args.warmup_seconds > 0:
                    warm = Phase("warm-up")
                    await driver.paced(intake, warm, 10, args.warmup_seconds, 9_000_000)
                    await driver.wait_follow_ups(timeout=args.drain_timeout)
                    await collector.drain(warm, timeout=args.drain_timeout)

                # (b) idle: what the running stack costs with nothing to do, once it
                # has noticed: its consumers keep the short fetch wait for
                # kafka_idle_after_s (2 s) after the last record, and what they
                # applied last is committed up to consumer_commit_interval_s later
                await asyncio.sleep(args.idle_settle_seconds)
                idle = Phase("idle")
                sampler = asyncio.create_task(sample_load(idle))
                cpu_before = cpu_of(stack, postgres_pid)
                began = time.perf_counter()
                await asyncio.sleep(args.idle_seconds)
                seconds = time.perf_counter() - began
                cpu_after = cpu_of(stack, postgres_pid)
                sampler.cancel()
                idle.cpu = {
                    k: cpu_after[k] - cpu_before.get(k, 0.0) for k in cpu_after if k != "driver"
                }
                idle.report = {"share": {k: v / seconds for k, v in idle.cpu.items()}}
                phases.append(idle)
                print(
                    f"[{backend}] idle: {sum(idle.report['share'].values()):.1%} of a core",
                    flush=True,
                )

                for name in ("paced", "paced-fast", "saturation"):
                    phase = Phase(name)
                    sampler = asyncio.create_task(sample_load(phase))
                    cpu_before = cpu_of(stack, postgres_pid)
                    sql_before = read_sql_counts(sql_counts)
                    profilers = (
                        start_profilers(
                            stack,
                            args.profile,
                            backend,
                            args.paced_seconds if name != "saturation" else args.saturation_seconds,
                        )
                        if args.profile and name == args.profile_phase
                        else []
                    )
                    phase.started = time.time()
                    began = time.perf_counter()
                    if name == "paced":
                        await driver.paced(intake, phase, args.rate, args.paced_seconds)
                    elif name == "paced-fast":
                        await driver.paced(
                            intake, phase, args.fast_rate, args.paced_seconds, 5_000_000
                        )
                    else:
                        await driver.closed_loop(
                            intake,
                            phase,
                            args.concurrency,
                            args.saturation_seconds,
                            args.max_requests,
                            10_000_000,
                        )
                    seconds = time.perf_counter() - began
                    phase.ended = time.time()
                    for profiler in profilers:
                        profiler.wait(60)
                    drain_began = time.monotonic()
                    await driver.wait_follow_ups(timeout=args.drain_timeout)
                    await collector.drain(phase, timeout=args.drain_timeout)
                    phase.drain_s = time.monotonic() - drain_began
                    cpu_after = cpu_of(stack, postgres_pid)
                    sampler.cancel()
                    phase.cpu = {k: cpu_after[k] - cpu_before.get(k, 0.0) for k in cpu_after}
                    summarise(phase, collector, seconds)
                    if sql_counts is not None:
                        await asyncio.sleep(1.0)  # the counters are written twice a second
                        phase.report["sql"] = sql_per_complaint(
                            sql_before, read_sql_counts(sql_counts), phase.report["received"]
                        )
                    phase.report["ack_stages"] = await acknowledgement_stages(
                        stack,
                        {
                            key: entry["complaint.received"]
                            for key, entry in collector.times.items()
                            if phase.started <= entry.get("complaint.received", 0) <= phase.ended
                        },
                    )
                    phases.append(phase)
                    print(
                        f"[{backend}] {name}: {phase.report['received']} received, "
                        f"drained in {phase.drain_s:.1f} s",
                        flush=True,
                    )
            finally:
                await collector.stop()
    finally:
        if ceiling:
            ceiling.terminate()
            ceiling.wait(10)
        await asyncio.to_thread(stack.stop)
        mail.terminate()
        mail.wait(10)
        if cluster:
            cluster.stop()  # type: ignore[attr-defined]
    return phases


def markdown(results: dict[str, list[Phase]], args: argparse.Namespace, command: str) -> str:
    lines = [
        f"### {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — pipeline, {' and '.join(results)}",
        "",
        f"Command: `{command}`",
        f"Machine: {os.cpu_count()} cores shared by the driver, the broker, the four services"
        " and PostgreSQL.",
        f"Mix: 80% hotline, 10% e-mail (SMTP), 10% key account; 6 texts over 5 departments; "
        f"10% service instructions, 10% resolution → accepted → done → callback 5. "
        f"Paced {args.rate:g}/s for {args.paced_seconds:g} s; saturation and ceiling "
        f"{args.concurrency} closed-loop callers for {args.saturation_seconds:g} s "
        f"/ {args.ceiling_seconds:g} s.",
        "",
        "| backend | phase | accepted (failed) | req/s | × ceiling | intake HTTP p50 / p99 (ms)"
        " | SMTP p50 / p99 (ms) | → triaged p50 / p99 | → case opened p50 / p99"
        " | → ack sent p50 / p99 | complete | drain (s) | load 1 min mean / peak |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for backend, phases in results.items():
        ceiling = phases[0].report
        for phase in phases:
            if phase.name == "idle":
                continue
            r = phase.report
            ratio = r["throughput"] / ceiling["throughput"] if ceiling["throughput"] else 0
            http = f"{ms([r['http_p50']], 0.5)} / {ms([r['http_p99']], 0.5)}"
            if phase.name == "ceiling":
                lines.append(
                    f"| {backend} | bare ceiling | {r['accepted']} ({r['failed']}) "
                    f"| {r['throughput']:.0f} | 1 | {http} | | | | | | | {load_cell(phase)} |"
                )
                continue
            smtp = f"{ms([r['smtp_p50']], 0.5)} / {ms([r['smtp_p99']], 0.5)}"
            cells = [f"{ms(r[k], 0.5)} / {ms(r[k], 0.99)}" for k in ("triaged", "opened", "acked")]
            lines.append(
                f"| {backend} | {phase.name} | {r['accepted']} ({r['failed']}) "
                f"| {r['throughput']:.0f} | {ratio:.3f} | {http} | {smtp} | {' | '.join(cells)} "
                f"| {len(r['acked'])} / {r['received']} | {phase.drain_s:.1f} "
                f"| {load_cell(phase)} |"
            )
    lines += [
        "",
        "End-to-end times are from `complaint.received` (ms). Outbox lag = Kafka record"
        " timestamp − CloudEvents `time` (ms, p50 / p99), and CPU ms per complaint"
        " (phase + drain; `driver` is this script, posting and reading):",
        "",
        "| backend | phase | lag complaints | lag routing | lag cases | lag notifications"
        " | CPU intake | routing | rectification | notify | broker | postgres | total"
        " (services + broker + postgres) | driver | follow-ups done (failed) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for backend, phases in results.items():
        for phase in loaded(phases):
            r = phase.report
            lag = [
                f"{ms(r['lag'].get(t, []), 0.5)} / {ms(r['lag'].get(t, []), 0.99)}" for t in TOPICS
            ]
            cpu = r["cpu_ms"]
            cells = [f"{cpu[n]:.1f}" if n in cpu else "–" for n in PROCESSES]
            total = sum(cpu.get(n, 0.0) for n in PROCESSES)
            done = ", ".join(f"{k} {v}" for k, v in sorted(phase.follow_ups.items())) or "0"
            lines.append(
                f"| {backend} | {phase.name} | {' | '.join(lag)} | {' | '.join(cells)} "
                f"| **{total:.1f}** | {cpu.get('driver', 0):.1f} "
                f"| {done} ({phase.follow_up_failures}) |"
            )
    lines += [
        "",
        "Inside notify, from its deliveries table (ms, p50 / p99): received → planned is"
        " its consumer, planned → claimed the delivery worker's queue, claimed → sent the"
        " SMTP send and the batch's commit:",
        "",
        "| backend | phase | received → planned | planned → claimed | claimed → sent |",
        "|---|---|---|---|---|",
    ]
    for backend, phases in results.items():
        for phase in loaded(phases):
            stages = phase.report.get("ack_stages", {})
            cells = [
                f"{ms(stages.get(k, []), 0.5)} / {ms(stages.get(k, []), 0.99)}"
                for k in ("planned", "claimed", "sent")
            ]
            lines.append(f"| {backend} | {phase.name} | {' | '.join(cells)} |")
    lines += [
        "",
        f"Idle: the running stack with no traffic for {args.idle_seconds:g} s, from"
        f" {args.idle_settle_seconds:g} s after the warm-up's last event, CPU as a share"
        " of one core:",
        "",
        "| backend | intake | routing | rectification | notify | broker | postgres | total"
        " | load 1 min mean / peak |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for backend, phases in results.items():
        for phase in phases:
            if phase.name != "idle":
                continue
            share = phase.report["share"]
            cells = [f"{share[n]:.1%}" if n in share else "–" for n in PROCESSES]
            lines.append(
                f"| {backend} | {' | '.join(cells)} | **{sum(share.values()):.1%}** "
                f"| {load_cell(phase)} |"
            )
    lines += sql_lines(results, every=args.count_sql_all)
    lines += ["", *goals(results, args)]
    return "\n".join(lines) + "\n"


def loaded(phases: list[Phase]) -> list[Phase]:
    """The phases with complaints through the pipeline (not the ceiling, not idle)."""
    return [p for p in phases if p.name not in ("ceiling", "idle")]


def goals(results: dict[str, list[Phase]], args: argparse.Namespace) -> list[str]:
    """Issue 17's goals beside this run's figures (the rates are this run's flags)."""
    lines = [
        "Issue 17's goals against this run (CPU over all processes: services, broker,"
        " PostgreSQL; times from `complaint.received`, ms):",
        "",
        "| backend | goal | target | measured | met |",
        "|---|---|---|---|---|",
    ]
    for backend, phases in results.items():
        by_name = {p.name: p for p in phases}

        def cpu(name: str, by_name: dict[str, Phase] = by_name) -> float:
            per = by_name[name].report["cpu_ms"]
            return sum(per.get(n, 0.0) for n in PROCESSES)

        def at(name: str, key: str, q: float, by_name: dict[str, Phase] = by_name) -> float:
            return percentile(by_name[name].report[key], q) * 1000

        idle = sum(by_name["idle"].report["share"].values()) * 100
        rows = [
            ("CPU per complaint at saturation", "≤ 20 ms", cpu("saturation"), 20),
            (f"CPU per complaint paced at {args.rate:g}/s", "≤ 30 ms", cpu("paced"), 30),
            (f"→ case opened p99 at {args.rate:g}/s", "< 100 ms", at("paced", "opened", 0.99), 100),
            (f"→ ack sent p50 at {args.rate:g}/s", "< 150 ms", at("paced", "acked", 0.5), 150),
            (f"→ ack sent p99 at {args.rate:g}/s", "< 400 ms", at("paced", "acked", 0.99), 400),
            (
                f"→ case opened p99 at {args.fast_rate:g}/s",
                "< 250 ms",
                at("paced-fast", "opened", 0.99),
                250,
            ),
            ("idle, % of one core", "< 5 %", idle, 5),
        ]
        for goal, target, value, limit in rows:
            met = "yes" if value < limit or (target.startswith("≤") and value == limit) else "no"
            lines.append(f"| {backend} | {goal} | {target} | {value:.1f} | {met} |")
        saturation = by_name["saturation"].report
        complete = len(saturation["acked"]) == saturation["received"]
        met = "yes" if saturation["throughput"] >= 120 and complete else "no"
        lines.append(
            f"| {backend} | saturation, every complaint acknowledged | ≥ 120 /s "
            f"| {saturation['throughput']:.0f} ({len(saturation['acked'])} / "
            f"{saturation['received']}) | {met} |"
        )
    return lines


#: ``sitecustomize`` for ``--count-sql``: on the services' PYTHONPATH, it counts their SQL.
SQL_COUNTER = Path(__file__).resolve().parent / "sqlcount"


def read_sql_counts(directory: Path | None) -> dict[str, dict[str, int]]:
    """Each service's running SQL counts (``bench/sqlcount``), by service name."""
    if directory is None:
        return {}
    counts = {}
    for path in directory.glob("*.json"):
        try:
            counts[path.stem] = json.loads(path.read_text())
        except (OSError, ValueError):  # being replaced: the previous one is close enough
            continue
    return counts


def sql_per_complaint(
    before: dict[str, dict[str, int]], after: dict[str, dict[str, int]], complaints: int
) -> dict[str, dict[str, float]]:
    """Transactions and statements (by kind) per complaint received, per service."""
    per: dict[str, dict[str, float]] = {}
    for service, counts in after.items():
        old = before.get(service, {})
        per[service] = {
            kind: (n - old.get(kind, 0)) / max(complaints, 1)
            for kind, n in counts.items()
            if n > old.get(kind, 0)
        }
    return per


def sql_lines(results: dict[str, list[Phase]], *, every: bool = False) -> list[str]:
    """The ``--count-sql`` tables: per service, then the commonest kinds of statement
    (and, with ``every``, each service's whole list)."""
    counted = [
        (backend, phase)
        for backend, phases in results.items()
        for phase in phases
        if phase.report.get("sql")
    ]
    if not counted:
        return []
    services = [s.name for s in SERVICES if s.name != "console"]
    lines = [
        "",
        "SQL per complaint received (`--count-sql`: transactions / statements, phase and drain):",
        "",
        f"| backend | phase | {' | '.join(services)} | all |",
        "|---|---|" + "---|" * (len(services) + 1),
    ]
    for backend, phase in counted:
        sql = phase.report["sql"]
        cells, tx_all, st_all = [], 0.0, 0.0
        for service in services:
            counts = sql.get(service, {})
            tx = counts.get("(transactions)", 0.0)
            st = sum(v for k, v in counts.items() if k != "(transactions)")
            tx_all, st_all = tx_all + tx, st_all + st
            cells.append(f"{tx:.1f} / {st:.1f}")
        lines.append(
            f"| {backend} | {phase.name} | {' | '.join(cells)} | {tx_all:.1f} / {st_all:.1f} |"
        )
    lines += [
        "",
        "The ten commonest statements per complaint over all services, phase by phase:",
        "",
    ]
    for backend, phase in counted:
        top = sorted(
            (
                (n, f"{service}: {kind}")
                for service, counts in phase.report["sql"].items()
                for kind, n in counts.items()
                if kind != "(transactions)"
            ),
            reverse=True,
        )[:10]
        listed = "; ".join(f"{label} {n:.2f}" for n, label in top)
        lines.append(f"- {backend}, {phase.name}: {listed}")
    if every:
        lines += ["", "Every statement per complaint, by service (`--count-sql-all`):", ""]
        for backend, phase in counted:
            for service, counts in sorted(phase.report["sql"].items()):
                listed = "; ".join(
                    f"{kind} {n:.2f}"
                    for kind, n in sorted(counts.items(), key=lambda item: -item[1])
                    if n >= 0.01
                )
                lines.append(f"- {backend}, {phase.name}, {service}: {listed}")
    return lines


def start_profilers(
    stack: Stack, directory: str, backend: str, seconds: float
) -> list[subprocess.Popen]:
    """py-spy on every service for the saturation phase: collapsed stacks (one
    line per stack with its sample count) in ``directory/<backend>-<service>.txt``."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    py_spy = Path(sys.executable).with_name("py-spy")
    return [
        subprocess.Popen(
            [
                str(py_spy),
                "record",
                "--pid",
                str(process.pid),
                "--duration",
                str(int(seconds)),
                "--rate",
                "50",
                "--nonblocking",
                "--format",
                "raw",
                "--output",
                str(out / f"{backend}-{name.replace('#', '-')}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, process in stack.processes.items()
    ]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default=None)
    parser.add_argument("--quick", action="store_true", help="~1 minute smoke run (SQLite)")
    parser.add_argument("--rate", type=float, default=20, help="complaints/s in the paced phase")
    parser.add_argument("--paced-seconds", type=float, default=30)
    parser.add_argument(
        "--fast-rate", type=float, default=100, help="complaints/s in the paced-fast phase"
    )
    parser.add_argument("--idle-seconds", type=float, default=20)
    parser.add_argument(
        "--idle-settle-seconds",
        type=float,
        default=4,
        help="quiet time before the idle phase is measured (the stack's own switch to"
        " its idle fetch wait takes 2 s)",
    )
    parser.add_argument(
        "--warmup-seconds",
        type=float,
        default=5,
        help="10 complaints/s before the idle phase, not reported (0: none)",
    )
    parser.add_argument("--saturation-seconds", type=float, default=20)
    parser.add_argument("--ceiling-seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=16, help="closed-loop callers")
    parser.add_argument("--max-requests", type=int, default=20_000, help="saturation count bound")
    parser.add_argument("--drain-timeout", type=float, default=90)
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="py-spy every service during one phase (--profile-phase); collapsed stacks go to DIR",
    )
    parser.add_argument(
        "--profile-phase", choices=("paced", "paced-fast", "saturation"), default="saturation"
    )
    parser.add_argument(
        "--count-sql",
        action="store_true",
        help="count every service's transactions and statements per complaint in each phase"
        " (bench/sqlcount on their PYTHONPATH; a little CPU of their own)",
    )
    parser.add_argument(
        "--count-sql-all",
        action="store_true",
        help="with --count-sql: also list every kind of statement per service, not only the top ten",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the services, e.g. TOUSU_KAFKA_FETCH_MAX_WAIT_MS=50",
    )
    args = parser.parse_args()
    args.count_sql = args.count_sql or args.count_sql_all
    if args.quick:
        args.backend = args.backend or "sqlite"
        args.paced_seconds, args.saturation_seconds, args.ceiling_seconds = 8, 8, 4
        args.rate, args.drain_timeout = min(args.rate, 10), min(args.drain_timeout, 45)
        args.fast_rate, args.idle_seconds = min(args.fast_rate, 30), min(args.idle_seconds, 8)
    backend = args.backend or "both"
    # the bounds hold whatever the flags say
    args.paced_seconds = min(args.paced_seconds, 120)
    args.saturation_seconds = min(args.saturation_seconds, 120)
    args.ceiling_seconds = min(args.ceiling_seconds, 60)
    args.rate = min(args.rate, 200)
    args.warmup_seconds = min(args.warmup_seconds, 30)
    args.fast_rate = min(args.fast_rate, 300)
    args.idle_seconds = max(1, min(args.idle_seconds, 120))
    args.idle_settle_seconds = max(0, min(args.idle_settle_seconds, 60))
    args.concurrency = max(1, min(args.concurrency, 64))
    args.max_requests = min(args.max_requests, 50_000)
    args.drain_timeout = min(args.drain_timeout, 300)
    backends = ["sqlite", "postgresql"] if backend == "both" else [backend]
    command = "python bench/bench_pipeline.py " + " ".join(sys.argv[1:])
    results = {name: asyncio.run(run_backend(name, args)) for name in backends}
    report = markdown(results, args, command.strip())
    print()
    print(report)
    complete = all(
        len(p.report["acked"]) == p.report["received"] >= p.accepted
        for phases in results.values()
        for p in loaded(phases)
    )
    return 0 if complete else 1


if __name__ == "__main__":
    raise SystemExit(main())
