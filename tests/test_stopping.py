"""Issue 20: every service exits within its bound after SIGTERM or SIGINT, whatever
its broker, its database or a mail peer is doing. Real processes: one stack (broker
and the four services, SQLite), put in each state in turn and stopped."""

from __future__ import annotations

import contextlib
import signal
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from uuid import uuid4

import httpx
import pytest

from tousu_common.auth import mint_token
from tousu_common.devstack import (
    SERVICE_EXIT_DEADLINE_S,
    SERVICE_GRACEFUL_S,
    SERVICES,
    Stack,
    free_port,
)
from tousu_common.testing.wait import eventually

from .conftest import complaint_body

pytestmark = pytest.mark.integration

NAMES = [spec.name for spec in SERVICES]
#: uvicorn's graceful timeout plus a few seconds is the promise (the exit guard ends
#: the process at SERVICE_EXIT_DEADLINE_S); a little more for a loaded machine to
#: schedule the exit and this test's polling.
BOUND_S = SERVICE_EXIT_DEADLINE_S + 4
assert SERVICE_EXIT_DEADLINE_S <= SERVICE_GRACEFUL_S + 5


class SilentPeer:
    """A TCP server that accepts connections and never says a word."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", free_port()))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.sock.accept()
                self.accepted.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture(scope="module")
def silent_peer() -> Iterator[SilentPeer]:
    peer = SilentPeer()
    yield peer
    peer.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, silent_peer: SilentPeer) -> Iterator[Stack]:
    running = Stack(
        var_dir=tmp_path_factory.mktemp("stopping"),
        ports={name: free_port() for name in NAMES},
        mail_port=silent_peer.port,  # notify's outbound mail goes to a peer that never answers
        extra_env={"TOUSU_KAFKA_TOPIC_PARTITIONS": "1", "TOUSU_NOTIFY_SMTP_TIMEOUT_S": "120"},
    )
    running.start(timeout=120)
    yield running
    running.stop()


def ensure_running(stack: Stack) -> None:
    """Start again whatever an earlier test stopped (the broker too), then wait."""
    if stack.broker is not None and stack.broker.process.poll() is not None:
        stack.restart("broker")
    stopped = [name for name in NAMES if stack.processes[name].poll() is not None]
    for name in stopped:
        stack.start_service(name)
    stack.wait_ready(120, names=NAMES)


def headers(stack: Stack) -> dict[str, str]:
    token = mint_token(stack.jwt_secret, subject="t", roles=["agent"], department="csc")
    return {"Authorization": f"Bearer {token}"}


def stop_all(stack: Stack, round_: int) -> dict[str, float]:
    """Signal every service at once (SIGTERM to half, SIGINT to the other half,
    swapped each round) and return the seconds each took to exit."""
    signals = {}
    for n, name in enumerate(NAMES):
        signals[name] = signal.SIGTERM if (n + round_) % 2 == 0 else signal.SIGINT
    sent = time.monotonic()
    for name in NAMES:
        stack.processes[name].send_signal(signals[name])
    took: dict[str, float] = {}

    def all_exited() -> bool:
        for name in NAMES:
            if name not in took and stack.processes[name].poll() is not None:
                took[name] = time.monotonic() - sent
        return len(took) == len(NAMES)

    # The verdict is the caller's (it names who was late): a timeout here only ends the wait.
    with contextlib.suppress(AssertionError):
        eventually(all_exited, timeout=BOUND_S + 20, interval=0.05)
    for name in NAMES:  # never leave one behind, whatever the verdict
        if stack.processes[name].poll() is None:
            stack.processes[name].kill()
            stack.processes[name].wait(5)
    return {name: took.get(name, float("inf")) for name in NAMES}


def assert_stopped_in_time(stack: Stack, took: dict[str, float]) -> None:
    print("seconds from signal to exit:", {name: round(s, 2) for name, s in took.items()})
    late = {name: round(seconds, 1) for name, seconds in took.items() if seconds > BOUND_S}
    assert not late, f"exited later than {BOUND_S}s after the signal: {late}"
    for name in NAMES:
        log = stack.log_path(name).read_text(encoding="utf-8", errors="replace")
        assert '"message": "stopping"' in log, f"{name} did not log that it was stopping"
        assert '"service stopped"' in log or "ending the process" in log, (
            f"{name} logged no end of its shutdown"
        )


def post_quietly(stack: Stack) -> None:
    with contextlib.suppress(httpx.HTTPError):
        httpx.post(
            f"{stack.url('intake')}/v1/complaints",
            json=complaint_body(),
            headers=headers(stack),
            timeout=60,
        )


def waiting_for_the_lock(stack: Stack, name: str) -> bool:
    """``name`` reports a statement waiting for another process's SQLite write lock
    (the wait is an asyncio sleep: see ``tousu_common.sqlite_inline``)."""
    try:
        text = httpx.get(f"{stack.url(name)}/metrics", timeout=5).text
    except httpx.HTTPError:
        return False
    prefix = f'tousu_sqlite_statements_waiting{{database="{name}.db"}} '
    return any(
        line.startswith(prefix) and float(line.removeprefix(prefix)) >= 1
        for line in text.splitlines()
    )


def test_every_service_stops_in_time_with_a_mail_peer_that_never_answers(
    stack: Stack, silent_peer: SilentPeer
) -> None:
    ensure_running(stack)
    before = len(silent_peer.accepted)
    with httpx.Client(timeout=30) as client:
        created = client.post(
            f"{stack.url('intake')}/v1/complaints",
            json=complaint_body(customer_email=f"li.{uuid4().hex[:8]}@example.com"),
            headers=headers(stack),
        )
        assert created.status_code == 201, created.text
    # notify's worker is connected to the peer, waiting for a greeting that never comes
    eventually(lambda: len(silent_peer.accepted) > before, timeout=60)
    # and a client sits on intake's mailbox without saying a word after the greeting
    quiet_client = socket.create_connection(("127.0.0.1", stack.smtp_port), timeout=30)
    try:
        assert quiet_client.recv(1024).startswith(b"220")
        assert_stopped_in_time(stack, stop_all(stack, 0))
    finally:
        quiet_client.close()


def test_every_service_stops_in_time_while_another_writer_holds_its_database(
    stack: Stack,
) -> None:
    ensure_running(stack)
    lockers = []
    try:
        for name in NAMES:
            locker = sqlite3.connect(stack.var_dir / f"{name}.db", timeout=30)
            locker.isolation_level = None
            locker.execute("BEGIN IMMEDIATE")  # the write lock, until the end of the test
            lockers.append(locker)
        # an HTTP request that is writing (blocked) when the signal comes
        writer = threading.Thread(target=post_quietly, args=(stack,), daemon=True)
        writer.start()
        # every service's outbox relay is waiting for the lock, and the service still
        # answers meanwhile: the wait does not hold its event loop
        for name in NAMES:
            eventually(lambda name=name: waiting_for_the_lock(stack, name), timeout=30)
            assert httpx.get(f"{stack.url(name)}/healthz", timeout=5).status_code == 200
        assert_stopped_in_time(stack, stop_all(stack, 1))
    finally:
        for locker in lockers:
            locker.rollback()
            locker.close()


def test_every_service_stops_in_time_when_its_broker_is_gone(stack: Stack) -> None:
    ensure_running(stack)
    assert stack.broker is not None
    stack.broker.process.kill()
    stack.broker.process.wait(5)
    with httpx.Client(timeout=10) as client:
        for name in NAMES:
            # the service has noticed: its readiness says the broker is unreachable
            eventually(
                lambda name=name: client.get(f"{stack.url(name)}/readyz").status_code == 503,
                timeout=60,
                interval=0.2,
            )
    assert_stopped_in_time(stack, stop_all(stack, 2))
