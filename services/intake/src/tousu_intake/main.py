"""The intake app: routers and lifespan come together here, no logic."""

from fastapi import FastAPI

from tousu_common.web import create_service_app
from tousu_intake.api.channels import router as channels_router
from tousu_intake.api.complaints import router as complaints_router
from tousu_intake.api.customers import router as customers_router
from tousu_intake.api.inbound_mail import router as inbound_mail_router
from tousu_intake.api.transcriptions import router as transcriptions_router
from tousu_intake.api.web import router as web_router
from tousu_intake.config import Settings
from tousu_intake.entrypoints.consumer import build_consumers
from tousu_intake.entrypoints.smtp import with_mail_listener


def create_app(settings: Settings | None = None) -> FastAPI:
    # with_mail_listener: the inbound SMTP listener starts after the database and stops first.
    return with_mail_listener(
        create_service_app(
            settings or Settings(),
            title="Tousu intake",
            description=(
                "Takes complaints on every channel and announces them as complaint.received."
            ),
            routers=[
                complaints_router,
                customers_router,
                channels_router,
                transcriptions_router,
                web_router,
                inbound_mail_router,
            ],
            consumers=build_consumers,
        )
    )
