"""Watches that the business calendar knows the years it is about to need.

Due dates late in December run into January, so from 1 December next year's
holidays must be known as well as this year's. A required year without the
State Council's notice (only the statutory days, or nothing) makes ``/readyz``
say ``degraded`` (still HTTP 200: the service works, its deadlines around the
holidays may be wrong), sets ``tousu_calendar_years_uncovered`` and writes an
ERROR log line once a day (local day of the calendar's timezone) until an admin
enters the notice (``PUT /v1/calendar/notices/{year}``) or a release ships it.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date

from tousu_common import metrics
from tousu_common.db import Database
from tousu_common.web import DEGRADED
from tousu_routing.adapters.unit_of_work import reading
from tousu_routing.bootstrap import Routing

log = logging.getLogger(__name__)


class CalendarWatch:
    def __init__(self, db: Database, routing: Routing) -> None:
        self.db = db
        self.routing = routing
        self.last_logged: date | None = None

    def today(self) -> date:
        return self.routing.policy.calendar.local_day(self.routing.time.now())

    async def uncovered(self, db: Database | None = None) -> list[int]:
        async with reading(db or self.db) as uow:
            missing = await self.routing.uncovered_years(uow.calendars, self.today())
        metrics.child(metrics.CALENDAR_YEARS_UNCOVERED, self.routing.settings.service_name).set(
            len(missing)
        )
        return missing

    async def readiness(self, db: Database) -> dict[str, str]:
        """The ``calendar`` entry of ``/readyz``."""
        missing = await self.uncovered(db)
        if not missing:
            return {"calendar": "ok"}
        return {"calendar": f"{DEGRADED}: {_why(missing)}"}

    async def check(self) -> list[int]:
        """One look: the gauge, and the ERROR line if none was written today."""
        missing = await self.uncovered()
        today = self.today()
        if missing and self.last_logged != today:
            self.last_logged = today
            log.error(
                "business calendar incomplete: " + _why(missing),
                extra={"uncovered_years": missing, "today": today.isoformat()},
            )
        return missing

    async def run(self) -> None:
        interval = self.routing.settings.calendar_check_interval_s
        while True:
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # database hiccup: try again next time
                log.warning("calendar coverage not checked", extra={"error": repr(exc)})
            await asyncio.sleep(interval)


def _why(missing: list[int]) -> str:
    years = ", ".join(str(y) for y in missing)
    return (
        f"no State Council holiday notice for {years} (statutory days only: bridge days "
        "and make-up working days unknown); enter it with PUT /v1/calendar/notices/{year}"
    )
