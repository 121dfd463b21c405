"""``/v1/triage``: how a complaint was classified, by whom, under which rules —
and a person's triage or reassignment."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from tousu_common.auth import Principal, Staff, require_roles
from tousu_common.errors import NOT_FOUND_RESPONSE, ErrorBody, NotFound
from tousu_common.events.catalog import ComplaintCategory, Urgency
from tousu_routing.adapters.unit_of_work import reading
from tousu_routing.api.deps import DbDep, RoutingDep, check_department_access, check_department_name
from tousu_routing.api.views import TriageView
from tousu_routing.domain.rules import DEPARTMENTS
from tousu_routing.handlers import commands

router = APIRouter(prefix="/v1/triage", tags=["triage"])

TriageDesk = Annotated[Principal, require_roles("csc", "manager")]
CONFLICT = {409: {"model": ErrorBody, "description": "Not possible in the complaint's state"}}


class ManualTriage(BaseModel):
    """A person's triage: overrides the rules and any earlier triage."""

    model_config = ConfigDict(extra="forbid")

    category: ComplaintCategory
    urgency: Urgency
    owner_department: str = Field(json_schema_extra={"enum": list(DEPARTMENTS)})
    quality_report_needed: bool = False
    reason: str | None = Field(default=None, max_length=2000)


class Reassignment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    department: str = Field(json_schema_extra={"enum": list(DEPARTMENTS)})
    reason: str = Field(min_length=1, max_length=2000)


class TriageRecordView(BaseModel):
    kind: str
    category: ComplaintCategory
    urgency: Urgency
    owner_department: str
    quality_report_needed: bool
    rule_id: str | None
    ruleset_version: str
    decided_by: str
    reason: str | None
    recorded_at: datetime


@router.get(
    "/{complaint_id}",
    response_model=TriageView,
    summary="A complaint's triage, status and SLA clocks",
    responses=NOT_FOUND_RESPONSE,
)
async def get_triage(complaint_id: UUID, principal: Staff, db: DbDep) -> TriageView:
    async with reading(db) as uow:
        complaint = await uow.complaints.get(complaint_id)
    if complaint is None:
        raise NotFound(f"routing has no complaint {complaint_id} (yet)")
    check_department_access(principal, complaint.owner_department)
    return TriageView.of(complaint)


@router.get(
    "/{complaint_id}/history",
    response_model=list[TriageRecordView],
    summary="Every triage decision and reassignment, oldest first",
    responses=NOT_FOUND_RESPONSE,
)
async def get_history(complaint_id: UUID, principal: Staff, db: DbDep) -> list[TriageRecordView]:
    async with reading(db) as uow:
        repository = uow.complaints
        complaint = await repository.get(complaint_id)
        if complaint is None:
            raise NotFound(f"routing has no complaint {complaint_id} (yet)")
        check_department_access(principal, complaint.owner_department)
        rows = await repository.history(complaint_id)
    return [
        TriageRecordView(
            kind=row.kind,
            category=ComplaintCategory(row.category),
            urgency=Urgency(row.urgency),
            owner_department=row.owner_department,
            quality_report_needed=row.quality_report_needed,
            rule_id=row.rule_id,
            ruleset_version=row.ruleset_version,
            decided_by=row.decided_by,
            reason=row.reason,
            recorded_at=row.recorded_at,
        )
        for row in rows
    ]


@router.put(
    "/{complaint_id}",
    response_model=TriageView,
    summary="Triage by a person (overrides the rules; re-triage if already triaged)",
    responses={**NOT_FOUND_RESPONSE, **CONFLICT},
)
async def put_triage(
    complaint_id: UUID, body: ManualTriage, principal: TriageDesk, db: DbDep, routing: RoutingDep
) -> TriageView:
    check_department_name("owner_department", body.owner_department)
    complaint = await commands.triage_by_person(
        db,
        routing,
        complaint_id,
        category=body.category,
        urgency=body.urgency,
        owner_department=body.owner_department,
        quality_report_needed=body.quality_report_needed,
        reason=body.reason,
        by=principal.subject,
    )
    return TriageView.of(complaint)


@router.post(
    "/{complaint_id}/reassign",
    response_model=TriageView,
    summary="Move a triaged complaint to another department (the SLA clocks carry on)",
    responses={**NOT_FOUND_RESPONSE, **CONFLICT},
)
async def reassign(
    complaint_id: UUID, body: Reassignment, principal: TriageDesk, db: DbDep, routing: RoutingDep
) -> TriageView:
    check_department_name("department", body.department)
    complaint = await commands.reassign(
        db,
        routing,
        complaint_id,
        department=body.department,
        reason=body.reason,
        by=principal.subject,
    )
    return TriageView.of(complaint)
