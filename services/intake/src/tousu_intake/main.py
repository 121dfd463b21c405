"""The intake app: routers and lifespan come together here, no logic."""

from fastapi import FastAPI

from tousu_common.web import create_service_app
from tousu_intake.api.complaints import router as complaints_router
from tousu_intake.api.web import router as web_router
from tousu_intake.config import Settings
from tousu_intake.entrypoints.consumer import build_consumers
from tousu_intake.entrypoints.smtp import with_mail_listener


def create_app(settings: Settings | None = None) -> FastAPI:
    return with_mail_listener(
        create_service_app(
            settings or Settings(),
            title="Tousu intake",
            description=(
                "Takes complaints on every channel and announces them as complaint.received."
            ),
            routers=[complaints_router, web_router],
            consumers=build_consumers,
        )
    )
