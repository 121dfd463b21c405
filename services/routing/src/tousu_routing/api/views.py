"""Response shapes shared by the routers, built from the aggregate's fields."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field

from tousu_common.events.catalog import (
    Channel,
    ComplaintCategory,
    CustomerSegment,
    CustomerTier,
    SlaClock,
    Urgency,
)
from tousu_routing.domain.clocks import Clock
from tousu_routing.domain.model import Complaint


class ClockView(BaseModel):
    clock: SlaClock
    state: str
    basis: str
    budget_seconds: float
    started_at: datetime
    due_at: datetime | None
    warn_at: datetime | None
    warning_sent_at: datetime | None
    breached_at: datetime | None
    stopped_at: datetime | None
    pauses: int
    outcome: str = Field(
        description="running | overdue | met (by its due instant, even if the stop arrived "
        "after a breach was raised) | met_late | cancelled"
    )
    calendar_version: int = Field(
        description="Company calendar version the due instant was computed with (0: none)"
    )
    previous_runs: list[dict[str, str | None]] = Field(
        description="Runs finished before a reopening restarted the clock, oldest first"
    )

    @classmethod
    def of(cls, clock: Clock) -> ClockView:
        return cls(
            clock=clock.kind,
            state=clock.state.value,
            basis=clock.basis.value,
            budget_seconds=clock.budget_seconds,
            started_at=clock.started_at,
            due_at=clock.due_at,
            warn_at=clock.warn_at,
            warning_sent_at=clock.warning_sent_at,
            breached_at=clock.breached_at,
            stopped_at=clock.stopped_at,
            pauses=len(clock.pauses),
            outcome=clock.outcome.value,
            calendar_version=clock.calendar_version,
            previous_runs=list(clock.previous_runs),
        )


class TriageView(BaseModel):
    complaint_id: UUID
    reference: str
    status: str
    open: bool
    channel: Channel
    received_at: datetime
    customer_tier: CustomerTier
    customer_segment: CustomerSegment | None
    key_account: bool
    category: ComplaintCategory | None
    urgency: Urgency
    owner_department: str
    quality_report_needed: bool
    decided_by: str | None
    rule_id: str | None
    ruleset_version: str | None
    triaged_at: datetime | None
    duplicate_of: UUID | None
    first_response_due: datetime | None
    resolution_plan_due: datetime | None
    clocks: list[ClockView]

    @classmethod
    def of(cls, complaint: Complaint) -> TriageView:
        triage = complaint.triage
        clocks = complaint.clocks
        return cls(
            complaint_id=complaint.complaint_id,
            reference=complaint.reference,
            status=complaint.status.value,
            open=complaint.open,
            channel=complaint.channel,
            received_at=complaint.received_at,
            customer_tier=complaint.customer_tier,
            customer_segment=complaint.customer_segment,
            key_account=complaint.key_account,
            category=triage.category if triage else None,
            urgency=triage.urgency if triage else complaint.provisional_urgency,
            owner_department=complaint.owner_department,
            quality_report_needed=triage.quality_report_needed if triage else False,
            decided_by=triage.decided_by if triage else None,
            rule_id=triage.rule_id if triage else None,
            ruleset_version=triage.ruleset_version if triage else None,
            triaged_at=triage.triaged_at if triage else None,
            duplicate_of=complaint.duplicate_of,
            first_response_due=_due(complaint, SlaClock.first_response),
            resolution_plan_due=_due(complaint, SlaClock.resolution_plan),
            clocks=[ClockView.of(clocks[kind]) for kind in SlaClock if kind in clocks],
        )


def _due(complaint: Complaint, kind: SlaClock) -> datetime | None:
    clock = complaint.clocks.get(kind)
    return clock.due_at if clock is not None and clock.active else None
