"""The notify app: routers, consumers and lifespan come together here, no logic."""

from fastapi import FastAPI

from tousu_common.web import create_service_app
from tousu_notify.api.notifications import router as notifications_router
from tousu_notify.config import Settings
from tousu_notify.digests.scheduler import install_scheduler
from tousu_notify.digests.views import router as digests_router
from tousu_notify.entrypoints.consumer import build_consumers


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = create_service_app(
        settings,
        title="Tousu notify",
        description=(
            "Records the acknowledgement for every complaint.received and the department "
            "assignment for every complaint.triaged."
        ),
        routers=[notifications_router, digests_router],
        consumers=build_consumers,
    )
    install_scheduler(app, settings)
    return app
