"""``/v1/worklists``: the triage queue, a department's open complaints by deadline,
and the overdue list — filtered, paginated, and scoped to the caller's department."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel

from tousu_common.auth import Principal, Staff, require_roles
from tousu_common.events.catalog import (
    Channel,
    ComplaintCategory,
    CustomerTier,
    Urgency,
)
from tousu_common.paging import Page
from tousu_routing.adapters.unit_of_work import reading
from tousu_routing.adapters.worklists import Filters, WorkRow
from tousu_routing.api.deps import DbDep, PagingDep, RoutingDep, scoped_department
from tousu_routing.domain.model import Status
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


def _page(found: tuple[list[WorkRow], int], paging: PagingDep) -> Page[WorkItem]:
    rows, total = found
    return Page[WorkItem](
        items=[WorkItem(**asdict(row)) for row in rows],
        total=total,
        limit=paging.limit,
        offset=paging.offset,
    )


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
    async with reading(db) as uow:
        found = await uow.worklists.triage_queue(
            status=status,
            urgency=urgency,
            tier=tier,
            channel=channel,
            now=routing.time.now(),
            limit=paging.limit,
            offset=paging.offset,
        )
    return _page(found, paging)


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
    scope = scoped_department(principal, department)
    async with reading(db) as uow:
        found = await uow.worklists.department(
            department=scope,
            filters=Filters(urgency, category, tier),
            now=routing.time.now(),
            limit=paging.limit,
            offset=paging.offset,
        )
    return _page(found, paging)


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
    scope = scoped_department(principal, department)
    async with reading(db) as uow:
        found = await uow.worklists.overdue(
            department=scope,
            filters=Filters(urgency, category, tier),
            now=routing.time.now(),
            limit=paging.limit,
            offset=paging.offset,
        )
    return _page(found, paging)
