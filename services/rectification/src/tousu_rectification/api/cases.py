"""``/v1/cases``: where a complaint's resolution stands and how it got there."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from fastapi import APIRouter, Request
from pydantic import BaseModel

from tousu_common.auth import Staff
from tousu_common.errors import ErrorBody, NotFound
from tousu_common.events import ComplaintCategory, Urgency
from tousu_rectification.adapters.repository import CaseRepository
from tousu_rectification.domain.status import CaseStatus

router = APIRouter(prefix="/v1/cases", tags=["cases"])


class HistoryView(BaseModel):
    status: CaseStatus
    at: datetime
    by: str


class CaseView(BaseModel):
    case_id: UUID
    complaint_id: UUID
    reference: str
    status: CaseStatus
    owner_department: str
    category: ComplaintCategory
    urgency: Urgency
    opened_at: datetime
    version: int
    history: list[HistoryView]


@router.get(
    "/{complaint_id}",
    response_model=CaseView,
    summary="A complaint's case, with its history",
    responses={404: {"model": ErrorBody, "description": "No case is open for the complaint (yet)"}},
)
async def get_case(request: Request, complaint_id: UUID, principal: Staff) -> CaseView:
    async with request.app.state.db.sessions() as session:
        cases = CaseRepository(session)
        case = await cases.get_by_complaint(complaint_id)
        if case is None:
            raise NotFound(f"no case for complaint {complaint_id}")
        history = await cases.history(case.case_id)
    return CaseView(
        case_id=case.case_id,
        complaint_id=case.complaint_id,
        reference=case.reference,
        status=case.status,
        owner_department=case.owner_department,
        category=case.category,
        urgency=case.urgency,
        opened_at=case.opened_at,
        version=case.version,
        history=[HistoryView(status=entry.status, at=entry.at, by=entry.by) for entry in history],
    )
