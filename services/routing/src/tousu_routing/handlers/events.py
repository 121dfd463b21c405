"""What routing does with each event it consumes: load, call the domain, save.

``complaint.received`` / ``complaint.amended`` (transcription) → duplicate check
and triage by the rules; ``complaint.withdrawn`` / ``complaint.closed`` /
``complaint.reopened`` → open or not; the case events → the SLA clocks.
Every handler is idempotent on its own (a re-published event with a new id
changes nothing) on top of the inbox's per-event-id guarantee.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from tousu_common.events import Event
from tousu_common.events.catalog import (
    AmendmentKind,
    CaseEvent,
    ComplaintAmended,
    ComplaintReceived,
    ComplaintWithdrawn,
    SlaClock,
)
from tousu_routing.adapters.unit_of_work import RoutingUnitOfWork, Session
from tousu_routing.bootstrap import Routing
from tousu_routing.domain.model import DECIDED_BY_RULES, Complaint, Status, find_original
from tousu_routing.domain.sla import SlaPolicy

log = logging.getLogger(__name__)

Handler = Callable[[Session, Event], Awaitable[None]]


async def triage_or_link(uow: RoutingUnitOfWork, complaint: Complaint, routing: Routing) -> None:
    """A complaint whose text is known: link it to the open complaint it repeats, or
    triage it by the current rules (manual queue when none matches)."""
    complaints = uow.complaints
    now = routing.time.now()
    ruleset = await uow.rules.current(routing.seed)
    policy = await routing.policy_for(uow.calendars)
    decision = complaint.assess(ruleset, policy)
    # One duplicate check at a time per customer (a lock held to the commit), so two
    # replicas given near-simultaneous repeats see each other instead of both triaging.
    await complaints.lock_duplicate_key(complaint)
    candidates = await complaints.candidates_for_duplicate(complaint, routing.duplicate_window)
    original = find_original(complaint, candidates, threshold=routing.settings.duplicate_similarity)
    if original is not None:
        complaint.link_duplicate(original, by=DECIDED_BY_RULES, now=now)
        log.info(
            "complaint linked as a duplicate", extra={"duplicate_of": str(original.complaint_id)}
        )
        return
    complaint.apply_rules(decision, ruleset, policy, now)
    log.info(
        "complaint triaged"
        if complaint.status is Status.triaged
        else "complaint needs manual triage",
        extra={
            "rule_id": decision.rule_id,
            "ruleset_version": ruleset.version,
            "urgency": decision.urgency.value,
            "owner_department": decision.owner_department,
        },
    )


def build_handlers(routing: Routing) -> dict[str, Handler]:
    async def received(session: Session, event: Event) -> None:
        payload = event.data
        if not isinstance(payload, ComplaintReceived):
            raise TypeError(f"expected ComplaintReceived, got {type(payload).__name__}")
        uow = RoutingUnitOfWork(session)
        complaints = uow.complaints
        if await complaints.known(payload.complaint_id):
            log.info("complaint already known, nothing to do")
            return
        complaint = Complaint.received(payload, event_id=event.id)
        if complaint.status is Status.awaiting_transcription:
            # No text to judge yet; the clocks run from received_at regardless.
            ruleset = await uow.rules.current(routing.seed)
            complaint.assess(ruleset, await routing.policy_for(uow.calendars))
            log.info("complaint waits for a transcription")
        else:
            await triage_or_link(uow, complaint, routing)
        await complaints.save(complaint)

    async def amended(session: Session, event: Event) -> None:
        payload = event.data
        if not isinstance(payload, ComplaintAmended):
            raise TypeError(f"expected ComplaintAmended, got {type(payload).__name__}")
        if payload.kind is not AmendmentKind.transcription:
            return
        uow = RoutingUnitOfWork(session)
        complaints = uow.complaints
        complaint = await complaints.get(payload.complaint_id, for_update=True)
        if complaint is None:
            log.warning("transcription for a complaint routing never received, ignored")
            return
        if complaint.status is not Status.awaiting_transcription:
            # A person triaged it before the text came: keep the text (for the
            # duplicate check of later complaints), decide nothing again.
            if not complaint.description.strip():
                complaint.description = payload.text
                await complaints.save(complaint)
            log.info("transcription for a complaint not waiting for one: no triage")
            return
        complaint.description = payload.text
        complaint.attachment_count = max(complaint.attachment_count, payload.attachment_count)
        await triage_or_link(uow, complaint, routing)
        await complaints.save(complaint)

    def lifecycle(
        change: Callable[[Complaint, datetime, SlaPolicy], None], *, reads_calendar: bool
    ) -> Handler:
        """Load the complaint, apply ``change``, save it.

        Only a change that computes deadlines (a pause, a resume, a reopening) needs
        the policy of the latest company calendar; a stop or a close is given
        ``routing.policy`` (no company days), which it does not use, and reads no
        calendar version."""

        async def handle(session: Session, event: Event) -> None:
            uow = RoutingUnitOfWork(session)
            complaints = uow.complaints
            complaint = await complaints.get(event.complaint_id, for_update=True)
            if complaint is None:
                log.warning("event for a complaint routing never received, ignored")
                return
            policy = await routing.policy_for(uow.calendars) if reads_calendar else routing.policy
            change(complaint, _when(event), policy)
            await complaints.save(complaint)

        return handle

    return {
        "complaint.received": received,
        "complaint.amended": amended,
        "complaint.withdrawn": lifecycle(lambda c, at, p: c.close(at), reads_calendar=False),
        "complaint.closed": lifecycle(lambda c, at, p: c.close(at), reads_calendar=False),
        "complaint.reopened": lifecycle(lambda c, at, p: c.reopen(p, at), reads_calendar=True),
        "case.first_response_recorded": lifecycle(
            lambda c, at, p: c.stop_clock(SlaClock.first_response, at), reads_calendar=False
        ),
        "resolution.proposed": lifecycle(
            lambda c, at, p: c.stop_clock(SlaClock.resolution_plan, at), reads_calendar=False
        ),
        "case.customer_wait_started": lifecycle(
            lambda c, at, p: c.pause_clocks(p, at), reads_calendar=True
        ),
        "case.customer_wait_ended": lifecycle(
            lambda c, at, p: c.resume_clocks(p, at), reads_calendar=True
        ),
    }


def _when(event: Event) -> datetime:
    """When the thing happened, as its payload says (the envelope's time otherwise)."""
    data = event.data
    if isinstance(data, CaseEvent):
        return data.at
    if isinstance(data, ComplaintWithdrawn):
        return data.withdrawn_at
    return event.time
