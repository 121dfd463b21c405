"""The routing app: routers, consumers and lifespan come together here, no logic."""

from fastapi import FastAPI

from tousu_common.web import create_service_app
from tousu_routing.api.triage import router as triage_router
from tousu_routing.config import Settings
from tousu_routing.entrypoints.consumer import build_consumers


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        settings or Settings(),
        title="Tousu routing",
        description=(
            "Triages every complaint.received by rules (category, urgency, owner department) "
            "and announces it as complaint.triaged."
        ),
        routers=[triage_router],
        consumers=build_consumers,
    )
