"""The intake app: routers and lifespan come together here, no logic."""

from fastapi import FastAPI

from tousu_common.web import create_service_app
from tousu_intake.api.channels import router as channels_router
from tousu_intake.api.complaints import router as complaints_router
from tousu_intake.api.customers import router as customers_router
from tousu_intake.api.limits import SmallBodiesUnlessUpload
from tousu_intake.api.transcriptions import router as transcriptions_router
from tousu_intake.config import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = create_service_app(
        settings,
        title="Tousu intake",
        description="Takes complaints on every channel and announces them as complaint.received.",
        routers=[
            complaints_router,
            customers_router,
            channels_router,
            transcriptions_router,
        ],
    )
    app.add_middleware(SmallBodiesUnlessUpload, max_bytes=settings.http_max_json_bytes)
    return app
