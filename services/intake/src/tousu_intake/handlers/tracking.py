"""Events from routing, rectification and intake itself → the tracking read model.

One handler for every event type the page shows; applied through the inbox,
so a redelivered event changes nothing. It runs for nearly every event about
every complaint, so it takes the inbox's whole group of events at once: one read
of the tracking rows, the rows written only when the state moved, and the
complaint read only for the few kinds whose status the complaint row mirrors.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from uuid import UUID

from tousu_common.events import Event
from tousu_intake.adapters.repository import ComplaintRepository
from tousu_intake.adapters.unit_of_work import IntakeUnitOfWork, Session
from tousu_intake.domain.model import MIRRORED_KINDS
from tousu_intake.domain.timeline import TrackingState, advance, entry_for

log = logging.getLogger(__name__)


async def project_event(session: Session, event: Event) -> None:
    """One event (the inbox's form for an event applied alone)."""
    await project_events(session, [event])


async def project_events(session: Session, events: Sequence[Event]) -> None:
    """A fetched group of events, in their order, as if applied one by one in one
    transaction: one read of the tracking rows of all their complaints, then one
    insert of the entries and one insert / update of the rows that moved (a group of
    fifty events costs about what one did; issue 17)."""
    shown = [(event, entry) for event in events if (entry := entry_for(event)) is not None]
    if not shown:
        return
    uow = IntakeUnitOfWork(session)  # the inbox's transaction
    stored = await uow.tracking.stored_states({event.complaint_id for event, _ in shown})
    states = dict(stored)
    references: dict[UUID, str] = {}
    for event, entry in shown:
        complaint_id = event.complaint_id
        states[complaint_id] = advance(states.get(complaint_id) or TrackingState(), entry)
        references.setdefault(complaint_id, getattr(event.data, "reference", ""))
    await uow.tracking.record_many(
        [(event.complaint_id, event.id, entry) for event, entry in shown],
        states,
        stored=stored,
        references=references,
    )
    for event, entry in shown:
        if entry.kind in MIRRORED_KINDS:
            await _keep_open_flag(uow.complaints, event, entry.kind)
    log.info("tracking updated", extra={"events": len(shown), "complaints": len(states)})


async def _keep_open_flag(complaints: ComplaintRepository, event: Event, kind: str) -> None:
    """Mirror closed / withdrawn / reopened onto the complaint row, so the agents'
    caller lookup and ``?open=true`` list only complaints that are really open."""
    complaint = await complaints.get(event.complaint_id)
    if complaint is None:
        return
    was = complaint.status
    if complaint.mirror(kind) and complaint.status != was:
        await complaints.set_status(complaint, was=was)
