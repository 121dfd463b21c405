"""``/v1/transcriptions``: the agents' queue of faxes and letters OCR could not read."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, StringConstraints

from tousu_common.auth import Principal, require_roles
from tousu_common.errors import NOT_FOUND_RESPONSE, ErrorBody
from tousu_common.events.catalog import AmendmentKind
from tousu_common.paging import WHOLE_NUMBER, Page
from tousu_common.patterns import NON_SPACE
from tousu_intake.adapters.attachments import list_attachments
from tousu_intake.adapters.repository import ComplaintQueries
from tousu_intake.api.schemas import AttachmentView
from tousu_intake.handlers.amend import amend_complaint

router = APIRouter(prefix="/v1/transcriptions", tags=["transcriptions"])

Transcriber = Annotated[Principal, require_roles("agent", "csc")]


class AwaitingTranscription(BaseModel):
    id: UUID
    reference: str
    channel: str
    title: str
    ocr_text: str
    ocr_confidence: float | None
    received_at: datetime
    attachments: list[AttachmentView]


class Transcription(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Annotated[
        str,
        StringConstraints(
            strip_whitespace=True, min_length=1, max_length=20_000, pattern=NON_SPACE
        ),
    ]


class Transcribed(BaseModel):
    complaint_id: UUID
    reference: str
    amendment_id: UUID
    status: str
    transcribed_at: datetime


@router.get(
    "",
    response_model=Page[AwaitingTranscription],
    summary="Complaints waiting for a person to type their text (oldest first)",
)
async def queue(
    request: Request,
    principal: Transcriber,
    limit: Annotated[int, Query(ge=1, le=100), WHOLE_NUMBER] = 20,
    offset: Annotated[int, Query(ge=0, le=100_000), WHOLE_NUMBER] = 0,
) -> Page[AwaitingTranscription]:
    async with request.app.state.db.sessions() as session:
        rows, total = await ComplaintQueries(session).awaiting_transcription(
            limit=limit, offset=offset
        )
        items = [
            AwaitingTranscription(
                id=row.id,
                reference=row.reference,
                channel=row.channel,
                title=row.title,
                ocr_text=row.description,
                ocr_confidence=row.ocr_confidence,
                received_at=row.received_at,
                attachments=[AttachmentView.of(a) for a in await list_attachments(session, row.id)],
            )
            for row in rows
        ]
    return Page[AwaitingTranscription](items=items, total=total, limit=limit, offset=offset)


@router.post(
    "/{complaint_id}",
    status_code=201,
    response_model=Transcribed,
    summary="Type the text of a fax or letter (emits complaint.amended, kind transcription)",
    responses={
        **NOT_FOUND_RESPONSE,
        409: {"model": ErrorBody, "description": "Not waiting for a transcription"},
    },
)
async def transcribe(
    request: Request, complaint_id: UUID, body: Transcription, principal: Transcriber
) -> Transcribed:
    amendment = await amend_complaint(
        request.app.state.db,
        request.app.state.settings,
        complaint_id=complaint_id,
        kind=AmendmentKind.transcription,
        text=body.text,
        by=principal.subject,
        from_customer=False,
    )
    return Transcribed(
        complaint_id=complaint_id,
        reference=amendment.reference,
        amendment_id=amendment.id,
        status=amendment.status,
        transcribed_at=amendment.amended_at,
    )
