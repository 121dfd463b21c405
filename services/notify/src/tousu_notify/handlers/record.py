"""complaint.received / complaint.triaged → the notification it calls for, recorded once."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from tousu_common.events import Event
from tousu_notify.adapters.repository import NotificationRepository
from tousu_notify.domain.model import Notification

log = logging.getLogger(__name__)


async def record_notification(session: AsyncSession, event: Event) -> None:
    """Record what the event calls for; never the same kind to the same recipient twice."""
    notification = Notification.for_event(event.id, event.data, at=datetime.now(UTC))
    notifications = NotificationRepository(session)
    if await notifications.exists(
        notification.complaint_id, notification.kind, notification.recipient
    ):
        log.info("notification already recorded, nothing to do")
        return
    await notifications.add(notification)
    # Ids only: the recipient may one day be an address, and that is personal data.
    log.info(
        "notification recorded",
        extra={"kind": notification.kind.value, "complaint_id": str(notification.complaint_id)},
    )
