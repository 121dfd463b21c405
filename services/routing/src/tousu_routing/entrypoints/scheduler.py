"""The SLA scheduler: raises ``sla.warning`` at 80 % and ``sla.breached`` (plus
``complaint.escalated``) at 100 % of each clock — once each, surviving restarts.

No in-memory timers: every poll reads the clocks whose ``next_check_at`` has
passed, lets the domain decide what is due, and writes the clock's new state
and the events it raised in **one** transaction (the outbox). A crash before
the commit leaves the clock as it was, so the next poll raises the events
again; after the commit the flags say they were raised, so nothing raises
them twice. On PostgreSQL the rows are claimed with ``FOR UPDATE SKIP
LOCKED``, so replicas share the work and never fire the same clock twice.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from tousu_common import metrics
from tousu_common.db import Database
from tousu_common.events.catalog import SlaBreached, SlaWarning
from tousu_routing.adapters.repository import ClockRepository
from tousu_routing.bootstrap import Routing

log = logging.getLogger(__name__)


class SlaScheduler:
    def __init__(self, db: Database, routing: Routing) -> None:
        self.db = db
        self.routing = routing
        self.ticks = 0

    async def tick(self, now: datetime | None = None) -> int:
        """Check every clock due by ``now``; return how many events were raised."""
        now = now or self.routing.time.now()
        raised = 0
        sla_kinds: list[str] = []
        async with self.db.transaction() as session:
            clocks = ClockRepository(session)
            for row, clock in await clocks.due(now, self.routing.settings.sla_batch_size):
                events = clock.check(now)
                raised += len(events)
                for event in events:
                    if isinstance(event, SlaWarning | SlaBreached):
                        sla_kinds.append("warning" if isinstance(event, SlaWarning) else "breached")
                    log.info(
                        "sla event raised",
                        extra={
                            "complaint_id": str(clock.complaint_id),
                            "clock": clock.kind.value,
                            "sla_event": type(event).__name__,
                        },
                    )
                await clocks.update(row, clock)
        # Counted after the commit: a rolled-back poll raises them again next time.
        service = self.routing.settings.service_name
        for kind in sla_kinds:
            metrics.child(metrics.SLA_EVENTS, service, kind).inc()
        self.ticks += 1
        return raised

    async def run(self) -> None:
        interval = self.routing.settings.sla_poll_interval_s
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # database hiccup: try again next poll
                log.warning("sla scheduler poll failed", extra={"error": repr(exc)})
            await asyncio.sleep(interval)
