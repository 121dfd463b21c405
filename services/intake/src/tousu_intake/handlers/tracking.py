"""Events from routing, rectification and intake itself → the tracking read model.

One handler for every event type the page shows; applied through the inbox,
so a redelivered event changes nothing.
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from tousu_common.events import Event
from tousu_intake.adapters.tracking_repository import TrackingRepository
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
    log.info("tracking updated", extra={"entry": entry.kind, "stage": state.stage})
