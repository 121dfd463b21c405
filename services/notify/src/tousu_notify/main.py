"""The notify app: routers, consumers, the delivery worker and lifespan come together
here, no logic."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from tousu_common.lifecycle import bounded, guard_of, step_budget, stop_tasks, watch
from tousu_common.web import create_service_app
from tousu_notify.api.digests import router as digests_router
from tousu_notify.api.links import LINKS
from tousu_notify.api.notifications import router as notifications_router
from tousu_notify.api.subscriptions import router as subscriptions_router
from tousu_notify.config import Settings
from tousu_notify.entrypoints.consumer import build_consumers
from tousu_notify.entrypoints.digest_scheduler import install_scheduler
from tousu_notify.entrypoints.worker import DeliveryWorker


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = create_service_app(
        settings,
        links=LINKS,
        title="Tousu notify",
        description=(
            "Tells customers, departments, suppliers and other systems what happened: "
            "templated e-mail and SMS, signed webhooks, subscriptions, and a delivery log."
        ),
        routers=[notifications_router, subscriptions_router, digests_router],
        consumers=build_consumers,
    )
    app.router.lifespan_context = with_delivery_worker(app.router.lifespan_context, settings)
    install_scheduler(app, settings)
    return app


def with_delivery_worker(inner, settings: Settings):  # type: ignore[no-untyped-def]
    """Run the delivery worker inside the common lifespan (database, relay, consumers)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with inner(app):
            worker = DeliveryWorker(app.state.db, settings)
            app.state.delivery_worker = worker
            task = (
                watch(asyncio.create_task(worker.run(), name="delivery-worker"))
                if settings.delivery_worker_enabled
                else None
            )
            try:
                yield
            finally:
                guard = guard_of(app)
                if task is not None:
                    await stop_tasks([task], step_budget(guard, 2.0))
                await bounded(worker.close(), step_budget(guard, 1.0), "closing the worker")

    return lifespan
