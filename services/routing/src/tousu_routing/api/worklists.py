"""``/v1/worklists``: the triage queue, a department's open complaints by deadline,
and the overdue list — filtered, paginated, and scoped to the caller's department."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

import sqlalchemy as sa
from fastapi import APIRouter, Query
from pydantic import BaseModel

from tousu_common.auth import Principal, Staff, require_roles
from tousu_common.events.catalog import (
    Channel,
    ComplaintCategory,
    CustomerTier,
    SlaClock,
    Urgency,
)
from tousu_common.paging import Page
from tousu_routing.adapters.orm import ComplaintRow, SlaClockRow, TriageRow
from tousu_routing.api.deps import DbDep, PagingDep, RoutingDep, scoped_department
from tousu_routing.domain.clocks import ClockState
from tousu_routing.domain.model import TRIAGE_DESK, Status
from tousu_routing.domain.rules import DEPARTMENTS

router = APIRouter(prefix="/v1/worklists", tags=["worklists"])

TriageDesk = Annotated[Principal, require_roles("csc", "manager", "agent")]
UrgencyFilter = Annotated[Urgency | None, Query()]
CategoryFilter = Annotated[ComplaintCategory | None, Query()]
TierFilter = Annotated[CustomerTier | None, Query()]
DepartmentFilter = Annotated[
    str | None,
    Query(
        description="CSC and managers: any department; others: their own.",
        json_schema_extra={"enum": list(DEPARTMENTS)},
    ),
]


class WorkItem(BaseModel):
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


async def _page(
    db: DbDep, conditions: list[Any], paging: PagingDep, now: datetime
) -> Page[WorkItem]:
    next_due = _next_due().label("next_due_at")
    urgency = sa.func.coalesce(TriageRow.urgency, ComplaintRow.provisional_urgency)
    base = (
        sa.select(ComplaintRow, TriageRow, next_due)
        .outerjoin(TriageRow, TriageRow.complaint_id == ComplaintRow.complaint_id)
        .where(*conditions)
    )
    async with db.sessions() as session:
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
                .limit(paging.limit)
                .offset(paging.offset)
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

    items = []
    for complaint, triage, next_due_at in rows:
        items.append(
            WorkItem(
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
                breached=breached(complaint.complaint_id),
            )
        )
    return Page[WorkItem](
        items=items, total=int(total or 0), limit=paging.limit, offset=paging.offset
    )


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _filters(
    urgency: Urgency | None, category: ComplaintCategory | None, tier: CustomerTier | None
) -> list[Any]:
    conditions: list[Any] = []
    if urgency is not None:
        conditions.append(TriageRow.urgency == urgency.value)
    if category is not None:
        conditions.append(TriageRow.category == category.value)
    if tier is not None:
        conditions.append(ComplaintRow.customer_tier == tier.value)
    return conditions


@router.get(
    "/triage-queue",
    response_model=Page[WorkItem],
    summary="Complaints waiting for a person: no rule matched, or waiting for a transcription",
)
async def triage_queue(
    principal: TriageDesk,
    db: DbDep,
    routing: RoutingDep,
    paging: PagingDep,
    status: Annotated[
        Status | None, Query(description="manual_triage or awaiting_transcription")
    ] = None,
    urgency: UrgencyFilter = None,
    tier: TierFilter = None,
    channel: Annotated[Channel | None, Query()] = None,
) -> Page[WorkItem]:
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
    return await _page(db, conditions, paging, routing.time.now())


@router.get(
    "/department",
    response_model=Page[WorkItem],
    summary="A department's open complaints, the nearest deadline first",
)
async def department_worklist(
    principal: Staff,
    db: DbDep,
    routing: RoutingDep,
    paging: PagingDep,
    department: DepartmentFilter = None,
    urgency: UrgencyFilter = None,
    category: CategoryFilter = None,
    tier: TierFilter = None,
) -> Page[WorkItem]:
    conditions = [
        ComplaintRow.open.is_(True),
        ComplaintRow.status == Status.triaged.value,
        *_filters(urgency, category, tier),
    ]
    scope = scoped_department(principal, department)
    if scope is not None:
        conditions.append(TriageRow.owner_department == scope)
    return await _page(db, conditions, paging, routing.time.now())


@router.get(
    "/overdue",
    response_model=Page[WorkItem],
    summary="Open complaints with a breached SLA clock",
)
async def overdue(
    principal: Staff,
    db: DbDep,
    routing: RoutingDep,
    paging: PagingDep,
    department: DepartmentFilter = None,
    urgency: UrgencyFilter = None,
    category: CategoryFilter = None,
    tier: TierFilter = None,
) -> Page[WorkItem]:
    now = routing.time.now()
    conditions = [ComplaintRow.open.is_(True), _overdue(now), *_filters(urgency, category, tier)]
    scope = scoped_department(principal, department)
    if scope is not None:
        # Untriaged complaints are the triage desk's (the CSC's).
        conditions.append(sa.func.coalesce(TriageRow.owner_department, TRIAGE_DESK) == scope)
    return await _page(db, conditions, paging, now)
