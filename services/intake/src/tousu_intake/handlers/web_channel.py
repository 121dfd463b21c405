"""What the public web pages ask intake to do: file, add information, answer a plan,
withdraw."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from tousu_common.db import Database
from tousu_common.events.catalog import AmendmentKind, Channel, CustomerDecision, FeedbackAnswer
from tousu_intake.adapters.orm import ComplaintRow
from tousu_intake.adapters.tracking_repository import ComplaintLookup, TrackingRepository
from tousu_intake.adapters.unit_of_work import ConcurrentWrite
from tousu_intake.config import Settings
from tousu_intake.domain.commands import ReceiveFromChannel
from tousu_intake.domain.files import IncomingFile
from tousu_intake.domain.timeline import Entry, TrackingState
from tousu_intake.handlers.channel_filing import (
    Filed,
    amend_from_customer,
    file_complaint,
    record_decision,
)
from tousu_intake.handlers.feedback import (
    FeedbackNotOpen,
    FeedbackState,
    answer_feedback,
    feedback_state,
    request_feedback,
)
from tousu_intake.handlers.withdraw import Withdrawal, withdraw_complaint


async def file_from_web(db: Database, settings: Settings, command: ReceiveFromChannel) -> Filed:
    return await file_complaint(db, settings, command, received_by="web")


@dataclass(frozen=True)
class TrackingView:
    complaint: ComplaintRow
    state: TrackingState
    entries: list[Entry]
    feedback: FeedbackState = field(default_factory=FeedbackState)

    @property
    def feedback_sent(self) -> set[str]:
        """Rectifications whose feedback reached the customer's timeline."""
        return {
            str(entry.details["rectification_id"])
            for entry in self.entries
            if entry.kind == "rectification_feedback" and entry.details.get("rectification_id")
        }


async def load_tracking(db: Database, reference: str) -> TrackingView | None:
    async with db.sessions() as session:
        complaint = await ComplaintLookup(session).by_reference(reference)
        if complaint is None:
            return None
        tracking = TrackingRepository(session)
        state = await tracking.state(complaint.id)
        entries = await tracking.entries(complaint.id)
        feedback = await feedback_state(session, complaint.id)
    received = Entry("received", complaint.received_at)
    return TrackingView(complaint, state, [received, *entries], feedback)


async def add_information(
    db: Database,
    settings: Settings,
    complaint: ComplaintRow,
    text: str,
    files: list[IncomingFile],
) -> None:
    await amend_from_customer(
        db, settings, complaint_id=complaint.id, kind=AmendmentKind.web, text=text, files=files
    )


class DecisionNotOpen(Exception):
    """No plan is waiting for an answer (any more), or this one was already answered."""


async def decide(
    db: Database,
    complaint: ComplaintRow,
    *,
    plan_version: int,
    decision: CustomerDecision,
    comment: str | None,
) -> None:
    async with db.transaction() as session:
        tracking = TrackingRepository(session)
        state = await tracking.state(complaint.id)
        pending: dict[str, Any] | None = state.pending_plan
        if pending is None or pending["version"] != plan_version or state.decision_sent:
            raise DecisionNotOpen(complaint.reference)
        await record_decision(
            session,
            complaint_id=complaint.id,
            reference=complaint.reference,
            plan_version=plan_version,
            decision=decision,
            comment=comment,
            via=Channel.web,
        )
        await tracking.mark_decision_sent(complaint.id, decision.value)


async def ask_for_feedback(db: Database, complaint: ComplaintRow) -> bool:
    """The customer asks on the tracking page; False if they had already asked."""
    try:
        async with db.transaction() as session:
            return await request_feedback(session, complaint, via=Channel.web)
    except ConcurrentWrite:  # the same click twice at once: the other one sent it
        return False


async def answer_feedback_on_web(
    db: Database, view: TrackingView, *, rectification_id: UUID, answer: FeedbackAnswer
) -> None:
    """The customer confirms or disputes one feedback (FeedbackNotOpen if not open)."""
    try:
        async with db.transaction() as session:
            await answer_feedback(
                session,
                view.complaint,
                rectification_id=rectification_id,
                answer=answer,
                via=Channel.web,
                sent=view.feedback_sent,
            )
    except ConcurrentWrite as exc:
        raise FeedbackNotOpen(str(rectification_id)) from exc


async def withdraw_from_web(db: Database, complaint: ComplaintRow, reason: str) -> Withdrawal:
    """The customer withdraws on the tracking page (Conflict if no longer open)."""
    return await withdraw_complaint(db, complaint_id=complaint.id, reason=reason, by="customer")
