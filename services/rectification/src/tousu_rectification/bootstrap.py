"""Wires rectification together: settings → database → units of work → handlers.

The one place that decides which real adapters the service runs on. ``main.py``
hands the app what :func:`bootstrap` builds (``app.state.rectification``);
routes open their unit of work through it (``api/deps.py``) and the inbox
consumer gets its event handlers from it. The database is opened by the common
lifespan (``tousu_common.web``) from ``settings.database_url`` at start-up and
passed in here, never created at import time, so a test can hand the app its own.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from tousu_common.db import Database
from tousu_common.messaging.inbox import Handler, InboxConsumer
from tousu_common.settings import ServiceSettings
from tousu_rectification.adapters.unit_of_work import CaseUnitOfWork, unit_of_work
from tousu_rectification.config import Settings
from tousu_rectification.entrypoints.consumer import build_consumers, event_handlers


@dataclass(frozen=True)
class Rectification:
    """The service's dependencies, built once from its settings."""

    settings: Settings

    def unit_of_work(self, db: Database) -> AbstractAsyncContextManager[CaseUnitOfWork]:
        """One write transaction with the case and rectification repositories."""
        return unit_of_work(db, timezone=self.settings.timezone)

    def event_handlers(self) -> dict[str, Handler]:
        """Which handler each incoming event type gets (the company's time zone bound)."""
        return event_handlers(self.settings.timezone)

    def consumers(self, db: Database, settings: ServiceSettings) -> list[InboxConsumer]:
        """The inbox consumers the common lifespan starts, once the database is open."""
        return build_consumers(db, settings)


def bootstrap(settings: Settings | None = None) -> Rectification:
    return Rectification(settings or Settings())
