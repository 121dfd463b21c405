"""The fault harness: a whole stack whose broker and mail server the test owns,
a bounded complaint stream, and the checks every fault scenario ends with.

The stack runs on its own :class:`Broker` (so a scenario can stop it and start
a fresh, empty one on the same port, which is what a Tansu restart is) and its
own SMTP sink that can be told to answer ``451`` for a while. After any fault
the same two questions are asked: did every complaint get exactly one of each
effect (:func:`assert_every_complaint_once`), and did every outbox drain by
itself (:func:`wait_backlog_drained`)?
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session

from tousu_common.auth import mint_token
from tousu_common.devstack import (
    SERVICES,
    Broker,
    ServiceSpec,
    Stack,
    free_port,
    wait_for_port,
)
from tousu_common.mailsink import MailSink, _Handler
from tousu_common.testing.helpers import header, read_topic
from tousu_common.testing.wait import eventually
from tousu_notify.domain.signing import InvalidSignature, verify_signature

from ..conftest import complaint_body

#: settings that make recovery quick enough to watch in a test
FAST_RECOVERY_ENV = {
    "TOUSU_KAFKA_TOPIC_PARTITIONS": "3",
    "TOUSU_OUTBOX_TOPIC_CHECK_S": "1",
    "TOUSU_KAFKA_REQUEST_TIMEOUT_MS": "3000",
    "TOUSU_CONSUMER_BACKOFF_BASE_S": "0.05",
    "TOUSU_CONSUMER_BACKOFF_MAX_S": "1",
    "TOUSU_CONSUMER_MAX_ATTEMPTS": "3",
    # Notify retries quickly (at most 1 s apart) and long enough (about a minute)
    # to outlast a killed intake's restart: an acknowledgement needs intake's
    # contact API, and on a loaded two-core machine a restart took 14 s, past the
    # 12 attempts (13 s) this once allowed, so notify gave the mails up.
    "TOUSU_NOTIFY_DELIVERY_MAX_ATTEMPTS": "60",
    "TOUSU_NOTIFY_DELIVERY_BACKOFF_BASE_S": "0.2",
    "TOUSU_NOTIFY_DELIVERY_BACKOFF_MAX_S": "1",
    "TOUSU_NOTIFY_DELIVERY_POLL_INTERVAL_S": "0.1",
    "TOUSU_NOTIFY_SMTP_TIMEOUT_S": "5",
    "TOUSU_NOTIFY_WEBHOOK_TIMEOUT_S": "5",
    "TOUSU_NOTIFY_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
    "TOUSU_NOTIFY_WEBHOOK_DISABLE_AFTER_FAILURES": "1000",
}

#: what a complaint causes on the broker, one event each: (topic, type)
ONCE_PER_COMPLAINT = (
    ("tousu.complaints", "complaint.received"),
    ("tousu.routing", "complaint.triaged"),
    ("tousu.cases", "case.opened"),
)


class FlakyMailSink(MailSink):
    """The SMTP sink, with two ways to fail for a while: ``refusing`` = ``"rcpt"``
    answers ``451`` to every recipient (greylisting), ``"data"`` answers ``451`` to
    the message; :meth:`go_down` stops listening until :meth:`come_back`."""

    def __init__(self, port: int = 0) -> None:
        super().__init__(port)
        self.refusing: str | None = None
        self.refused = 0
        self._controller = self._new_controller()

    def _new_controller(self) -> Controller:
        return Controller(_FlakyHandler(self), hostname="127.0.0.1", port=self.port)

    def go_down(self) -> None:
        self._controller.stop()

    def come_back(self) -> None:
        self._controller = self._new_controller()  # a stopped Controller cannot restart
        self._controller.start()

    def to(self, address: str) -> int:
        """How many messages were accepted for ``address``."""
        with self._lock:
            return sum(1 for _, recipients in self.envelopes if address in recipients)


class _FlakyHandler(_Handler):
    TEMPORARY = "451 4.3.0 Mail server temporarily unavailable, try again later"

    def __init__(self, sink: FlakyMailSink) -> None:
        self.sink = sink

    async def handle_RCPT(
        self, server: Any, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if self.sink.refusing == "rcpt":
            self.sink.refused += 1
            return self.TEMPORARY
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        if self.sink.refusing == "data":
            self.sink.refused += 1
            return self.TEMPORARY
        return await super().handle_DATA(server, session, envelope)


@dataclass
class FaultStack:
    """The four services on a broker and an SMTP sink that the test controls."""

    stack: Stack
    broker: Broker
    sink: FlakyMailSink
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10))

    def headers(self, *roles: str, sub: str = "csc-1") -> dict[str, str]:
        token = mint_token(self.stack.jwt_secret, subject=sub, roles=list(roles), department="csc")
        return {"Authorization": f"Bearer {token}"}

    def url(self, service: str, path: str) -> str:
        return f"{self.stack.url(service)}{path}"

    def start_broker(self) -> None:
        """A fresh, empty broker on the old port: what a restarted Tansu is."""
        self.broker = Broker(port=self.broker.port, log_path=self.broker.log_path).start()

    def kill(self, service: str) -> None:
        """SIGKILL: no shutdown, no offset commit, no last outbox flush."""
        self.stack.stop_service(service, kill=True)

    def start(self, service: str, *, wait: bool = True) -> None:
        """Start ``service`` again; ``wait``: until it listens."""
        process = self.stack.start_service(spec(service))
        if wait:
            wait_for_port(self.stack.port(service), 60, process, self.stack.log_path(service))

    def readiness(self, service: str) -> dict[str, Any] | None:
        try:
            answer = self.client.get(self.url(service, "/readyz"), timeout=3)
        except httpx.HTTPError:
            return None
        return answer.json()

    def stop(self) -> None:
        self.client.close()
        self.stack.stop()
        self.broker.stop()
        self.sink.stop()


def spec(name: str) -> ServiceSpec:
    return next(s for s in SERVICES if s.name == name)


def start_fault_stack(
    var_dir: Path,
    *,
    database_urls: Mapping[str, str] | None = None,
    extra_env: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> FaultStack:
    broker = Broker(port=free_port(), log_path=var_dir / "broker.log").start()
    sink = FlakyMailSink().start()
    stack = Stack(
        var_dir=var_dir,
        bootstrap=broker.bootstrap,
        database_urls=dict(database_urls or {}),
        ports={s.name: free_port() for s in SERVICES},
        mail_port=sink.port,
        extra_env={**FAST_RECOVERY_ENV, **(extra_env or {})},
    )
    try:
        stack.start(timeout=timeout)
    except BaseException:
        broker.stop()
        sink.stop()
        raise
    return FaultStack(stack, broker, sink)


# -- the complaint stream ------------------------------------------------------


@dataclass
class Posted:
    """One complaint of a stream, as the caller saw it."""

    n: int
    idempotency_key: str
    email: str
    status: int | None = None
    complaint_id: str | None = None
    attempts: int = 0
    replayed: bool = False
    #: what the attempts that got no answer ran into (ConnectError, ReadError, …)
    unanswered: list[str] = field(default_factory=list)


class ComplaintStream:
    """Posts ``count`` complaints at ``rate`` per second from a thread, bounded in
    count and in time (``max_s``). A post that gets no answer (intake down, killed
    mid-request) is sent again with the same Idempotency-Key until it gets one, as
    a well-behaved caller would: so nothing is lost from the caller's side."""

    def __init__(self, faults: FaultStack, count: int, rate: float, *, max_s: float = 150) -> None:
        self.faults = faults
        self.count = count
        self.rate = rate
        self.max_s = max_s
        tag = secrets.token_hex(3)
        self.posted = [
            Posted(n, f"fault-{tag}-{n}", f"c{n}.{tag}@example.com") for n in range(count)
        ]
        self.agent = f"agent-{tag}"
        self.headers = faults.headers("agent", sub=self.agent)
        self.answered = 0
        #: set while a request is on its way to intake (a kill then lands mid-request)
        self.in_flight = threading.Event()
        self._thread = threading.Thread(target=self._run, name="complaint-stream", daemon=True)

    def __enter__(self) -> ComplaintStream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.join()

    def join(self) -> list[Posted]:
        self._thread.join(self.max_s + 30)
        assert not self._thread.is_alive(), "complaint stream did not finish"
        return self.posted

    def wait_answered(self, n: int, timeout: float = 60) -> None:
        """Until at least ``n`` posts have their answer."""
        try:
            eventually(lambda: self.answered >= n, timeout=timeout, interval=0.02)
        except AssertionError as exc:
            stuck = [p for p in self.posted if p.status is None and p.attempts][:3]
            raise AssertionError(f"{self.answered}/{n} answered; stuck: {stuck}") from exc

    def _run(self) -> None:
        started = time.monotonic()
        deadline = started + self.max_s
        url = self.faults.url("intake", "/v1/complaints")
        with httpx.Client(timeout=5) as client:
            for item in self.posted:
                pause = started + item.n / self.rate - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                body = complaint_body(
                    title=f"故障演练 {item.n}", customer_email=item.email, customer_phone=None
                )
                headers = {**self.headers, "Idempotency-Key": item.idempotency_key}
                while time.monotonic() < deadline:
                    item.attempts += 1
                    self.in_flight.set()
                    try:
                        answer = client.post(url, json=body, headers=headers)
                    except httpx.TransportError as exc:
                        item.unanswered.append(type(exc).__name__)
                        time.sleep(0.2)  # intake is down or died mid-request: same key again
                        continue
                    finally:
                        self.in_flight.clear()
                    item.status = answer.status_code
                    item.replayed = answer.headers.get("Idempotent-Replayed") == "true"
                    if answer.status_code == 201:
                        item.complaint_id = answer.json()["id"]
                    break
                self.answered += 1


# -- the checks ----------------------------------------------------------------


def wait_backlog_drained(faults: FaultStack, timeout: float = 90) -> None:
    """Every service ready, with nothing left in its outbox."""

    def pending() -> dict[str, Any]:
        left = {}
        for s in faults.stack.services:
            ready = faults.readiness(s.name)
            checks = (ready or {}).get("checks", {})
            # "degraded" is ready too (e.g. routing's calendar lacks next year's notice)
            status = (ready or {}).get("status")
            if status not in ("ready", "degraded") or checks.get("outbox_pending") != 0:
                left[s.name] = checks or "no answer"
        return left

    left: dict[str, Any] = {}

    def drained() -> bool:
        left.clear()
        left.update(pending())
        return not left

    eventually(drained, timeout=timeout, interval=0.2, what=lambda: f"not drained: {left}")


def distinct_event_ids(
    bootstrap: str, complaint_ids: Iterable[str], *, timeout: float = 60
) -> dict[tuple[str, str], set[str]]:
    """Event ids on the broker per (complaint, type) for :data:`ONCE_PER_COMPLAINT`,
    read until every complaint has at least one of each (or the timeout)."""
    wanted = set(complaint_ids)
    found: dict[tuple[str, str], set[str]] = defaultdict(set)

    async def read_all() -> None:
        for topic, event_type in ONCE_PER_COMPLAINT:

            def complete(records: list[Any], event_type: str = event_type) -> bool:
                seen = {
                    r.key.decode() for r in records if r.key and header(r, "ce_type") == event_type
                }
                return wanted <= seen

            records = await read_topic(bootstrap, topic, until=complete, timeout=timeout)
            for record in records:
                kind = header(record, "ce_type")
                if record.key and kind == event_type and record.key.decode() in wanted:
                    found[(record.key.decode(), event_type)].add(header(record, "ce_id") or "")

    asyncio.run(read_all())
    return found


def assert_every_complaint_once(
    faults: FaultStack,
    stream: ComplaintStream,
    *,
    timeout: float = 120,
    mail_at_least_once: Callable[[dict[str, Any]], bool] = lambda ack: False,
) -> list[str]:
    """Every posted complaint exists once and has exactly one triage, one case, one
    acknowledgement (``sent``) and one acknowledgement mail; the broker carries one
    event id per (complaint, type). ``mail_at_least_once(ack)`` names the deliveries
    for which notify's documented at-least-once window allows a second mail."""
    posted = stream.posted
    assert [p.status for p in posted] == [201] * len(posted), [
        (p.n, p.status, p.attempts) for p in posted if p.status != 201
    ]
    ids = [p.complaint_id or "" for p in posted]
    assert len(set(ids)) == len(ids), "two idempotency keys yielded the same complaint"
    staff = faults.headers("csc")
    client = faults.client

    # intake: one complaint per idempotency key, none extra for the stream's agent
    mine = client.get(
        faults.url("intake", "/v1/complaints"),
        params={"mine": "true", "limit": 1},
        headers=stream.headers,
    ).json()
    assert mine["total"] == len(posted), mine

    def ack_of(complaint_id: str) -> dict[str, Any] | None:
        answer = client.get(
            faults.url("notify", "/v1/notifications"),
            params={"complaint_id": complaint_id},
            headers=staff,
        )
        if answer.status_code != 200:  # notify answers, but not (yet) with its list
            return None
        acks = [n for n in answer.json() if n["kind"] == "acknowledgement"]
        assert len(acks) <= 1, acks
        return acks[0] if acks and acks[0]["status"] == "sent" else None

    waiting = list(ids)

    def progress() -> bool:
        while waiting:
            cid = waiting[0]
            triage = client.get(faults.url("routing", f"/v1/triage/{cid}"), headers=staff)
            case = client.get(faults.url("rectification", f"/v1/cases/{cid}"), headers=staff)
            if triage.status_code != 200 or case.status_code != 200 or ack_of(cid) is None:
                return False
            waiting.pop(0)
        return True

    eventually(
        progress,
        timeout=timeout,
        interval=0.2,
        what=lambda: f"{len(waiting)} complaint(s) not carried through: {waiting}",
    )
    wait_backlog_drained(faults)

    acks = {cid: ack_of(cid) for cid in ids}
    by_id = {p.complaint_id: p for p in posted}
    failed = {cid: ack for cid, ack in acks.items() if ack is None}
    assert not failed, failed
    mails = {cid: faults.sink.to(by_id[cid].email) for cid in ids}
    expected = {
        cid: (mails[cid] if mails[cid] in (1, 2) and mail_at_least_once(acks[cid]) else 1)
        for cid in ids
    }
    assert mails == expected

    events = distinct_event_ids(faults.broker.bootstrap, ids)
    counts = Counter({key: len(found) for key, found in events.items()})
    wrong = {
        (cid, kind): counts[(cid, kind)]
        for cid in ids
        for _, kind in ONCE_PER_COMPLAINT
        if counts[(cid, kind)] != 1
    }
    assert not wrong, f"(complaint, event type) without exactly one event id: {wrong}"
    return ids


# -- poison --------------------------------------------------------------------


async def produce_raw(
    bootstrap: str, topic: str, records: Iterable[tuple[int, bytes, bytes | None, list[Any]]]
) -> None:
    """Produce (partition, key, value, headers) records as they are, bypassing our envelope."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for partition, key, value, headers in records:
            await producer.send_and_wait(
                topic, value, key=key, headers=headers, partition=partition
            )
    finally:
        await producer.stop()


# -- a webhook target that fails for a while -----------------------------------


@dataclass
class Hook:
    """One request the webhook target received."""

    headers: dict[str, str]
    body: bytes
    status: int

    def event(self) -> dict[str, Any]:
        return json.loads(self.body)


class FlakyWebhookTarget:
    """A real HTTP server on 127.0.0.1 that checks every request's Tousu-Signature
    and, while ``failing``, answers ``503`` (the sender must try again)."""

    def __init__(self) -> None:
        self.secret = ""
        self.failing = False
        self.received: list[Hook] = []
        self.unsigned = 0
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(min(length, 1_000_000))
                headers = {k.lower(): v for k, v in self.headers.items()}
                status = outer.answer(headers, body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def answer(self, headers: dict[str, str], body: bytes) -> int:
        try:
            verify_signature(self.secret, headers.get("tousu-signature"), body)
        except InvalidSignature:
            status = 401
        else:
            status = 503 if self.failing else 204
        with self._lock:
            self.unsigned += status == 401
            self.received.append(Hook(headers, body, status))
        return status

    def accepted(self) -> list[Hook]:
        with self._lock:
            return [hook for hook in self.received if hook.status == 204]

    def refused(self) -> int:
        with self._lock:
            return sum(1 for hook in self.received if hook.status == 503)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/tousu"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
