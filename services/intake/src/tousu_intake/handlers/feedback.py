"""The customer and the rectification feedback, on intake's side: asking for it after
filing (tracking page, reply mail) and answering it (tracking page).

Each is a row here — so the page knows at once, and a second ask or answer sends
nothing — and an event for rectification in the same transaction:
``complaint.feedback_requested`` and ``rectification.feedback_answer_received``.
A wish given at filing (web form box, hotline field, a mail that asks) travels on
``complaint.received``; its row is written with the complaint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

from tousu_common.events.catalog import (
    Channel,
    ComplaintFeedbackRequested,
    FeedbackAnswer,
    FeedbackAnswerReceived,
)
from tousu_intake.adapters.feedback_orm import FeedbackAnswerRow, FeedbackRequestRow
from tousu_intake.adapters.feedback_repository import FeedbackRepository
from tousu_intake.adapters.orm import ComplaintRow
from tousu_intake.adapters.unit_of_work import Session


class FeedbackNotOpen(Exception):
    """No feedback on that rectification awaits the customer's answer (any more)."""


@dataclass(frozen=True)
class FeedbackState:
    """What the tracking page needs: whether the customer asked, and their answers."""

    requested: bool = False
    requested_via: str | None = None
    answers: dict[str, str] = field(default_factory=dict)  # rectification id → answer


async def feedback_state(session: Session, complaint_id: UUID) -> FeedbackState:
    feedback = FeedbackRepository(session)
    request = await feedback.request(complaint_id)
    rows = await feedback.answers(complaint_id)
    return FeedbackState(
        requested=request is not None,
        requested_via=request.via if request else None,
        answers={str(row.rectification_id): row.answer for row in rows},
    )


async def remember_filing_wish(
    session: Session, complaint_id: UUID, *, at: datetime, via: Channel
) -> None:
    """The complaint itself asked (its complaint.received says so): no event here."""
    feedback = FeedbackRepository(session)
    feedback.add(
        FeedbackRequestRow(
            complaint_id=complaint_id, requested_at=at, via=via.value, at_filing=True
        )
    )
    await feedback.flush()


async def request_feedback(session: Session, complaint: ComplaintRow, *, via: Channel) -> bool:
    """The customer asks after filing; False (nothing sent) if they already asked."""
    feedback = FeedbackRepository(session)
    if await feedback.request(complaint.id) is not None:
        return False
    now = datetime.now(UTC)
    feedback.add(
        FeedbackRequestRow(
            complaint_id=complaint.id, requested_at=now, via=via.value, at_filing=False
        )
    )
    event = ComplaintFeedbackRequested(
        complaint_id=complaint.id, reference=complaint.reference, via=via, requested_at=now
    )
    await feedback.publish(event)
    return True


async def answer_feedback(
    session: Session,
    complaint: ComplaintRow,
    *,
    rectification_id: UUID,
    answer: FeedbackAnswer,
    via: Channel,
    sent: set[str],
) -> None:
    """The customer confirms or disputes the feedback on one rectification — one that
    was sent to them (``sent``: the rectification ids their timeline shows) and not
    answered yet; otherwise :class:`FeedbackNotOpen`."""
    if str(rectification_id) not in sent:
        raise FeedbackNotOpen(str(rectification_id))
    feedback = FeedbackRepository(session)
    if await feedback.answer(complaint.id, rectification_id) is not None:
        raise FeedbackNotOpen(str(rectification_id))
    now = datetime.now(UTC)
    feedback.add(
        FeedbackAnswerRow(
            complaint_id=complaint.id,
            rectification_id=rectification_id,
            answer=answer.value,
            answered_at=now,
            via=via.value,
        )
    )
    event = FeedbackAnswerReceived(
        complaint_id=complaint.id,
        reference=complaint.reference,
        rectification_id=rectification_id,
        answer=answer,
        via=via,
        answered_at=now,
    )
    await feedback.publish(event)
