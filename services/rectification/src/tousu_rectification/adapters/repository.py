"""Loading and saving cases; the only module here that writes SQL."""

from __future__ import annotations

from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tousu_common.errors import Conflict
from tousu_common.events import ComplaintCategory, EventPayload, Urgency, new_event
from tousu_common.messaging.outbox import add_event
from tousu_rectification.adapters.orm import CaseHistoryRow, CaseRow
from tousu_rectification.domain.events import StatusChanged
from tousu_rectification.domain.model import Case, HistoryEntry
from tousu_rectification.domain.status import CaseStatus

SOURCE = "tousu/rectification"


class StaleCase(Conflict):
    """Someone else saved the case since it was loaded; reload and try again."""

    code = "stale_case"


class CaseRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, case: Case) -> None:
        """Store a new case and what it raised, in the caller's transaction."""
        self.session.add(
            CaseRow(
                case_id=case.case_id,
                complaint_id=case.complaint_id,
                reference=case.reference,
                status=case.status.value,
                owner_department=case.owner_department,
                category=case.category.value,
                urgency=case.urgency.value,
                opened_at=case.opened_at,
                version=case.version,
            )
        )
        await self.session.flush()
        await self._record_events(case)

    async def save(self, case: Case) -> None:
        """Store a changed case, unless it changed in the database since it was loaded."""
        saved_version = await self.session.scalar(
            sa.update(CaseRow)
            .where(CaseRow.case_id == case.case_id, CaseRow.version == case.version)
            .values(
                status=case.status.value,
                owner_department=case.owner_department,
                category=case.category.value,
                urgency=case.urgency.value,
                version=case.version + 1,
            )
            .returning(CaseRow.version)
            .execution_options(synchronize_session=False)
        )
        if saved_version is None:
            raise StaleCase(f"case {case.case_id} was changed by someone else; reload it")
        case.version = saved_version
        await self._record_events(case)

    async def get_by_complaint(self, complaint_id: UUID) -> Case | None:
        row = await self.session.scalar(
            sa.select(CaseRow)
            .where(CaseRow.complaint_id == complaint_id)
            .execution_options(populate_existing=True)
        )
        if row is None:
            return None
        return Case(
            case_id=row.case_id,
            complaint_id=row.complaint_id,
            reference=row.reference,
            status=CaseStatus(row.status),
            owner_department=row.owner_department,
            category=ComplaintCategory(row.category),
            urgency=Urgency(row.urgency),
            opened_at=row.opened_at,
            version=row.version,
        )

    async def history(self, case_id: UUID) -> list[HistoryEntry]:
        """Every status the case entered, oldest first."""
        rows = await self.session.scalars(
            sa.select(CaseHistoryRow)
            .where(CaseHistoryRow.case_id == case_id)
            .order_by(CaseHistoryRow.at, CaseHistoryRow.id)
        )
        return [
            HistoryEntry(status=CaseStatus(row.status), at=row.at, by=row.actor) for row in rows
        ]

    async def _record_events(self, case: Case) -> None:
        # Status changes become history rows; public payloads go to the outbox.
        for event in case.events:
            if isinstance(event, StatusChanged):
                self.session.add(
                    CaseHistoryRow(
                        case_id=event.case_id,
                        status=event.to_status.value,
                        at=event.at,
                        actor=event.by,
                    )
                )
            elif isinstance(event, EventPayload):
                await add_event(self.session, new_event(event, source=SOURCE))
        case.events.clear()
        await self.session.flush()
