"""A stack whose notify talks to test doubles of the *outside* world on loopback:
the session SMTP sink, a fake SMS gateway and a webhook receiver (real HTTP
servers; notify's client code is the real one), with short retry backoffs."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tousu_common.auth import mint_token
from tousu_common.devstack import SERVICES, Stack, free_port
from tousu_common.mailsink import MailSink
from tousu_notify.domain.signing import InvalidSignature, verify_signature


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class LoopbackServer:
    """A real HTTP server on 127.0.0.1 that records requests; ``respond`` decides the answer."""

    respond: Callable[[Received], int] = field(default=lambda request: 200)
    requests: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Received(
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(min(length, 1_000_000)),
                )
                outer.requests.append(request)
                status = outer.respond(request)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class WebhookReceiver(LoopbackServer):
    """Checks every request's HMAC and timestamp with the secrets it was given."""

    def __init__(self) -> None:
        self.secrets: list[str] = []
        self.verified: list[Received] = []
        self.rejected: list[str] = []
        super().__init__(respond=self._verify)

    def _verify(self, request: Received) -> int:
        for secret in self.secrets:
            try:
                verify_signature(secret, request.headers.get("tousu-signature"), request.body)
            except InvalidSignature:
                continue
            self.verified.append(request)
            return 204
        self.rejected.append(request.headers.get("tousu-signature", ""))
        return 401


@pytest.fixture(scope="module")
def sms_gateway() -> Iterator[LoopbackServer]:
    """Accepts every message, except to numbers ending in 0500 (answered with a 500)."""
    server = LoopbackServer(respond=lambda r: 500 if r.json()["to"].endswith("0500") else 202)
    yield server
    server.close()


@pytest.fixture(scope="module")
def webhook_receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver()
    yield server
    server.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def notify_stack(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    mail_sink: MailSink,
    sms_gateway: LoopbackServer,
    webhook_receiver: WebhookReceiver,
) -> Iterator[Stack]:
    database_urls: dict[str, str] = {}
    if request.param == "postgresql":
        cluster = request.getfixturevalue("postgres")
        suffix = secrets.token_hex(4)
        database_urls = {
            spec.name: cluster.create_database(f"{spec.name}_{suffix}") for spec in SERVICES
        }
    running = Stack(
        var_dir=tmp_path_factory.mktemp(f"notify-stack-{request.param}"),
        database_urls=database_urls,
        ports={spec.name: free_port() for spec in SERVICES},
        mail_port=mail_sink.port,
        extra_env={
            "TOUSU_KAFKA_TOPIC_PARTITIONS": "3",
            "TOUSU_NOTIFY_SMS_GATEWAY_URL": f"{sms_gateway.url}/sms",
            "TOUSU_NOTIFY_SMS_API_KEY": "e2e-sms-key",
            "TOUSU_NOTIFY_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
            "TOUSU_NOTIFY_DELIVERY_MAX_ATTEMPTS": "3",
            "TOUSU_NOTIFY_DELIVERY_BACKOFF_BASE_S": "0.2",
            "TOUSU_NOTIFY_DELIVERY_BACKOFF_MAX_S": "1",
            "TOUSU_NOTIFY_DELIVERY_POLL_INTERVAL_S": "0.1",
            "TOUSU_NOTIFY_MAIL_DOMAIN": "tousu.test",
            "TOUSU_NOTIFY_WEBHOOK_DISABLE_AFTER_FAILURES": "3",
        },
    )
    running.start(timeout=90)
    yield running
    running.stop()


@pytest.fixture
def notify_auth(notify_stack: Stack) -> Callable[..., dict[str, str]]:
    def headers(*roles: str, sub: str = "tester", department: str | None = None) -> dict[str, str]:
        token = mint_token(
            notify_stack.jwt_secret, subject=sub, roles=list(roles), department=department
        )
        return {"Authorization": f"Bearer {token}"}

    return headers
