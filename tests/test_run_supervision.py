"""`tousu run` as a supervisor (issues 13 §6 and 20), with real processes: a service
that dies comes back; nothing it started outlives it, even when it is SIGKILLed
while stopping on a machine whose cores are busy; its ports are free again at
once; a port that is taken stops it before anything starts, naming the holder."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tousu_common.devstack import SERVICES, logs_tail
from tousu_common.testing.wait import eventually

from .test_cli_run import four_free_ports

pytestmark = pytest.mark.integration

NAMES = [spec.name for spec in SERVICES]


class Runner:
    """`tousu run --base-port BASE` in ``cwd``, its output collected as it comes."""

    def __init__(self, cwd: Path, base: int) -> None:
        self.base = base
        self.cwd = cwd
        env = {k: v for k, v in os.environ.items() if not k.startswith("TOUSU_")}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tousu_common.cli", "run", "--base-port", str(base)],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_started(self, timeout: float = 150) -> None:
        def ready() -> bool:
            if "Ctrl-C stops everything" in self.output:
                return True
            assert self.process.poll() is None, "tousu run ended"
            return False

        try:
            eventually(ready, timeout=timeout, interval=0.1, what="tousu run ready")
        except AssertionError as failed:
            self.process.kill()
            raise AssertionError(
                f"tousu run did not get ready ({failed}):\n"
                + self.output
                + logs_tail(self.cwd / "var")
            ) from failed

    def service(self, name: str) -> psutil.Process:
        port = str(self.base + NAMES.index(name))
        for child in psutil.Process(self.process.pid).children(recursive=True):
            with_port = child.cmdline()
            if "uvicorn" in with_port and port in with_port:
                return child
        raise AssertionError(f"no {name} process under tousu run")

    def started(self) -> list[psutil.Process]:
        return psutil.Process(self.process.pid).children(recursive=True)


def ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def cpu_hogs(count: int = 2, seconds: float = 60) -> list[subprocess.Popen[bytes]]:
    """Busy loops, one per core, that end by themselves after ``seconds``."""
    code = f"import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end: pass"
    return [subprocess.Popen([sys.executable, "-c", code]) for _ in range(count)]


def test_a_dead_service_comes_back_and_nothing_outlives_a_runner_killed_mid_stop(
    tmp_path: Path,
) -> None:
    base = four_free_ports()
    runner = Runner(tmp_path, base)
    hogs: list[subprocess.Popen[bytes]] = []
    try:
        runner.wait_started()
        others = {name: runner.service(name) for name in NAMES if name != "routing"}

        # SIGKILL one service: it is restarted, the others keep running untouched
        runner.service("routing").kill()
        eventually(lambda: "routing restarted" in runner.output, timeout=60)
        assert "routing exited with SIGKILL; restarting in 1s" in runner.output
        eventually(lambda: ready(base + 1), timeout=120, interval=0.5)
        assert all(alive(process) for process in others.values()), runner.output
        assert runner.process.poll() is None

        # stop it, and SIGKILL it while it is stopping its children, cores busy
        everything = runner.started()
        assert len(everything) >= 6, everything  # reaper, broker, four services
        hogs = cpu_hogs()
        runner.process.send_signal(signal.SIGTERM)
        eventually(lambda: "stopping …" in runner.output, timeout=30, interval=0.01)
        runner.process.kill()
        runner.process.wait(10)
        killed = time.monotonic()
        assert any(alive(p) for p in everything), "nothing was left to stop: not mid-stop"
        eventually(
            lambda: not any(alive(p) for p in everything),
            timeout=max(0.0, 10 - (time.monotonic() - killed)),
            interval=0.1,
            what=lambda: (
                "alive 10 s after tousu run was killed: "
                + str([f"{p.pid} {' '.join(p.cmdline())[:80]}" for p in everything if alive(p)])
            ),
        )
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait(5)
        if runner.process.poll() is None:
            runner.process.kill()
            runner.process.wait(10)

    # `make run` again at once: its ports are free and it starts
    assert all(port_free(base + n) for n in (0, 1, 2, 3, 24, 25))
    again = Runner(tmp_path, base)
    try:
        again.wait_started()
        assert all(ready(base + n) for n in range(4))
    finally:
        again.process.send_signal(signal.SIGINT)
        again.process.wait(60)
    assert again.process.returncode == 0, again.output
    assert all(port_free(base + n) for n in range(4))


def test_a_taken_port_stops_the_start_at_once_naming_the_port_and_its_holder(
    tmp_path: Path,
) -> None:
    base = four_free_ports()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", base + 2))
        squatter.listen(1)
        runner = Runner(tmp_path, base)
        try:
            code = runner.process.wait(60)
        finally:
            if runner.process.poll() is None:
                runner.process.kill()
    assert code == 2, runner.output
    assert f"port {base + 2} (rectification) is in use by pid {os.getpid()}" in runner.output
    assert "Ctrl-C stops everything" not in runner.output
    assert not (tmp_path / "var" / "broker.log").exists(), "it started things anyway"
