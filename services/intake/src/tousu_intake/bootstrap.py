"""Wires intake together: settings, the routers, the event consumers, the body
limit and the inbound SMTP listener.

The one place that knows which adapters and handlers the running service is
made of; :mod:`tousu_intake.main` only asks for the app. The database and the
outbox relay come from :func:`tousu_common.web.create_service_app`; handlers
reach the database through :mod:`tousu_intake.adapters.unit_of_work`.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from starlette.middleware import Middleware

from tousu_common.web import RequestIdMiddleware, create_service_app
from tousu_intake.api.channels import router as channels_router
from tousu_intake.api.complaints import router as complaints_router
from tousu_intake.api.customers import router as customers_router
from tousu_intake.api.inbound_mail import router as inbound_mail_router
from tousu_intake.api.limits import SmallBodiesUnlessUpload
from tousu_intake.api.links import LINKS
from tousu_intake.api.transcriptions import router as transcriptions_router
from tousu_intake.api.web import router as web_router
from tousu_intake.config import Settings
from tousu_intake.entrypoints.consumer import build_consumers
from tousu_intake.entrypoints.smtp import with_mail_listener

#: Every HTTP router intake serves, in the order the OpenAPI document lists them.
ROUTERS: tuple[APIRouter, ...] = (
    complaints_router,
    customers_router,
    channels_router,
    transcriptions_router,
    web_router,
    inbound_mail_router,
)


def bootstrap(settings: Settings) -> FastAPI:
    """The intake app for ``settings``, with everything it runs plugged in."""
    app = create_service_app(
        settings,
        links=LINKS,
        title="Tousu intake",
        description="Takes complaints on every channel and announces them as complaint.received.",
        routers=list(ROUTERS),
        consumers=build_consumers,
    )
    # Inside the request-id middleware, so a 413 carries the request id too.
    position = next(
        (i + 1 for i, m in enumerate(app.user_middleware) if m.cls is RequestIdMiddleware), 0
    )
    app.user_middleware.insert(
        position, Middleware(SmallBodiesUnlessUpload, max_bytes=settings.http_max_json_bytes)
    )
    # The inbound SMTP listener starts after the database and stops before it.
    return with_mail_listener(app)
