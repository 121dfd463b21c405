"""The shared fixtures (`db`, `client`, `headers_for`, ...) come from
``tousu_common.testing.plugin``; this names the package they build and adds
notify's own: stand-ins for the outside world on loopback, settings pointing at
them, and a delivery worker."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tousu_common.auth import decode_token
from tousu_common.db import Database
from tousu_common.devstack import free_port
from tousu_common.mailsink import MailSink
from tousu_notify.config import Settings
from tousu_notify.entrypoints.worker import DeliveryWorker
from tousu_notify.main import create_app

from .factories import LoopbackServer, Request


@pytest.fixture
def service_package() -> str:
    return "tousu_notify"


class Directory:
    """Stand-in for intake's and rectification's contact APIs (the agreed contract),
    answering only callers with a valid ``service`` token."""

    def __init__(self, jwt_secret: str) -> None:
        self.jwt_secret = jwt_secret
        self.customers: dict[str, dict[str, Any]] = {}
        self.suppliers: dict[str, dict[str, Any]] = {}
        self.pages: dict[str, bytes] = {}
        #: False: answer the batch read 404, as an intake that predates it would
        self.batch_reads = True
        self.server = LoopbackServer(self.respond)

    def respond(self, request: Request) -> tuple[int, Any]:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        try:
            principal = decode_token(token, self.jwt_secret, "tousu")
        except Exception:
            return 401, {"error": "no valid token"}
        if "service" not in principal.roles:
            return 403, {"error": "service role needed"}
        parts = request.path.strip("/").split("/")
        if request.method == "POST" and parts == ["v1", "complaints", "contacts"]:
            if not self.batch_reads:
                return 404, {"error": "not found"}
            ids = request.json()["ids"]
            if not 1 <= len(ids) <= 100:
                return 422, {"error": "ids"}
            return 200, {"contacts": [self.customers[i] for i in ids if i in self.customers]}
        if parts[:2] == ["v1", "complaints"] and parts[-1] == "contact":
            found = self.customers.get(parts[2])
        elif parts[:2] == ["v1", "rectifications"] and parts[-1] == "supplier-contact":
            found = self.suppliers.get(parts[2])
        elif request.path in self.pages:
            return 200, self.pages[request.path]
        else:
            found = None
        return (200, found) if found is not None else (404, {"error": "not found"})

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture
def directory(jwt_secret: str) -> Iterator[Directory]:
    instance = Directory(jwt_secret)
    yield instance
    instance.server.close()


@pytest.fixture
def sms_gateway() -> Iterator[LoopbackServer]:
    server = LoopbackServer(lambda request: (202, {"id": "sms-1"}))
    yield server
    server.close()


def make_settings(
    db: Database, jwt_secret: str, mail_sink: MailSink, directory: Directory, **overrides: Any
) -> Settings:
    values: dict[str, Any] = {
        "jwt_secret": jwt_secret,
        "database_url": db.url,
        "environment": "test",
        "smtp_host": "127.0.0.1",
        "smtp_port": mail_sink.port,
        "intake_url": directory.url,
        "rectification_url": directory.url,
        "webhook_allow_private_targets": True,
        "delivery_backoff_base_s": 0.05,
        "delivery_backoff_max_s": 0.2,
        "delivery_max_attempts": 3,
        "mail_domain": "tousu.test",
        "mail_reply_to": "complaints@tousu.test",
        **overrides,
    }
    return Settings(**values)


@pytest.fixture
def settings(
    db: Database,
    jwt_secret: str,
    mail_sink: MailSink,
    directory: Directory,
    sms_gateway: LoopbackServer,
) -> Settings:
    return make_settings(
        db,
        jwt_secret,
        mail_sink,
        directory,
        sms_gateway_url=f"{sms_gateway.url}/send",
        sms_api_key="sms-key-123",
    )


@pytest.fixture
async def worker(db: Database, settings: Settings) -> AsyncIterator[DeliveryWorker]:
    instance = DeliveryWorker(db, settings)
    yield instance
    await instance.close()


@pytest.fixture
async def api(db: Database, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """notify's app on the test database with the test settings (loopback webhooks allowed)."""
    app = create_app(settings)
    app.state.db = db
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://notify") as http:
        yield http


@pytest.fixture
def dead_port() -> int:
    """A loopback port nobody listens on."""
    return free_port()
