"""Reading and writing the tracking read model; the complaint reads the public channels need."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tousu_intake.adapters.channels_orm import TrackingEntryRow, TrackingStatusRow
from tousu_intake.adapters.orm import ComplaintRow
from tousu_intake.domain.timeline import Entry, TrackingState


class TrackingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def state(self, complaint_id: UUID) -> TrackingState:
        row = await self.session.get(TrackingStatusRow, complaint_id)
        if row is None:
            return TrackingState()
        return TrackingState(
            stage=row.stage,
            stage_at=row.stage_at,
            owner_department=row.owner_department,
            category=row.category,
            pending_plan=row.pending_plan,
            decision_sent=row.decision_sent,
        )

    async def record(
        self, complaint_id: UUID, reference: str, event_id: str, entry: Entry, state: TrackingState
    ) -> None:
        """Append the entry and store the state it led to (same transaction as the inbox row)."""
        self.session.add(
            TrackingEntryRow(
                complaint_id=complaint_id,
                event_id=event_id,
                kind=entry.kind,
                at=entry.at,
                details=entry.details,
            )
        )
        row = await self.session.get(TrackingStatusRow, complaint_id)
        if row is None:
            row = TrackingStatusRow(complaint_id=complaint_id, reference=reference)
            self.session.add(row)
        row.stage = state.stage
        row.stage_at = state.stage_at
        row.owner_department = state.owner_department
        row.category = state.category
        row.pending_plan = state.pending_plan
        row.decision_sent = state.decision_sent
        row.updated_at = datetime.now(UTC)
        await self.session.flush()

    async def mark_decision_sent(self, complaint_id: UUID, decision: str) -> None:
        """Remember at once that the customer answered (a second answer is not sent)."""
        row = await self.session.get(TrackingStatusRow, complaint_id)
        if row is not None:
            row.decision_sent = decision
            row.updated_at = datetime.now(UTC)
            await self.session.flush()

    async def entries(self, complaint_id: UUID) -> list[Entry]:
        rows = await self.session.scalars(
            sa.select(TrackingEntryRow)
            .where(TrackingEntryRow.complaint_id == complaint_id)
            .order_by(TrackingEntryRow.at, TrackingEntryRow.id)
        )
        return [Entry(row.kind, row.at, dict(row.details or {})) for row in rows]


class ComplaintLookup:
    """The few complaint reads the public channels need (no personal data leaves here)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_reference(self, reference: str) -> ComplaintRow | None:
        return await self.session.scalar(
            sa.select(ComplaintRow).where(ComplaintRow.reference == reference)
        )

    async def by_id(self, complaint_id: UUID) -> ComplaintRow | None:
        return await self.session.get(ComplaintRow, complaint_id)
