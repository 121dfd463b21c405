"""``/v1/duplicates``: link a complaint as a duplicate by hand, or undo a link (the
complaint is then triaged as new work)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, field_validator

from tousu_common.auth import Principal, require_roles
from tousu_common.errors import NOT_FOUND_RESPONSE, ErrorBody
from tousu_routing.api.deps import DbDep, RoutingDep
from tousu_routing.api.views import TriageView
from tousu_routing.handlers import commands

router = APIRouter(prefix="/v1/duplicates", tags=["duplicates"])

TriageDesk = Annotated[Principal, require_roles("csc", "manager")]


class DuplicateLink(BaseModel):
    """This complaint repeats ``original_id``."""

    model_config = ConfigDict(extra="forbid")

    original_id: UUID = Field(
        description="The complaint it repeats. If that one is itself a duplicate, the "
        "link goes to the complaint it repeats (the group's original)."
    )
    reason: str | None = Field(
        default=None,
        max_length=500,
        description="Why (optional; on the event, masked like all free text).",
    )

    @field_validator("reason")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None


@router.post(
    "/{complaint_id}",
    response_model=TriageView,
    summary="Link it by hand as a duplicate (complaint.duplicate_linked): out of every "
    "worklist, SLA clocks cancelled",
    responses={
        **NOT_FOUND_RESPONSE,
        409: {
            "model": ErrorBody,
            "description": "Already a duplicate, closed, linked to itself, or the original "
            "is closed or withdrawn",
        },
    },
)
async def link(
    complaint_id: UUID,
    body: DuplicateLink,
    principal: TriageDesk,
    db: DbDep,
    routing: RoutingDep,
) -> TriageView:
    complaint = await commands.link_duplicate(
        db,
        routing,
        complaint_id,
        original_id=body.original_id,
        reason=body.reason,
        by=principal.subject,
    )
    return TriageView.of(complaint)


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
