"""The rectification app: routers, consumers and lifespan come together here, no logic."""

from fastapi import FastAPI

from tousu_common.web import create_service_app
from tousu_rectification.api.cases import router as cases_router
from tousu_rectification.config import Settings
from tousu_rectification.entrypoints.consumer import build_consumers


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        settings or Settings(),
        title="Tousu rectification",
        description=(
            "Opens a case for every complaint.triaged and tracks the customer resolution "
            "to closing; announces case.opened."
        ),
        routers=[cases_router],
        consumers=build_consumers,
    )
