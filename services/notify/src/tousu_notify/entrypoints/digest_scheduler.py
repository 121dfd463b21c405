"""Publishes last week's digest on Monday morning and last month's on the 1st.

Runs in notify's lifespan. Every ``digest_scheduler_interval_s`` it works out
the most recent period whose publication time has passed (settings timezone,
``digest_publish_time``) and publishes it unless the database says it was
published already — so a restart, a late start (catch-up) or a second replica
never publishes a period twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI

from tousu_common.db import Database
from tousu_common.lifecycle import guard_of, step_budget, stop_tasks, watch
from tousu_notify.domain.digest_periods import Period
from tousu_notify.handlers.digests import Digests

log = logging.getLogger(__name__)


def publish_time(settings: Any) -> time:
    hour, minute = (int(part) for part in settings.digest_publish_time.split(":"))
    return time(hour, minute)


def due_periods(now: datetime, settings: Any) -> list[Period]:
    """The latest week and month whose publication time (Monday / the 1st at
    ``digest_publish_time``, local) is at or before ``now``."""
    tz = ZoneInfo(settings.timezone)
    local = now.astimezone(tz)
    at = publish_time(settings)
    monday = local.date() - timedelta(days=local.weekday())
    if local < datetime.combine(monday, at, tz):
        monday -= timedelta(days=7)
    first = local.date().replace(day=1)
    if local < datetime.combine(first, at, tz):
        first = (first - timedelta(days=1)).replace(day=1)
    return [
        Period.containing("week", monday - timedelta(days=1), settings.timezone),
        Period.containing("month", first - timedelta(days=1), settings.timezone),
    ]


class DigestScheduler:
    def __init__(
        self,
        db: Database,
        settings: Any,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.digests = Digests(db, settings)
        self.settings = settings
        self.clock = clock

    async def tick(self) -> list[str]:
        """Publish whatever is due; the labels published by this call."""
        published = []
        now = self.clock()
        for period in due_periods(now, self.settings):
            if await self.digests.publish(period, now=now):
                published.append(f"{period.kind}/{period.label}")
        return published

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep the schedule alive; the next tick retries
                log.warning("digest scheduler tick failed", extra={"error": repr(exc)})
            await asyncio.sleep(self.settings.digest_scheduler_interval_s)


def install_scheduler(app: FastAPI, settings: Any) -> None:
    """Run the scheduler inside the app's lifespan (after the database is up)."""
    if not settings.digest_scheduler_enabled:
        return
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
        async with inner(app) as state:
            task = watch(
                asyncio.create_task(
                    DigestScheduler(app.state.db, settings).run(), name="digest-scheduler"
                )
            )
            try:
                yield state
            finally:
                await stop_tasks([task], step_budget(guard_of(app), 2.0))

    app.router.lifespan_context = lifespan
