"""The routing app: routers, consumers, the SLA scheduler and lifespan come together
here, no logic."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from tousu_common.db import Database
from tousu_common.lifecycle import guard_of, step_budget, stop_tasks, watch
from tousu_common.settings import ServiceSettings
from tousu_common.web import create_service_app
from tousu_routing.api.calendar import router as calendar_router
from tousu_routing.api.duplicates import router as duplicates_router
from tousu_routing.api.links import LINKS
from tousu_routing.api.rules import router as rules_router
from tousu_routing.api.triage import router as triage_router
from tousu_routing.api.worklists import router as worklists_router
from tousu_routing.bootstrap import Routing, SystemTime, TimeSource
from tousu_routing.config import Settings
from tousu_routing.entrypoints.calendar_watch import CalendarWatch
from tousu_routing.entrypoints.consumer import build_consumers
from tousu_routing.entrypoints.scheduler import SlaScheduler


def create_app(settings: Settings | None = None, time: TimeSource | None = None) -> FastAPI:
    settings = settings or Settings()
    routing = Routing(settings, time or SystemTime())

    def consumers(db: Database, service_settings: ServiceSettings) -> list:
        return build_consumers(db, service_settings, routing)

    calendar_watch = CalendarWatch(None, routing)  # type: ignore[arg-type]  # the db comes at start-up

    app = create_service_app(
        settings,
        links=LINKS,
        title="Tousu routing",
        description=(
            "The triage desk: classifies every complaint by versioned rules (or a person), "
            "links duplicates, runs the SLA clocks on a business calendar, raises warnings, "
            "breaches and escalations, and serves the worklists."
        ),
        routers=[triage_router, rules_router, calendar_router, duplicates_router, worklists_router],
        consumers=consumers,
        readiness=[calendar_watch.readiness],
    )
    app.state.routing = routing
    app.state.calendar_watch = calendar_watch
    service_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service_lifespan(app):
            scheduler = SlaScheduler(app.state.db, routing)
            app.state.scheduler = scheduler
            calendar_watch.db = app.state.db
            tasks = [
                watch(asyncio.create_task(scheduler.run(), name="sla-scheduler")),
                watch(asyncio.create_task(calendar_watch.run(), name="calendar-watch")),
            ]
            try:
                yield
            finally:
                await stop_tasks(tasks, step_budget(guard_of(app), 2.0))

    app.router.lifespan_context = lifespan
    return app
