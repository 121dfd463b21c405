"""``/v1/notifications``: what was sent (or tried, or skipped) about a complaint."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from tousu_common.auth import Principal, Staff, require_roles
from tousu_common.errors import NOT_FOUND_RESPONSE
from tousu_notify.adapters.orm import DeliveryRow
from tousu_notify.adapters.unit_of_work import reading
from tousu_notify.handlers.notifications import retry_delivery

router = APIRouter(prefix="/v1/notifications", tags=["notifications"])


class NotificationView(BaseModel):
    """One delivery: a message to one recipient on one channel. Addresses are masked."""

    id: UUID
    complaint_id: UUID
    event_id: str
    event_type: str
    reference: str | None
    kind: str
    template: str
    channel: str
    recipient_kind: str
    recipient: str
    masked_recipient: str | None
    subscription_id: UUID | None
    language: str
    status: str
    attempts: int
    last_error: str | None
    response_status: int | None
    next_attempt_at: datetime | None
    created_at: datetime
    sent_at: datetime | None

    @classmethod
    def of(cls, row: DeliveryRow) -> NotificationView:
        return cls(
            id=row.id,
            complaint_id=row.complaint_id,
            event_id=row.source_event_id,
            event_type=row.event_type,
            reference=row.reference,
            kind=row.template,
            template=row.template,
            channel=row.channel,
            recipient_kind=row.recipient_kind,
            recipient=row.recipient_key,
            masked_recipient=row.masked_recipient,
            subscription_id=row.subscription_id,
            language=row.language,
            status=row.status,
            attempts=row.attempts,
            last_error=row.last_error,
            response_status=row.response_status,
            next_attempt_at=row.next_attempt_at if row.status == "pending" else None,
            created_at=row.created_at,
            sent_at=row.sent_at,
        )


@router.get(
    "",
    response_model=list[NotificationView],
    summary="A complaint's notifications, oldest first",
)
async def list_notifications(
    request: Request,
    principal: Staff,
    complaint_id: Annotated[UUID, Query(description="The complaint whose notifications to list.")],
) -> list[NotificationView]:
    async with reading(request.app.state.db) as uow:
        rows = await uow.deliveries.for_complaint(complaint_id)
    return [NotificationView.of(row) for row in rows]


@router.post(
    "/{notification_id}/retry",
    response_model=NotificationView,
    summary="Try a failed or skipped delivery again (e.g. after an outage or a new address)",
    responses={**NOT_FOUND_RESPONSE, 409: {"description": "Not failed or skipped"}},
)
async def retry_notification(
    request: Request,
    notification_id: UUID,
    principal: Annotated[Principal, require_roles("csc", "manager")],
) -> NotificationView:
    row = await retry_delivery(request.app.state.db, notification_id, by=principal.subject)
    return NotificationView.of(row)
