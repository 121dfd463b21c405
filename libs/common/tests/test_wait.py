"""The one poll-until helper: a service that is not listening yet is "not yet",
anything else a probe raises fails at once, and a timeout says what was seen."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tousu_common.devstack import free_port
from tousu_common.testing.wait import ProcessOutput, eventually, eventually_async


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def late_server() -> Iterator[tuple[int, threading.Event]]:
    """A port nothing listens on until the event is set (a service still starting)."""
    port = free_port()
    go = threading.Event()
    servers: list[ThreadingHTTPServer] = []

    def serve() -> None:
        go.wait(30)
        server = ThreadingHTTPServer(("127.0.0.1", port), _Ok)
        servers.append(server)
        server.serve_forever(poll_interval=0.05)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield port, go
    go.set()
    for server in servers:
        server.shutdown()
        server.server_close()


def test_a_refused_connection_is_not_yet_and_the_answer_comes_when_it_listens(
    late_server: tuple[int, threading.Event],
) -> None:
    port, go = late_server
    calls = 0

    def probe() -> str:
        nonlocal calls
        calls += 1
        if calls == 3:
            go.set()  # the service comes up while we poll
        return httpx.get(f"http://127.0.0.1:{port}/", timeout=2).text

    assert eventually(probe, timeout=30, interval=0.02) == "ok"
    assert calls >= 3  # the first two were refused, and that did not end the wait


def test_the_timeout_says_what_the_probe_last_ran_into() -> None:
    port = free_port()  # nothing listens here
    with pytest.raises(AssertionError) as failed:
        eventually(
            lambda: httpx.get(f"http://127.0.0.1:{port}/", timeout=1),
            timeout=0.3,
            what="notify's list",
        )
    message = str(failed.value)
    assert message.startswith("notify's list: condition not met within 0.3s")
    assert "last ran into ConnectError" in message
    assert isinstance(failed.value.__cause__, httpx.ConnectError)


def test_the_timeout_shows_the_last_answer_whole_and_until_decides() -> None:
    answers = iter(range(1000))
    with pytest.raises(AssertionError, match=r"last answer: \{'seen': \d+\}"):
        eventually(lambda: {"seen": next(answers)}, until=lambda a: a["seen"] < 0, timeout=0.2)
    assert eventually(lambda: {"seen": next(answers)}, until=lambda a: a["seen"] % 5 == 0)


def test_an_assertion_inside_the_probe_fails_at_once() -> None:
    started = time.monotonic()

    def probe() -> bool:
        raise AssertionError("two acknowledgements for one complaint")

    with pytest.raises(AssertionError, match="two acknowledgements"):
        eventually(probe, timeout=30)
    assert time.monotonic() - started < 5


def test_a_falsy_answer_is_tried_again_until_the_deadline_then_once_more() -> None:
    calls: list[float] = []
    with pytest.raises(AssertionError, match=r"\(\d+ tries\); last answer: None"):
        eventually(lambda: calls.append(time.monotonic()), timeout=0.2, interval=0.05)
    assert len(calls) >= 2 and calls[-1] - calls[0] >= 0.2


async def test_the_async_flavour_counts_a_reset_connection_as_not_yet() -> None:
    attempts = 0

    async def probe() -> int:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise ConnectionResetError("service restarting")
        return attempts

    assert await eventually_async(probe, timeout=10, interval=0.01) == 3


async def test_the_async_flavour_reports_a_live_description_at_failure() -> None:
    stats = {"processed": 0}

    async def probe() -> bool:
        stats["processed"] += 1
        return False

    with pytest.raises(AssertionError, match=r"stats \{'processed': [1-9]"):
        await eventually_async(probe, timeout=0.1, interval=0.01, what=lambda: f"stats {stats}")


def test_free_port_really_refuses_for_the_tests_above() -> None:
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", free_port())) != 0


def test_process_output_is_waited_on_with_a_deadline_even_when_the_child_goes_quiet() -> None:
    code = "import sys, time; print('ready', flush=True); time.sleep(30)"
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        output = ProcessOutput(child.stdout)
        eventually(lambda: "ready" in output.text, timeout=20)
        # nothing more comes: the wait ends at its deadline instead of blocking
        started = time.monotonic()
        with pytest.raises(AssertionError, match="never printed"):
            eventually(lambda: "done" in output.text, timeout=0.3, what="never printed")
        assert time.monotonic() - started < 5
    finally:
        child.kill()
        child.wait()
    assert output.finish() == "ready\n"
