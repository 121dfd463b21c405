"""Wiring: settings → the delivery worker (repositories, contact directory, templates,
the channel → sender table, the delivery steps) and the consumers (the planning
handler for every event notify listens to).

The database (engine and session factories) is opened by the common service
lifespan (``tousu_common.web.create_service_app``) and found on
``app.state.db``; :meth:`Notify.lifespan` starts the worker inside it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI

from tousu_common.db import Database
from tousu_common.lifecycle import bounded, guard_of, step_budget, stop_tasks, watch
from tousu_common.messaging.inbox import InboxConsumer
from tousu_common.settings import ServiceSettings
from tousu_notify.config import Settings
from tousu_notify.entrypoints.consumer import build_consumers
from tousu_notify.entrypoints.worker import DeliveryWorker

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


class Notify:
    """The service's parts, built from one :class:`Settings`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def consumers(self, db: Database, settings: ServiceSettings) -> list[InboxConsumer]:
        """The inbox consumers: planning deliveries, and the digests' read model."""
        return build_consumers(db, settings)

    def worker(self, db: Database) -> DeliveryWorker:
        """The delivery worker with its senders (one per channel), templates and contacts."""
        return DeliveryWorker(db, self.settings)

    def lifespan(self, inner: Lifespan) -> Lifespan:
        """Run the delivery worker inside the common lifespan (database, relay, consumers)."""
        settings = self.settings

        @asynccontextmanager
        async def lifespan(app: FastAPI) -> AsyncIterator[None]:
            async with inner(app):
                worker = self.worker(app.state.db)
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
