"""The customer and the rectification feedback (SPEC §2.4: "if the customer asked for
it, the internal rectification plan and its result are fed back to the customer for
confirmation").

- ``complaint.feedback_requested`` (intake: tracking page, reply e-mail): the wish is
  kept on the complaint's facts; rectifications already verified are fed back now
  (``rectification.feedback_requested``), later ones when they are verified. Asking
  again changes nothing.
- ``rectification.feedback_answer_received`` (intake: tracking page): the customer
  confirms or disputes the feedback on one rectification; recorded on the
  rectification and on the case, announced as ``rectification.feedback_answered``.

Both also write a line in the case history and save the case, so a verification
racing the request cannot slip between them (the case's version decides; the loser
is retried).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from tousu_common.events import Event
from tousu_common.events.catalog import ComplaintFeedbackRequested, FeedbackAnswerReceived
from tousu_rectification.adapters.unit_of_work import CaseUnitOfWork, Session
from tousu_rectification.domain.model import DEFAULT_TIMEZONE
from tousu_rectification.domain.permissions import customer

log = logging.getLogger(__name__)


async def record_feedback_request(
    session: Session, event: Event, *, timezone: str = DEFAULT_TIMEZONE
) -> None:
    asked = event.data
    if not isinstance(asked, ComplaintFeedbackRequested):
        raise TypeError(f"expected ComplaintFeedbackRequested, got {type(asked).__name__}")
    uow = CaseUnitOfWork(session, timezone=timezone)
    facts = await uow.cases.facts(asked.complaint_id)
    if facts is not None and facts.feedback_requested:
        log.info("feedback already requested; nothing to do")
        return
    await uow.cases.record_facts(
        asked.complaint_id,
        asked.reference,
        feedback_requested=True,
        feedback_requested_at=asked.requested_at,
        feedback_requested_via=asked.via.value,
    )
    case = await uow.cases.get_by_complaint(asked.complaint_id)
    if case is None:
        log.info("feedback request kept; no case yet")
        return
    rects = uow.rectifications
    now = datetime.now(UTC)
    sent = []
    for rect in await rects.for_complaint(asked.complaint_id):
        if rect.send_feedback(actor=customer(), at=now):
            await rects.save(rect)
            sent.append(rect.number)
    detail = f"via {asked.via}" + (f"; fed back now: {', '.join(sent)}" if sent else "")
    case.note("customer.feedback_requested", by=customer(), at=asked.requested_at, detail=detail)
    await uow.cases.save(case)
    log.info("feedback request recorded", extra={"fed_back": len(sent)})


async def record_feedback_answer(
    session: Session, event: Event, *, timezone: str = DEFAULT_TIMEZONE
) -> None:
    answer = event.data
    if not isinstance(answer, FeedbackAnswerReceived):
        raise TypeError(f"expected FeedbackAnswerReceived, got {type(answer).__name__}")
    uow = CaseUnitOfWork(session, timezone=timezone)
    rects = uow.rectifications
    rect = await rects.get(answer.rectification_id)
    if (
        rect is None
        or rect.case.complaint_id != answer.complaint_id
        or not rect.feedback_awaits_answer
    ):
        log.warning(
            "feedback answer ignored: no feedback on that rectification awaits it",
            extra={"answer": answer.answer.value, "known": rect is not None},
        )
        return
    rect.record_feedback_answer(
        answer.answer, via=answer.via, actor=customer(), at=answer.answered_at
    )
    await rects.save(rect)
    case = await uow.cases.require(answer.complaint_id)
    case.note(
        f"customer.feedback_{answer.answer.value}",
        by=customer(),
        at=answer.answered_at,
        detail=f"{rect.number} via {answer.via}",
    )
    await uow.cases.save(case)
