"""``/v1/duplicates``: undo a duplicate link (the complaint is then triaged as new work)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter

from tousu_common.auth import Principal, require_roles
from tousu_common.errors import NOT_FOUND_RESPONSE, ErrorBody
from tousu_routing.api.deps import DbDep, RoutingDep
from tousu_routing.api.views import TriageView
from tousu_routing.handlers import commands

router = APIRouter(prefix="/v1/duplicates", tags=["duplicates"])

TriageDesk = Annotated[Principal, require_roles("csc", "manager")]


@router.delete(
    "/{complaint_id}",
    response_model=TriageView,
    summary="Not a duplicate: unlink it (complaint.duplicate_unlinked) and triage it",
    responses={
        **NOT_FOUND_RESPONSE,
        409: {"model": ErrorBody, "description": "The complaint is not linked as a duplicate"},
    },
)
async def unlink(
    complaint_id: UUID, principal: TriageDesk, db: DbDep, routing: RoutingDep
) -> TriageView:
    complaint = await commands.unlink_duplicate(db, routing, complaint_id, by=principal.subject)
    return TriageView.of(complaint)
