"""Events from routing, rectification and intake itself → the tracking read model.

One handler for every event type the page shows; applied through the inbox,
so a redelivered event changes nothing.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tousu_common.events import Event
from tousu_intake.adapters.orm import ComplaintRow
from tousu_intake.adapters.tracking_repository import TrackingRepository
from tousu_intake.domain.model import FINISHED_STATUSES, ComplaintStatus
from tousu_intake.domain.timeline import advance, entry_for

log = logging.getLogger(__name__)


async def project_event(session: AsyncSession, event: Event) -> None:
    entry = entry_for(event)
    if entry is None:
        return
    tracking = TrackingRepository(session)
    state = advance(await tracking.state(event.complaint_id), entry)
    reference = getattr(event.data, "reference", "")
    await tracking.record(event.complaint_id, reference, event.id, entry, state)
    await _keep_open_flag(session, event, entry.kind)
    log.info("tracking updated", extra={"entry": entry.kind, "stage": state.stage})


async def _keep_open_flag(session: AsyncSession, event: Event, kind: str) -> None:
    """Mirror closed / withdrawn / reopened onto the complaint row, so the agents'
    caller lookup and ``?open=true`` list only complaints that are really open."""
    finished = {"closed": ComplaintStatus.closed, "withdrawn": ComplaintStatus.withdrawn}
    row = ComplaintRow.__table__
    if kind in finished:
        await session.execute(
            sa.update(row).where(row.c.id == event.complaint_id).values(status=finished[kind])
        )
    elif kind == "reopened":
        await session.execute(
            sa.update(row)
            .where(row.c.id == event.complaint_id, row.c.status.in_(sorted(FINISHED_STATUSES)))
            .values(status=ComplaintStatus.received)
        )
