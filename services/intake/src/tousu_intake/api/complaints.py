"""``/v1/complaints``: what call-centre agents use while the caller is on the line."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from tousu_common.auth import Principal, Staff, require_roles
from tousu_common.errors import NOT_FOUND_RESPONSE, ErrorBody, NotFound
from tousu_intake.adapters.repository import ComplaintRepository
from tousu_intake.domain.commands import ReceiveComplaint
from tousu_intake.handlers.receive import receive_complaint

router = APIRouter(prefix="/v1/complaints", tags=["complaints"])

Agent = Annotated[Principal, require_roles("agent")]


class ComplaintCreated(BaseModel):
    id: UUID
    reference: str
    status: str
    channel: str
    received_at: datetime


class ComplaintView(BaseModel):
    """A complaint as staff see it, contact details included (never in events or logs)."""

    id: UUID
    reference: str
    status: str
    channel: str
    title: str
    description: str
    customer_name: str
    customer_phone: str | None
    customer_email: str | None
    product_model: str | None
    serial_number: str | None
    language: str
    received_at: datetime
    received_by: str


@router.post(
    "",
    status_code=201,
    response_model=ComplaintCreated,
    summary="Record a hotline complaint",
    responses={
        409: {"model": ErrorBody, "description": "Idempotency-Key reused with another body"}
    },
)
async def create_complaint(
    request: Request,
    command: ReceiveComplaint,
    principal: Agent,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=200,
            description="Retrying with the same key returns the first answer; no second complaint.",
        ),
    ] = None,
) -> JSONResponse:
    settings = request.app.state.settings
    receipt = await receive_complaint(
        request.app.state.db, settings, command, principal, idempotency_key
    )
    headers = {"Location": f"/v1/complaints/{receipt.body['id']}"}
    if receipt.replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(receipt.body, status_code=receipt.status_code, headers=headers)


@router.get(
    "/{complaint_id}",
    response_model=ComplaintView,
    summary="One complaint",
    responses=NOT_FOUND_RESPONSE,
)
async def get_complaint(request: Request, complaint_id: UUID, principal: Staff) -> ComplaintView:
    async with request.app.state.db.sessions() as session:
        complaint = await ComplaintRepository(session).get(complaint_id)
    if complaint is None:
        raise NotFound(f"complaint {complaint_id} does not exist")
    return ComplaintView.model_validate(complaint, from_attributes=True)
