"""complaint.triaged → a case awaiting resolution → case.opened, in one transaction.
A retriage (``retriage=true``) moves the existing case to the new owner. Customer
decisions that arrived before the case are handed to it in the same transaction."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from tousu_common.events import ComplaintTriaged, Event
from tousu_rectification.adapters.unit_of_work import CaseUnitOfWork, Session
from tousu_rectification.domain.model import DEFAULT_TIMEZONE, Case
from tousu_rectification.domain.permissions import SYSTEM, relayed
from tousu_rectification.domain.status import ENDED

log = logging.getLogger(__name__)


async def open_case_for_triaged_complaint(
    session: Session, event: Event, *, timezone: str = DEFAULT_TIMEZONE
) -> None:
    """Open one case per complaint; a complaint triaged again keeps the case it has."""
    triaged = event.data
    if not isinstance(triaged, ComplaintTriaged):
        raise TypeError(f"expected complaint.triaged, got {event.type}")
    uow = CaseUnitOfWork(session, timezone=timezone)
    # One question for the three things opening needs to know; the case itself is
    # loaded only for a retriage.
    known = await uow.cases.opening(triaged.complaint_id)
    if known.case_exists:
        existing = await uow.cases.require(triaged.complaint_id) if triaged.retriage else None
        if existing is None or existing.status in ENDED:
            log.info("case already open for complaint, nothing to do")
            return
        if existing.change_owner(
            triaged.owner_department,
            by=relayed(triaged.decided_by) if triaged.decided_by != "rules" else SYSTEM,
            at=triaged.triaged_at,
            reason="retriage",
            category=triaged.category,
            urgency=triaged.urgency,
        ):
            await uow.cases.save(existing)
            log.info("case retriaged", extra={"owner_department": triaged.owner_department})
        return
    if known.withdrawn:
        log.info("complaint was withdrawn before it was triaged; no case opened")
        return
    now = datetime.now(UTC)
    case = Case.open(triaged, at=now, timezone=timezone)
    if known.decisions_kept:
        for decision in await uow.cases.take_pending_decisions(triaged.complaint_id):
            applied = case.hand_over_early_decision(decision, at=now)
            log.info(
                "customer decision from before the case handed over", extra={"applied": applied}
            )
    await uow.cases.add(case)
    log.info(
        "case opened",
        extra={"case_id": str(case.case_id), "owner_department": case.owner_department},
    )
