"""Schemathesis against a real running service: its app, its lifespan, real HTTP.

Each service's ``tests/test_fuzz_openapi.py`` serves its app with uvicorn on
loopback in a thread (real lifespan: database migrated to head, outbox relay and
consumers on the session broker) and lets schemathesis call every operation of
the app's own OpenAPI document. In process rather than as a subprocess, so one
fixture start costs a second, not a whole stack; over a socket rather than
through an ASGI shim, so body limits, chunked bodies and the lifespan are the
real ones.

The number of examples per operation is ``TOUSU_FUZZ_EXAMPLES`` (default 10):
``TOUSU_FUZZ_EXAMPLES=200 pytest -k fuzz`` for a long run.
"""

from __future__ import annotations

import os
import threading
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from hypothesis import HealthCheck, settings

from tousu_common.auth import ROLES, mint_token
from tousu_common.devstack import free_port
from tousu_common.testing.wait import eventually

#: For each fuzz module's ``pytestmark``: schemathesis' own strategies draw from
#: ``random`` (a Hypothesis deprecation warning, which this project turns into errors).
IGNORE_SCHEMATHESIS_WARNINGS = pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module inside strategies"
    ":hypothesis.errors.HypothesisDeprecationWarning"
)


def fuzz_examples() -> int:
    """Examples per operation: small in CI, raised by hand for a long hunt."""
    return max(1, int(os.environ.get("TOUSU_FUZZ_EXAMPLES", "10")))


#: Hypothesis settings for every schemathesis test: bounded, no database in the repo.
FUZZ_SETTINGS = settings(
    max_examples=fuzz_examples(),
    deadline=None,
    database=None,
    derandomize=os.environ.get("TOUSU_FUZZ_RANDOM", "") != "1",
    suppress_health_check=list(HealthCheck),
)


def all_roles_token(secret: str, department: str = "csc") -> str:
    """A caller who holds every role, so that no operation stops at 403."""
    return mint_token(secret, subject="fuzzer", roles=sorted(ROLES), department=department)


class LiveService:
    """One service app served by uvicorn on 127.0.0.1 in a background thread."""

    def __init__(self, app: Any, startup_timeout: float = 60) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = app
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            lifespan="on",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=5,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="fuzz-uvicorn", daemon=True)
        self.startup_timeout = startup_timeout
        #: The broker it talks to, for tests that publish events to it.
        self.bootstrap = getattr(app.state.settings, "kafka_bootstrap_servers", "")

    def start(self) -> LiveService:
        self.thread.start()

        def started() -> bool:
            if not self.thread.is_alive():
                raise RuntimeError("the service stopped during startup (see its log)")
            return bool(self.server.started)

        eventually(started, timeout=self.startup_timeout, interval=0.02, what="service start")
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)

    def openapi(self) -> dict[str, Any]:
        response = httpx.get(f"{self.url}/openapi.json", timeout=30)
        response.raise_for_status()
        return response.json()


@contextmanager
def live_service(app: Any) -> Iterator[LiveService]:
    service = LiveService(app).start()
    try:
        yield service
    finally:
        service.stop()


@contextmanager
def running_service(
    package: str, jwt_secret: str, base: Path, **overrides: Any
) -> Iterator[LiveService]:
    """``package``'s app on a fresh SQLite database migrated to head and its own
    broker, served on loopback; ``overrides`` are settings (small limits, say)."""
    import importlib

    from tousu_common.devstack import Broker
    from tousu_common.migrations import upgrade

    name = package.removeprefix("tousu_")
    url = f"sqlite+aiosqlite:///{base / (name + '.db')}"
    upgrade(package, url)
    broker = Broker(log_path=base / "broker.log").start()
    settings_cls = importlib.import_module(f"{package}.config").Settings
    create_app = importlib.import_module(f"{package}.main").create_app
    service_settings = settings_cls(
        jwt_secret=jwt_secret,
        database_url=url,
        environment="test",
        log_level="WARNING",
        kafka_bootstrap_servers=broker.bootstrap,
        data_dir=base / "data",
        **overrides,
    )
    try:
        with live_service(create_app(service_settings)) as service:
            yield service
    finally:
        broker.stop()


#: Operations anyone may call: no token needed, so no 401 expected.
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def call_and_check(
    case: Any, service: LiveService, token: str, known: Mapping[str, str] | None = None
) -> None:
    """Send one generated request with an all-roles token; fail on any 5xx or an
    undocumented status code.

    ``known`` maps path parameter names to ids of resources that exist: about half
    the cases (chosen by a hash of the case, so runs repeat) use them, so actions on
    a real complaint or supplier are fuzzed, not only 404s."""
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import status_code_conformance

    parameters = case.path_parameters or {}
    if known and any(name in known for name in parameters):
        choice = zlib.crc32(repr((sorted(parameters.items()), case.query, case.body)).encode())
        if choice % 2 == 0:
            for name in parameters:
                if name in known:
                    parameters[name] = known[name]
    response = case.call(
        base_url=service.url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )
    case.validate_response(response, checks=[not_a_server_error, status_code_conformance])


def unauthenticated_answers(service: LiveService) -> dict[str, int]:
    """Every protected operation called without a token (path parameters filled
    with a well-formed id): ``{"GET /v1/...": status}``."""
    placeholder = "00000000-0000-4000-8000-000000000000"
    answers: dict[str, int] = {}
    with httpx.Client(base_url=service.url, timeout=60) as http:
        for path, operations in service.openapi()["paths"].items():
            if path in PUBLIC_PATHS:
                continue
            concrete = concrete_path(path, placeholder)
            for method in operations:
                if method not in ("get", "post", "put", "patch", "delete"):
                    continue
                response = http.request(method.upper(), concrete)
                answers[f"{method.upper()} {path}"] = response.status_code
    return answers


def assert_every_protected_operation_answers_401(service: LiveService) -> None:
    answers = unauthenticated_answers(service)
    assert answers and all(status == 401 for status in answers.values()), answers


def assert_oversized_bodies_get_413_json(
    service: LiveService, path: str, token: str, body: bytes, content_type: str
) -> None:
    """Over the limit, declared or streamed: 413 with the JSON error body."""
    for how, response in oversized_answers(service, path, token, body, content_type).items():
        assert response.status_code == 413, (how, response.text)
        assert response.json()["error"]["code"] == "payload_too_large", how


def openapi_of(package: str) -> dict[str, Any]:
    """A service's OpenAPI document, built without starting it (at import time, so
    schemathesis can parametrize tests; the lazy fixture loader breaks on pytest 9)."""
    import importlib

    settings_cls = importlib.import_module(f"{package}.config").Settings
    create_app = importlib.import_module(f"{package}.main").create_app
    return create_app(settings_cls(jwt_secret="openapi-only-" + "x" * 32)).openapi()


def multipart_file(field: str, size: int, boundary: str = "fuzzboundary") -> tuple[bytes, str]:
    """A well-formed multipart body whose one file is ``size`` bytes, and its type."""
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="a.tif"\r\n'
        "Content-Type: image/tiff\r\n\r\n"
    ).encode()
    body = head + b"II*\x00" + b"\x00" * size + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def oversized_answers(
    service: LiveService, path: str, token: str, body: bytes, content_type: str
) -> dict[str, httpx.Response]:
    """POST ``body`` to ``path`` twice: once with Content-Length, once streamed
    (chunked, no length), as a client that lies about nothing but sends too much."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    with httpx.Client(base_url=service.url, timeout=60) as http:
        declared = http.post(path, content=body, headers=headers)
        streamed = http.post(path, content=chunks(), headers=headers)
    assert "content-length" not in {k.lower() for k in streamed.request.headers}
    return {"declared": declared, "streamed": streamed}


def multipart_operations(document: dict[str, Any]) -> list[tuple[str, str]]:
    """``(method, path)`` of every operation that takes multipart/form-data."""
    return [
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if "multipart/form-data" in operation.get("requestBody", {}).get("content", {})
    ]


def concrete_path(path: str, value: str = "00000000-0000-4000-8000-000000000000") -> str:
    """``path`` with every ``{parameter}`` replaced by ``value``."""
    while "{" in path:
        start, end = path.index("{"), path.index("}")
        path = path[:start] + value + path[end + 1 :]
    return path


def publish(bootstrap: str, event: Any) -> None:
    """Put one event on the broker, as the service that owns its topic would."""
    import asyncio

    from aiokafka import AIOKafkaProducer

    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(
                event.topic, event.value(), key=event.key, headers=event.headers()
            )
        finally:
            await producer.stop()

    asyncio.run(send())


def wait_until_found(service: LiveService, path: str, token: str, timeout: float = 120) -> None:
    """Poll ``GET path`` until it answers 200 (a consumer has applied an event)."""
    with httpx.Client(base_url=service.url, timeout=30) as http:
        eventually(
            lambda: http.get(path, headers={"Authorization": f"Bearer {token}"}).status_code,
            until=lambda status: status == 200,
            timeout=timeout,
            interval=0.2,
            what=f"GET {path}",
        )
