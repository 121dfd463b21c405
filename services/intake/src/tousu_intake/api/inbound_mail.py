"""``/v1/inbound-mail``: what the mail listener received and what became of it.

Staff review ignored mail here (auto-replies, bounces, loops — with the
reason) and download any message as it arrived (``message/rfc822``).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel

from tousu_common.auth import Principal, require_roles
from tousu_common.errors import NOT_FOUND_RESPONSE, NotFound
from tousu_common.paging import WHOLE_NUMBER, Page
from tousu_intake.adapters.channels_orm import InboundMailRow
from tousu_intake.adapters.inbound_mail_repository import InboundMailRepository

router = APIRouter(prefix="/v1/inbound-mail", tags=["inbound mail"])

MailReader = Annotated[Principal, require_roles("agent", "csc")]


class InboundMailView(BaseModel):
    id: UUID
    received_at: datetime
    mailbox: str
    envelope_from: str
    from_address: str | None
    subject: str
    message_id: str | None
    outcome: str
    reason: str | None
    complaint_id: UUID | None
    size_bytes: int
    raw_url: str


def _view(row: InboundMailRow) -> InboundMailView:
    return InboundMailView(
        id=row.id,
        received_at=row.received_at,
        mailbox=row.mailbox,
        envelope_from=row.envelope_from,
        from_address=row.from_address,
        subject=row.subject,
        message_id=row.message_id,
        outcome=row.outcome,
        reason=row.reason,
        complaint_id=row.complaint_id,
        size_bytes=row.size_bytes,
        raw_url=f"/v1/inbound-mail/{row.id}/raw",
    )


@router.get("", response_model=Page[InboundMailView], summary="Mail received, newest first")
async def list_inbound_mail(
    request: Request,
    principal: MailReader,
    complaint_id: UUID | None = None,
    outcome: Annotated[
        str | None, Query(pattern=r"^(filed|amended|ignored|refused|processing)$")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100), WHOLE_NUMBER] = 20,
    offset: Annotated[int, Query(ge=0, le=100_000), WHOLE_NUMBER] = 0,
) -> Page[InboundMailView]:
    async with request.app.state.db.sessions() as session:
        rows, total = await InboundMailRepository(session).page(
            complaint_id=complaint_id, outcome=outcome, limit=limit, offset=offset
        )
        items = [_view(row) for row in rows]
    return Page[InboundMailView](items=items, total=total, limit=limit, offset=offset)


@router.get(
    "/{mail_id}/raw",
    summary="The message exactly as it arrived",
    response_class=FileResponse,
    responses={**NOT_FOUND_RESPONSE, 200: {"content": {"message/rfc822": {}}}},
)
async def download_raw_mail(request: Request, mail_id: UUID, principal: MailReader) -> FileResponse:
    async with request.app.state.db.sessions() as session:
        row = await InboundMailRepository(session).get(mail_id)
    if row is None:
        raise NotFound(f"inbound mail {mail_id} does not exist")
    path = Path(row.raw_path)
    if not await asyncio.to_thread(path.is_file):
        raise NotFound(f"inbound mail {mail_id}: the raw message is missing from storage")
    return FileResponse(
        path,
        media_type="message/rfc822",
        filename=f"{mail_id}.eml",
        content_disposition_type="attachment",
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"},
    )
