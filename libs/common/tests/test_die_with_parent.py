"""Children a stack starts die with it, and start even while its threads are busy.

The parent-death signal used to be set by a ``preexec_fn``, which runs Python
between fork and exec; with another thread in the parent (the mail sink's) a
child could hang there forever. Now a small interpreter sets it and execs.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from tousu_common.devstack import die_with_parent, free_port, wait_for_port
from tousu_common.testing.wait import eventually

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")


def test_the_child_keeps_its_pid_and_runs_the_real_command() -> None:
    process = subprocess.Popen(die_with_parent(["sleep", "30"]))
    try:
        eventually(lambda: psutil.Process(process.pid).cmdline() == ["sleep", "30"], timeout=20)
    finally:
        process.kill()
        process.wait(10)


def test_a_child_is_terminated_when_the_process_that_started_it_is_killed() -> None:
    code = (
        "import subprocess, sys, time\n"
        "from tousu_common.devstack import die_with_parent\n"
        "child = subprocess.Popen(die_with_parent(['sleep', '120']))\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    starter = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert starter.stdout is not None
    child = psutil.Process(int(starter.stdout.readline()))
    eventually(lambda: child.cmdline() == ["sleep", "120"], timeout=20)
    starter.kill()
    starter.wait(10)
    child.wait(20)  # psutil.TimeoutExpired if the kernel did not end it
    assert not child.is_running()


def test_children_start_while_other_threads_keep_the_interpreter_busy() -> None:
    stop = threading.Event()

    def busy() -> None:
        while not stop.is_set():
            __import__("socket").getfqdn()
            time.sleep(0)

    threads = [threading.Thread(target=busy, daemon=True) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(20):
            result = subprocess.run(
                die_with_parent([sys.executable, "-c", "print('up')"]),
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert result.stdout == "up\n", result.stderr
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)


def test_a_child_that_never_listens_is_reported_with_its_state_and_log(tmp_path: Path) -> None:
    """A start that times out names what the child was doing and shows its log:
    the one rare CI failure of this kind left nothing else to go on."""
    log = tmp_path / "child.log"
    log.write_text("first line\nstill starting\n")
    process = subprocess.Popen(die_with_parent(["sleep", "30"]))
    try:
        eventually(lambda: psutil.Process(process.pid).cmdline() == ["sleep", "30"], timeout=20)
        with pytest.raises(TimeoutError) as failure:
            wait_for_port(free_port(), 0.3, process, log)
    finally:
        process.kill()
        process.wait(10)
    message = str(failure.value)
    assert f"pid {process.pid} is 'S (sleeping)'" in message
    assert "running 'sleep 30'" in message
    assert message.endswith(f"last lines of {log}:\nfirst line\nstill starting")


def test_a_child_that_exits_before_listening_is_reported_with_its_log(tmp_path) -> None:
    log = tmp_path / "child.log"
    process = subprocess.Popen(
        ["sh", "-c", f"echo 'port already in use' > {log}; exit 3"], stdout=subprocess.DEVNULL
    )
    process.wait(20)
    with pytest.raises(RuntimeError, match="exited with 3 before listening") as failure:
        wait_for_port(free_port(), 5, process, log)
    assert str(failure.value).endswith("port already in use")
