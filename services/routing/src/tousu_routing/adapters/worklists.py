"""The worklists' queries: the triage queue, a department's open complaints by
deadline, and the overdue list — one page of rows each, nearest deadline first.

The router parses the filters and renders :class:`WorkRow`; every SQL statement
is here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tousu_common.events.catalog import (
    Channel,
    ComplaintCategory,
    CustomerTier,
    SlaClock,
    Urgency,
)
from tousu_routing.adapters.orm import ComplaintRow, SlaClockRow, TriageRow
from tousu_routing.domain.clocks import ClockState
from tousu_routing.domain.model import TRIAGE_DESK, Status


@dataclass(frozen=True)
class WorkRow:
    """One complaint on a worklist, as the router shows it."""

    complaint_id: UUID
    reference: str
    status: Status
    title: str
    channel: Channel
    received_at: datetime
    customer_tier: CustomerTier
    key_account: bool
    category: ComplaintCategory | None
    urgency: Urgency
    owner_department: str
    next_due_at: datetime | None
    first_response_due: datetime | None
    resolution_plan_due: datetime | None
    breached: bool


@dataclass(frozen=True)
class Filters:
    urgency: Urgency | None = None
    category: ComplaintCategory | None = None
    tier: CustomerTier | None = None


_ACTIVE = (ClockState.running.value, ClockState.paused.value)


def _next_due() -> Any:
    return (
        sa.select(sa.func.min(SlaClockRow.due_at))
        .where(
            SlaClockRow.complaint_id == ComplaintRow.complaint_id,
            SlaClockRow.state == ClockState.running.value,
        )
        .scalar_subquery()
    )


def _overdue(now: datetime) -> Any:
    return sa.exists().where(
        SlaClockRow.complaint_id == ComplaintRow.complaint_id,
        SlaClockRow.state.in_(_ACTIVE),
        sa.or_(SlaClockRow.breached_at.is_not(None), SlaClockRow.due_at <= now),
    )


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _filters(filters: Filters) -> list[Any]:
    conditions: list[Any] = []
    if filters.urgency is not None:
        conditions.append(TriageRow.urgency == filters.urgency.value)
    if filters.category is not None:
        conditions.append(TriageRow.category == filters.category.value)
    if filters.tier is not None:
        conditions.append(ComplaintRow.customer_tier == filters.tier.value)
    return conditions


class Worklists:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def triage_queue(
        self,
        *,
        status: Status | None,
        urgency: Urgency | None,
        tier: CustomerTier | None,
        channel: Channel | None,
        now: datetime,
        limit: int,
        offset: int,
    ) -> tuple[list[WorkRow], int]:
        """Complaints waiting for a person: no rule matched, or no text yet."""
        waiting = (Status.manual_triage.value, Status.awaiting_transcription.value)
        conditions: list[Any] = [ComplaintRow.open.is_(True), ComplaintRow.status.in_(waiting)]
        if status is not None:
            conditions.append(ComplaintRow.status == status.value)
        if urgency is not None:
            conditions.append(ComplaintRow.provisional_urgency == urgency.value)
        if tier is not None:
            conditions.append(ComplaintRow.customer_tier == tier.value)
        if channel is not None:
            conditions.append(ComplaintRow.channel == channel.value)
        return await self._page(conditions, now, limit, offset)

    async def department(
        self, *, department: str | None, filters: Filters, now: datetime, limit: int, offset: int
    ) -> tuple[list[WorkRow], int]:
        """Open triaged complaints, of ``department`` when one is given."""
        conditions = [
            ComplaintRow.open.is_(True),
            ComplaintRow.status == Status.triaged.value,
            *_filters(filters),
        ]
        if department is not None:
            conditions.append(TriageRow.owner_department == department)
        return await self._page(conditions, now, limit, offset)

    async def overdue(
        self, *, department: str | None, filters: Filters, now: datetime, limit: int, offset: int
    ) -> tuple[list[WorkRow], int]:
        """Open complaints with a breached (or past-due) active clock."""
        conditions = [ComplaintRow.open.is_(True), _overdue(now), *_filters(filters)]
        if department is not None:
            # Untriaged complaints are the triage desk's (the CSC's).
            conditions.append(
                sa.func.coalesce(TriageRow.owner_department, TRIAGE_DESK) == department
            )
        return await self._page(conditions, now, limit, offset)

    async def _page(
        self, conditions: list[Any], now: datetime, limit: int, offset: int
    ) -> tuple[list[WorkRow], int]:
        session = self.session
        next_due = _next_due().label("next_due_at")
        urgency = sa.func.coalesce(TriageRow.urgency, ComplaintRow.provisional_urgency)
        base = (
            sa.select(ComplaintRow, TriageRow, next_due)
            .outerjoin(TriageRow, TriageRow.complaint_id == ComplaintRow.complaint_id)
            .where(*conditions)
        )
        total = await session.scalar(
            sa.select(sa.func.count()).select_from(
                base.with_only_columns(ComplaintRow.complaint_id).subquery()
            )
        )
        rows = (
            await session.execute(
                base.order_by(
                    sa.nulls_last(next_due.asc()),
                    sa.case(
                        (urgency == Urgency.urgent.value, 0),
                        (urgency == Urgency.important.value, 1),
                        else_=2,
                    ),
                    ComplaintRow.received_at,
                    ComplaintRow.complaint_id,
                )
                .limit(limit)
                .offset(offset)
            )
        ).all()
        ids = [row[0].complaint_id for row in rows]
        clocks = (
            (
                await session.scalars(
                    sa.select(SlaClockRow).where(SlaClockRow.complaint_id.in_(ids))
                )
            ).all()
            if ids
            else []
        )
        by_complaint: dict[UUID, dict[str, SlaClockRow]] = {}
        for clock in clocks:
            by_complaint.setdefault(clock.complaint_id, {})[clock.clock] = clock

        def due(complaint_id: UUID, kind: SlaClock) -> datetime | None:
            clock = by_complaint.get(complaint_id, {}).get(kind.value)
            return clock.due_at if clock is not None and clock.state in _ACTIVE else None

        def breached(complaint_id: UUID) -> bool:
            return any(
                c.state in _ACTIVE and (c.breached_at is not None or (c.due_at and c.due_at <= now))
                for c in by_complaint.get(complaint_id, {}).values()
            )

        items = [
            WorkRow(
                complaint_id=complaint.complaint_id,
                reference=complaint.reference,
                status=Status(complaint.status),
                title=complaint.title,
                channel=Channel(complaint.channel),
                received_at=complaint.received_at,
                customer_tier=CustomerTier(complaint.customer_tier),
                key_account=complaint.key_account,
                category=ComplaintCategory(triage.category) if triage else None,
                urgency=Urgency(triage.urgency if triage else complaint.provisional_urgency),
                owner_department=triage.owner_department if triage else TRIAGE_DESK,
                next_due_at=next_due_at if next_due_at is None else _utc(next_due_at),
                first_response_due=due(complaint.complaint_id, SlaClock.first_response),
                resolution_plan_due=due(complaint.complaint_id, SlaClock.resolution_plan),
                breached=bool(breached(complaint.complaint_id)),
            )
            for complaint, triage, next_due_at in rows
        ]
        return items, int(total or 0)
