"""``/v1/triage``: how a complaint was classified, by whom, under which rules."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from fastapi import APIRouter, Request
from pydantic import BaseModel

from tousu_common.auth import Staff
from tousu_common.errors import ErrorBody, NotFound
from tousu_common.events import ComplaintCategory, Urgency
from tousu_routing.adapters.repository import TriageRepository

router = APIRouter(prefix="/v1/triage", tags=["triage"])


class TriageView(BaseModel):
    complaint_id: UUID
    reference: str
    category: ComplaintCategory
    urgency: Urgency
    owner_department: str
    decided_by: str
    rule_id: str | None
    ruleset_version: str
    triaged_at: datetime


@router.get(
    "/{complaint_id}",
    response_model=TriageView,
    summary="A complaint's triage",
    responses={
        404: {"model": ErrorBody, "description": "The complaint has not been triaged (yet)"}
    },
)
async def get_triage(request: Request, complaint_id: UUID, principal: Staff) -> TriageView:
    async with request.app.state.db.sessions() as session:
        triage = await TriageRepository(session).get(complaint_id)
    if triage is None:
        raise NotFound(f"no triage for complaint {complaint_id}")
    return TriageView(
        complaint_id=triage.complaint_id,
        reference=triage.reference,
        category=triage.category,
        urgency=triage.urgency,
        owner_department=triage.owner_department,
        decided_by=triage.decided_by,
        rule_id=triage.rule_id,
        ruleset_version=triage.ruleset_version,
        triaged_at=triage.triaged_at,
    )
