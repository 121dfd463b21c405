"""complaint.received with ``feedback_requested`` → remembered, so that verified
rectifications of that complaint are fed back to the customer."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from tousu_common.events import ComplaintReceived, Event
from tousu_rectification.adapters.rectification_repository import RectificationRepository


async def remember_feedback_request(session: AsyncSession, event: Event) -> None:
    received = event.data
    if not isinstance(received, ComplaintReceived):
        raise TypeError(f"expected complaint.received, got {event.type}")
    if received.feedback_requested:
        await RectificationRepository(session).request_feedback(
            received.complaint_id, received.received_at
        )
