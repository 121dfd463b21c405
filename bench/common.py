"""What the benchmarks share: the bare ceiling app, PostgreSQL for the services,
percentiles, and CPU time per process of a running Stack.

Imported by bench_intake.py and bench_pipeline.py (run from the repository root
or anywhere: both put this directory on ``sys.path`` by being run as scripts).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil

from tousu_common.devstack import SERVICES, Stack, wait_for_port

ROOT = Path(__file__).resolve().parent.parent


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile; NaN for no values (printed as such, never hidden)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def ms(values: list[float], q: float) -> str:
    """A percentile of seconds, as whole milliseconds for a table cell."""
    value = percentile(values, q)
    return "–" if value != value else f"{value * 1000:.0f}"


def _tree_cpu(process: psutil.Process) -> float:
    """User + system CPU seconds of a process, of its live children (PostgreSQL
    backends) and of the children it has reaped: a backend that exits during a phase
    (a pool's overflow connection closed at check-in) would otherwise take its CPU
    out of the sum, and the phase's figure could even come out negative."""
    total = 0.0
    for each in [process, *process.children(recursive=True)]:
        try:
            times = each.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
        if each is process:
            total += times.children_user + times.children_system
    return total


def cpu_of(stack: Stack, postgres_pid: int | None = None) -> dict[str, float]:
    """CPU seconds so far of each service, the broker and (if given) the PostgreSQL server."""
    pids = {name: process.pid for name, process in stack.processes.items()}
    if stack.broker and stack.broker.process:
        pids["broker"] = stack.broker.process.pid
    if postgres_pid:
        pids["postgres"] = postgres_pid
    pids["driver"] = os.getpid()
    result: dict[str, float] = {}
    for name, pid in pids.items():
        try:
            process = psutil.Process(pid)
        except psutil.Error:
            continue
        if name == "postgres":
            result[name] = _tree_cpu(process)
        else:
            times = process.cpu_times()
            result[name] = times.user + times.system
    return result


def start_ceiling(port: int, log: Path) -> subprocess.Popen:
    """The bare ceiling app under the same uvicorn flags as the services."""
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
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(ROOT / "bench")},
    )
    wait_for_port(port, 30, process)
    return process


def start_postgres() -> tuple[object, dict[str, str], int]:
    """A throw-away PostgreSQL cluster with one database per service.

    Returns the cluster (``.stop()`` it), the database URLs and the postmaster's pid.
    """
    from tousu_common.testing.postgres import PostgresCluster

    cluster = PostgresCluster(Path(tempfile.mkdtemp(prefix="tousu-bench-pg-"))).start()
    urls = {spec.name: cluster.create_database(spec.name) for spec in SERVICES}
    pid_file = cluster.base_dir / "data" / "postmaster.pid"
    return cluster, urls, int(pid_file.read_text().split()[0])


MAIL_SINK = """
import sys, time
from tousu_common.mailsink import MailSink
sink = MailSink(port=int(sys.argv[1])).start()
time.sleep(float(sys.argv[2]))  # bounded: the bench stops it long before
sink.stop()
"""


def start_mail_sink(lifetime_s: float = 1800) -> tuple[subprocess.Popen, int]:
    """notify's SMTP server in its own process, so the load driver's busy event
    loop does not slow notify's sends down (and its CPU is not the driver's)."""
    from tousu_common.devstack import free_port

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", MAIL_SINK, str(port), str(lifetime_s)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port, 30, process)
    return process, port
