"""Events from routing, rectification and intake itself → the tracking read model.

One handler for every event type the page shows; applied through the inbox,
so a redelivered event changes nothing. It runs for nearly every event about
every complaint, so it reads the tracking row once, writes it only when the
state moved, and reads the complaint only for the few kinds whose status the
complaint row mirrors.
"""

from __future__ import annotations

import logging

from tousu_common.events import Event
from tousu_intake.adapters.repository import ComplaintRepository
from tousu_intake.adapters.unit_of_work import IntakeUnitOfWork, Session
from tousu_intake.domain.model import MIRRORED_KINDS
from tousu_intake.domain.timeline import TrackingState, advance, entry_for

log = logging.getLogger(__name__)


async def project_event(session: Session, event: Event) -> None:
    entry = entry_for(event)
    if entry is None:
        return
    uow = IntakeUnitOfWork(session)  # the inbox's transaction
    stored = await uow.tracking.stored_state(event.complaint_id)
    state = advance(stored or TrackingState(), entry)
    reference = getattr(event.data, "reference", "")
    await uow.tracking.record(event.complaint_id, reference, event.id, entry, state, stored=stored)
    if entry.kind in MIRRORED_KINDS:
        await _keep_open_flag(uow.complaints, event, entry.kind)
    log.info("tracking updated", extra={"entry": entry.kind, "stage": state.stage})


async def _keep_open_flag(complaints: ComplaintRepository, event: Event, kind: str) -> None:
    """Mirror closed / withdrawn / reopened onto the complaint row, so the agents'
    caller lookup and ``?open=true`` list only complaints that are really open."""
    complaint = await complaints.get(event.complaint_id)
    if complaint is None:
        return
    was = complaint.status
    if complaint.mirror(kind) and complaint.status != was:
        await complaints.set_status(complaint, was=was)
