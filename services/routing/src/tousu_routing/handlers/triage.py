"""complaint.received → triage by rules → complaint.triaged, in one transaction."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from tousu_common.events import ComplaintReceived, Event
from tousu_routing.adapters.repository import TriageRepository
from tousu_routing.domain.model import Triage

log = logging.getLogger(__name__)


async def triage_received_complaint(session: AsyncSession, event: Event) -> None:
    """Triage a new complaint once; a second delivery of it changes nothing."""
    received = event.data
    if not isinstance(received, ComplaintReceived):
        raise TypeError(f"expected complaint.received, got {event.type}")
    triages = TriageRepository(session)
    if await triages.get(received.complaint_id) is not None:
        log.info("complaint already triaged, nothing to do")
        return
    triage = Triage.by_rules(received, event_id=event.id, at=datetime.now(UTC))
    await triages.add(triage)
    log.info(
        "complaint triaged",
        extra={
            "category": triage.category.value,
            "urgency": triage.urgency.value,
            "owner_department": triage.owner_department,
            "rule_id": triage.rule_id,
        },
    )
