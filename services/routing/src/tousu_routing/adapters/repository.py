"""Loading and saving triages; the only module here that writes SQL."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from tousu_common.events import ComplaintCategory, Urgency, new_event
from tousu_common.messaging.outbox import add_event
from tousu_routing.adapters.orm import TriageRow
from tousu_routing.domain.model import Triage

SOURCE = "tousu/routing"


class TriageRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, triage: Triage) -> None:
        """Store the triage and stage the events it raised, in the same transaction."""
        self.session.add(
            TriageRow(
                complaint_id=triage.complaint_id,
                reference=triage.reference,
                category=triage.category.value,
                urgency=triage.urgency.value,
                owner_department=triage.owner_department,
                rule_id=triage.rule_id,
                ruleset_version=triage.ruleset_version,
                decided_by=triage.decided_by,
                triaged_at=triage.triaged_at,
                received_event_id=triage.received_event_id,
            )
        )
        await self.session.flush()
        for payload in triage.events:
            await add_event(self.session, new_event(payload, source=SOURCE))
        triage.events.clear()

    async def get(self, complaint_id: UUID) -> Triage | None:
        row = await self.session.get(TriageRow, complaint_id)
        if row is None:
            return None
        return Triage(
            complaint_id=row.complaint_id,
            reference=row.reference,
            category=ComplaintCategory(row.category),
            urgency=Urgency(row.urgency),
            owner_department=row.owner_department,
            rule_id=row.rule_id,
            ruleset_version=row.ruleset_version,
            decided_by=row.decided_by,
            triaged_at=row.triaged_at,
            received_event_id=row.received_event_id,
        )
