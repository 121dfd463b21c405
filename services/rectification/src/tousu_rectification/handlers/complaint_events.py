"""What intake and routing tell rectification about a complaint, besides triage.

- ``complaint.received``: keep received_at, channel, tier and the customer's
  wish for feedback (the closing event and 5B's feedback need them).
- ``complaint.withdrawn``: the case ends as withdrawn.
- ``complaint.amended`` from the customer: ends a wait on the customer.
- ``resolution.decision_received``: the customer's answer from the tracking
  page or a reply mail; applied if legal for the current plan, otherwise
  logged and ignored (an old plan version, an answer given twice). One that
  arrives before its case is kept (``pending_decisions``) and handed to the
  case in the transaction that opens it.
- ``complaint.reassigned``: the case follows to the new owner department.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from tousu_common.events import ComplaintReceived, Event
from tousu_common.events.catalog import (
    ComplaintAmended,
    ComplaintReassigned,
    ComplaintWithdrawn,
    ResolutionDecisionReceived,
)
from tousu_rectification.adapters.unit_of_work import CaseUnitOfWork, Session
from tousu_rectification.domain.model import DEFAULT_TIMEZONE
from tousu_rectification.domain.permissions import customer, relayed
from tousu_rectification.domain.status import ENDED

log = logging.getLogger(__name__)


async def keep_complaint_facts(
    session: Session, event: Event, *, timezone: str = DEFAULT_TIMEZONE
) -> None:
    received = event.data
    if not isinstance(received, ComplaintReceived):
        raise TypeError(f"expected ComplaintReceived, got {type(received).__name__}")
    # The wish only ever goes from no to yes (a later complaint.feedback_requested may
    # have been applied first).
    wish = (
        {
            "feedback_requested": True,
            "feedback_requested_at": received.received_at,
            "feedback_requested_via": received.channel.value,
        }
        if received.feedback_requested
        else {}
    )
    await CaseUnitOfWork(session, timezone=timezone).cases.record_facts(
        received.complaint_id,
        received.reference,
        received_at=received.received_at,
        channel=received.channel.value,
        customer_tier=received.customer_tier.value,
        **wish,
    )


async def withdraw_case(
    session: Session, event: Event, *, timezone: str = DEFAULT_TIMEZONE
) -> None:
    withdrawn = event.data
    if not isinstance(withdrawn, ComplaintWithdrawn):
        raise TypeError(f"expected ComplaintWithdrawn, got {type(withdrawn).__name__}")
    uow = CaseUnitOfWork(session, timezone=timezone)
    await uow.cases.record_facts(
        withdrawn.complaint_id, withdrawn.reference, withdrawn_at=withdrawn.withdrawn_at
    )
    case = await uow.cases.get_by_complaint(withdrawn.complaint_id)
    if case is None or case.status in ENDED:
        log.info("withdrawal needs no case change", extra={"has_case": case is not None})
        return
    case.withdraw(reason=withdrawn.reason, by=relayed(withdrawn.by), at=withdrawn.withdrawn_at)
    await uow.cases.save(case)


async def end_wait_on_customer_reply(
    session: Session, event: Event, *, timezone: str = DEFAULT_TIMEZONE
) -> None:
    amended = event.data
    if not isinstance(amended, ComplaintAmended):
        raise TypeError(f"expected ComplaintAmended, got {type(amended).__name__}")
    if not amended.from_customer:
        return
    uow = CaseUnitOfWork(session, timezone=timezone)
    case = await uow.cases.get_by_complaint(amended.complaint_id)
    if case is None or not case.waiting_on_customer or case.status in ENDED:
        return
    case.end_customer_wait(by=customer(), at=amended.amended_at)
    await uow.cases.save(case)


async def apply_customer_decision(
    session: Session, event: Event, *, timezone: str = DEFAULT_TIMEZONE
) -> None:
    decision = event.data
    if not isinstance(decision, ResolutionDecisionReceived):
        raise TypeError(f"expected ResolutionDecisionReceived, got {type(decision).__name__}")
    uow = CaseUnitOfWork(session, timezone=timezone)
    case = await uow.cases.get_by_complaint(decision.complaint_id)
    if case is None:
        # Kept in this (the inbox's) transaction; the case takes it when it opens.
        await uow.cases.keep_pending_decision(event.id, decision, at=datetime.now(UTC))
        log.info(
            "customer decision kept until the case opens",
            extra={"decision": decision.decision.value, "plan_version": decision.plan_version},
        )
        return
    if not case.decision_applies(decision.plan_version):
        log.warning(
            "customer decision ignored: not legal for the case now",
            extra={
                "decision": decision.decision.value,
                "plan_version": decision.plan_version,
                "case_plan_version": case.plan_version,
                "case_status": case.status.value,
            },
        )
        return
    case.take_customer_decision(decision)
    await uow.cases.save(case)


async def follow_reassignment(
    session: Session, event: Event, *, timezone: str = DEFAULT_TIMEZONE
) -> None:
    reassigned = event.data
    if not isinstance(reassigned, ComplaintReassigned):
        raise TypeError(f"expected ComplaintReassigned, got {type(reassigned).__name__}")
    uow = CaseUnitOfWork(session, timezone=timezone)
    case = await uow.cases.get_by_complaint(reassigned.complaint_id)
    if case is None or case.status in ENDED:
        log.info("reassignment needs no case change", extra={"has_case": case is not None})
        return
    if case.change_owner(
        reassigned.to_department,
        by=relayed(reassigned.by),
        at=reassigned.reassigned_at,
        reason=reassigned.reason,
    ):
        await uow.cases.save(case)
