"""The parts every service's FastAPI app has: lifespan, health, limits, errors.

A service's ``main.create_app`` calls :func:`create_service_app` with its
routers and its consumers; no service writes its own lifespan or health code.
"""

from __future__ import annotations

import asyncio
import hmac
import inspect
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from opentelemetry.trace import SpanKind, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tousu_common import metrics, tracing
from tousu_common.auth import token_verifier
from tousu_common.db import Database
from tousu_common.errors import (
    ERROR_RESPONSES,
    PayloadTooLarge,
    Unauthenticated,
    install_error_handlers,
)
from tousu_common.lifecycle import ExitGuard, bounded, step_budget, stop_tasks, watch
from tousu_common.logs import configure_logging, event_context
from tousu_common.messaging.inbox import InboxConsumer
from tousu_common.messaging.outbox import OutboxRelay, outbox_backlog
from tousu_common.oidc import build_verifier
from tousu_common.openapi import OPS_LINKS, Link, install_openapi
from tousu_common.ops import ops_router
from tousu_common.settings import ServiceSettings

log = logging.getLogger(__name__)

ConsumerFactory = Callable[[Database, ServiceSettings], Sequence[InboxConsumer]]
#: A service's own readiness check: ``{name: "ok" | "degraded: why"}``. A degraded
#: check keeps the service in rotation (HTTP 200, ``"status": "degraded"``).
ReadinessCheck = Callable[[Database], Awaitable[dict[str, str]]]
DEGRADED = "degraded"


class Runtime:
    """What a running service holds: its database, outbox relay and consumers."""

    def __init__(
        self,
        settings: ServiceSettings,
        db: Database,
        consumers: Sequence[InboxConsumer],
        checks: Sequence[ReadinessCheck] = (),
    ) -> None:
        self.settings = settings
        self.db = db
        self.checks = list(checks)
        self.relay = OutboxRelay(db, settings)
        self.consumers = list(consumers)
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks.append(watch(asyncio.create_task(self.relay.run(), name="outbox-relay")))
        for consumer in self.consumers:
            self._tasks.append(
                watch(asyncio.create_task(consumer.run(), name=f"consumer-{consumer.group_id}"))
            )

    async def stop(self, guard: ExitGuard | None = None) -> bool:
        """Stop the relay and consumers, close their Kafka clients, dispose the engine;
        every step with a deadline. True if everything finished in time."""
        stuck = await stop_tasks(self._tasks, step_budget(guard, 3.0))
        self._tasks.clear()
        close = step_budget(guard, 2.0)
        closed = await asyncio.gather(
            bounded(self.relay.close(), close, "closing the outbox relay's producer"),
            *(
                bounded(consumer.stop(), close, f"closing consumer {consumer.group_id}")
                for consumer in self.consumers
            ),
        )
        disposed = await bounded(
            self.db.dispose(), step_budget(guard, 2.0), "disposing the database engine"
        )
        return not stuck and all(closed) and disposed

    async def readiness(self) -> dict[str, Any]:
        checks: dict[str, Any] = {}
        try:
            await asyncio.wait_for(self.db.ping(), 2.0)
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unreachable: {type(exc).__name__}"
        try:
            await asyncio.wait_for(self.relay.check_broker(), 2.0)
            checks["broker"] = "ok"
        except Exception as exc:
            checks["broker"] = f"unreachable: {type(exc).__name__}"
        for consumer in self.consumers:
            checks[f"consumer:{consumer.group_id}"] = (
                "assigned" if consumer.assigned.is_set() else "waiting for assignment"
            )
        backlog = await self.relay.backlog()
        checks["outbox_pending"] = backlog.pending
        for check in self.checks:
            try:
                checks.update(await asyncio.wait_for(check(self.db), 2.0))
            except Exception as exc:
                checks[getattr(check, "__name__", "check")] = f"{DEGRADED}: {type(exc).__name__}"
        return checks


def create_service_app(
    settings: ServiceSettings,
    *,
    title: str,
    description: str,
    routers: Sequence[APIRouter],
    consumers: ConsumerFactory | None = None,
    readiness: Sequence[ReadinessCheck] = (),
    links: Sequence[Link] = (),
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.service_name, settings.log_level)
        # From the first SIGTERM/SIGINT on, the process is gone within the deadline.
        guard = ExitGuard(settings.shutdown_deadline_s, service=settings.service_name)
        guard.install()
        app.state.exit_guard = guard
        tracing.configure_tracing(settings)
        db = Database(settings.database_url, pool_size=settings.database_pool_size)
        runtime = Runtime(settings, db, consumers(db, settings) if consumers else [], readiness)
        app.state.runtime = runtime
        app.state.db = db
        await runtime.start()
        # Load the identity provider's keys now (bounded; readiness says if it failed).
        await token_verifier(app).readiness()
        log.info("service started", extra={"service": settings.service_name})
        try:
            yield
        finally:
            log.info("service stopping", extra={"signal": guard.signal_name})
            clean = await runtime.stop(guard)
            tracing.shutdown_tracing()
            if guard.armed and not clean:
                # What is stuck (a thread in SQLite's busy handler, say) would keep
                # the interpreter alive after the loop ends: do not wait for it.
                guard.exit_now("background work did not stop in time (see above)")
            log.info("service stopped", extra={"clean": clean})
            # Only the interpreter's teardown is left: a request still stuck on the
            # database, say, must not hold the process until the full deadline.
            guard.tighten(3.0)
            if not guard.armed:
                guard.uninstall()  # an app run in-process (tests) leaves no handler behind

    app = FastAPI(
        title=title,
        description=description,
        version="1.0.0",
        lifespan=lifespan,
        **_NATIVE_TELEMETRY_OFF,
    )
    app.state.settings = settings
    app.state.token_verifier = build_verifier(settings)
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.http_max_body_bytes)
    app.add_middleware(RequestIdMiddleware)
    # Outermost: the span and the timing cover every other layer, and log
    # lines of the inner ones carry its trace id.
    app.add_middleware(TelemetryMiddleware, service=settings.service_name)
    app.include_router(health_router())
    app.include_router(metrics_router(settings))
    app.include_router(ops_router(), responses=ERROR_RESPONSES)
    for router in routers:
        app.include_router(router, responses=ERROR_RESPONSES)
    install_openapi(app, (*OPS_LINKS, *links))
    return app


# FastAPI ≥ 0.16x traces by itself once a tracer provider is set: a second server
# span, spans per dependency and serialization, and OTel log records of validation
# errors *with the input values* (personal data). TelemetryMiddleware does the one
# span and the metrics we want, so the native telemetry is switched off.
_NATIVE_TELEMETRY_OFF: dict[str, Any] = (
    {
        "telemetry": {
            "tracing": False,
            "metrics": False,
            "logs": False,
            "operation_spans": False,
            "auto_configure": False,
        }
    }
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters
    else {}
)


def health_router() -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz", summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="Database and broker are reachable")
    async def readyz(request: Request) -> JSONResponse:
        checks = await request.app.state.runtime.readiness()
        ready = checks["database"] == "ok" and checks["broker"] == "ok"
        # Cached keys keep the service ready while the provider is down; never
        # having loaded any does not (nobody could be authenticated).
        keys = await token_verifier(request.app).readiness()
        if keys is not None:
            keys_ready, checks["identity_provider"] = keys
            ready = ready and keys_ready
        degraded = any(
            isinstance(value, str) and value.startswith(DEGRADED) for value in checks.values()
        )
        status = "not ready" if not ready else DEGRADED if degraded else "ready"
        return JSONResponse({"status": status, "checks": checks}, status_code=200 if ready else 503)

    return router


def metrics_router(settings: ServiceSettings) -> APIRouter:
    router = APIRouter(tags=["health"])
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    expected = f"Bearer {token}".encode() if token else None

    @router.get(
        "/metrics",
        summary="Prometheus metrics (text exposition format)",
        response_class=Response,
        responses={401: ERROR_RESPONSES[401]},
    )
    async def prometheus_metrics(request: Request) -> Response:
        if expected is not None:
            given = request.headers.get("authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                raise Unauthenticated("metrics need Authorization: Bearer <metrics_token>")
        db: Database | None = getattr(request.app.state, "db", None)
        if db is not None:
            service = settings.service_name
            try:
                backlog = await asyncio.wait_for(outbox_backlog(db), 2.0)
            except Exception as exc:  # an unreachable database must not hide the rest
                log.warning("outbox backlog not measured", extra={"error": repr(exc)})
            else:
                metrics.child(metrics.OUTBOX_PENDING, service).set(backlog.pending)
                metrics.child(metrics.OUTBOX_OLDEST_PENDING_AGE, service).set(
                    backlog.oldest_age_s or 0.0
                )
        return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE_LATEST)

    return router


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class TelemetryMiddleware:
    """A server span per request (continuing an incoming W3C ``traceparent``,
    which the response carries back) and the request counter and latency
    histogram by route template — never the raw path, so ids in URLs and
    unmatched paths cannot grow the label set."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == "/metrics":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        parent = None
        for name, value in scope.get("headers") or ():
            if name == b"traceparent":
                parent = tracing.extract(value.decode("latin-1"))
                break
        status = 500  # what the client gets if the app raises before answering
        with tracing.tracer().start_as_current_span(
            method, context=parent, kind=SpanKind.SERVER, record_exception=False
        ) as span:
            traceparent = tracing.traceparent_of(span).encode()

            async def send_traced(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    if traceparent:
                        message.setdefault("headers", []).append((b"traceparent", traceparent))
                await send(message)

            try:
                await self.app(scope, receive, send_traced)
            finally:
                route = scope.get("route")
                template = getattr(route, "path_format", None) or "unmatched"
                if span.is_recording():
                    span.update_name(f"{method} {template}")
                    span.set_attributes(
                        {
                            "http.request.method": method,
                            "http.route": template,
                            "http.response.status_code": status,
                        }
                    )
                    if status >= 500:
                        span.set_status(StatusCode.ERROR)
                metrics.child(
                    metrics.HTTP_REQUESTS, self.service, template, method, str(status)
                ).inc()
                metrics.child(metrics.HTTP_LATENCY, self.service, template, method).observe(
                    time.perf_counter() - started
                )


_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    """Gives every request an id (or keeps a sane incoming ``X-Request-ID``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or ()).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        with event_context(request_id=request_id, complaint_id=None, event_id=None):
            await self.app(scope, receive, send_with_id)


class BodyLimitMiddleware:
    """Refuses request bodies over ``max_bytes`` with 413, declared or streamed.

    A streamed (chunked) body is cut off when it passes the limit; whatever the
    app then answers (FastAPI turns a failed body read into a 400) is replaced
    by the 413, unless the app answered 413 itself (intake's HTML pages)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self, scope: Scope) -> JSONResponse:
        return JSONResponse(
            {
                "error": {
                    "code": "payload_too_large",
                    "message": f"request body exceeds {self.max_bytes} bytes",
                },
                "request_id": scope.get("state", {}).get("request_id"),
            },
            status_code=413,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(scope)(scope, receive, send)
            return
        seen = 0
        exceeded = False
        started = False  # a response went out before the limit was passed
        replaced = False  # the app's answer is dropped; ours follows

        async def limited_receive() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    exceeded = True
                    raise PayloadTooLarge(f"request body exceeds {self.max_bytes} bytes")
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started, replaced
            if message["type"] == "http.response.start":
                if exceeded and not started and message["status"] != 413:
                    replaced = True
                    return
                started = True
            elif replaced:
                return
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not exceeded or started:
                raise
            replaced = True
        if replaced:
            await self._too_large(scope)(scope, receive, send)
