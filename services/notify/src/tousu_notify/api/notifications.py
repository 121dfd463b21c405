"""``/v1/notifications``: what was (or would have been) sent about a complaint."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from tousu_common.auth import Staff
from tousu_notify.adapters.repository import NotificationRepository
from tousu_notify.domain.model import NotificationKind, NotificationStatus

router = APIRouter(prefix="/v1/notifications", tags=["notifications"])


class NotificationView(BaseModel):
    id: UUID
    complaint_id: UUID
    event_id: str
    reference: str
    kind: NotificationKind
    recipient: str
    template: str
    language: str
    status: NotificationStatus
    created_at: datetime


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
    async with request.app.state.db.sessions() as session:
        notifications = await NotificationRepository(session).for_complaint(complaint_id)
    return [
        NotificationView(
            id=n.id,
            complaint_id=n.complaint_id,
            event_id=n.event_id,
            reference=n.reference,
            kind=n.kind,
            recipient=n.recipient,
            template=n.template,
            language=n.language,
            status=n.status,
            created_at=n.created_at,
        )
        for n in notifications
    ]
