"""Every event type, its payload model, its topic and its schema version.

This module *is* the contract other systems subscribe to: the JSON schemas in
``docs/events/`` and ``docs/asyncapi.yaml`` are generated from it
(``tousu contract --write``) and a test fails when they are stale. Change a
payload compatibly (add optional fields) or bump its ``version``.

Payloads carry no personal data (names, phone numbers, e-mail addresses):
subscribers that need a contact ask the owning service's API for it. Fields
people type into are declared with :func:`~tousu_common.privacy.free_text`;
the outbox masks phone numbers, e-mail addresses and ID numbers in them
before the event reaches a topic (``tousu_common.privacy``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from tousu_common.privacy import free_text

Reference = Annotated[str, Field(pattern=r"^TS-\d{4}-\d{6,}$", examples=["TS-2026-000123"])]


class EventPayload(BaseModel):
    """Base of every payload: immutable and strict about unknown fields' types."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    complaint_id: UUID = Field(description="The complaint this event is about; also the Kafka key.")


class Channel(StrEnum):
    hotline = "hotline"
    web = "web"
    email = "email"
    fax = "fax"
    letter = "letter"
    visit = "visit"
    key_account = "key_account"


class ComplaintCategory(StrEnum):
    product_quality = "product_quality"
    service_quality = "service_quality"
    delivery = "delivery"
    commercial = "commercial"
    other = "other"


class Urgency(StrEnum):
    urgent = "urgent"
    important = "important"
    general = "general"


class CustomerTier(StrEnum):
    strategic = "strategic"
    key = "key"
    general = "general"


class CustomerSegment(StrEnum):
    """Direct customer (OEM, 主机厂), intermediate (dealer, 经销商), end customer."""

    oem = "oem"
    dealer = "dealer"
    end_customer = "end_customer"


class SlaClock(StrEnum):
    first_response = "first_response"
    resolution_plan = "resolution_plan"


class AmendmentKind(StrEnum):
    note = "note"  # an agent's follow-up note
    call = "call"  # a second call from the customer
    email = "email"  # a reply mail threaded onto the complaint
    web = "web"  # the customer added information on the tracking page
    transcription = "transcription"  # a person typed the text of a fax/letter OCR could not read


class ResolutionActionKind(StrEnum):
    repair = "repair"
    replace = "replace"
    redeliver = "redeliver"
    explanation = "explanation"
    compensation = "compensation"
    refund = "refund"


class RectificationKind(StrEnum):
    service_instruction = "service_instruction"  # CSC → functional department
    internal_notice = "internal_notice"  # Quality → production, design, …
    supplier_notice = "supplier_notice"  # Quality → supplier, dispatched by Supply


class RootCauseCategory(StrEnum):
    """Coarse root-cause classes (5M1E style) for the digests' Pareto chart."""

    design = "design"
    material = "material"  # purchased part / supplier material
    process = "process"  # manufacturing process
    workmanship = "workmanship"  # people, assembly error
    equipment = "equipment"
    logistics = "logistics"
    service = "service"  # service delivery, communication
    documentation = "documentation"
    other = "other"


# --- tousu.complaints (producer: intake) -------------------------------------


class ComplaintReceived(EventPayload):
    """A complaint was accepted on some channel and given its reference."""

    reference: Reference
    channel: Channel
    received_at: datetime
    title: str = free_text(
        max_length=200, description="Short subject line as the customer gave it."
    )
    description: str = free_text(max_length=20_000, description="The complaint text, for triage.")
    product_model: str | None = Field(default=None, max_length=100)
    serial_number: str | None = Field(default=None, max_length=100)
    customer_id: UUID | None = Field(
        default=None, description="Opaque id of the customer record in intake, if known."
    )
    language: str = Field(default="zh", max_length=10)
    customer_tier: CustomerTier = CustomerTier.general
    customer_segment: CustomerSegment | None = None
    key_account: bool = Field(
        default=False,
        description="Strategic/key customer, or filed on the dedicated key-account channel: "
        "triage gives it the shortened SLA and a direct owner.",
    )
    provisional_customer: bool = Field(
        default=False, description="The sender was unknown; a provisional customer was created."
    )
    attachment_count: int = Field(default=0, ge=0)
    needs_transcription: bool = Field(
        default=False,
        description="OCR could not read the document well enough; the text follows in a "
        "complaint.amended of kind 'transcription'. Triage waits for it; SLA clocks do not.",
    )
    feedback_requested: bool = Field(
        default=False,
        description="The customer asked to be told the internal rectification plan and result.",
    )


class ComplaintAmended(EventPayload):
    """Follow-up information attached to an existing complaint (never a new complaint)."""

    reference: Reference
    kind: AmendmentKind
    text: str = free_text(max_length=20_000)
    amended_at: datetime
    by: str = Field(max_length=100, description="User id, or 'customer' for the customer.")
    attachment_count: int = Field(default=0, ge=0)
    from_customer: bool = Field(
        default=False, description="The customer supplied it (ends a wait on the customer)."
    )


class ComplaintWithdrawn(EventPayload):
    """The customer withdrew the complaint."""

    reference: Reference
    reason: str = free_text(max_length=2000)
    withdrawn_at: datetime
    by: str = Field(max_length=100)


class CustomerDecision(StrEnum):
    accept = "accept"
    reject = "reject"


class ResolutionDecisionReceived(EventPayload):
    """The customer answered a proposed resolution outside the case API (tracking page,
    reply e-mail). Rectification applies it and emits resolution.accepted/rejected."""

    reference: Reference
    plan_version: int = Field(ge=1)
    decision: CustomerDecision
    comment: str | None = free_text(default=None, max_length=5000)
    via: Channel
    decided_at: datetime


class FeedbackAnswer(StrEnum):
    """The customer's answer to the rectification feedback they were sent."""

    confirmed = "confirmed"
    disputed = "disputed"


class ComplaintFeedbackRequested(EventPayload):
    """After filing, the customer asked (tracking page, reply e-mail) to be told the internal
    rectification plan and its result: the wish ``feedback_requested`` on complaint.received
    carries when it is given at filing."""

    reference: Reference
    via: Channel
    requested_at: datetime


class FeedbackAnswerReceived(EventPayload):
    """The customer answered the feedback on one rectification (tracking page): confirmed or
    disputed. No free text: what they add travels as complaint.amended."""

    reference: Reference
    rectification_id: UUID
    answer: FeedbackAnswer
    via: Channel
    answered_at: datetime


# --- tousu.routing (producer: routing) ---------------------------------------


class ComplaintTriaged(EventPayload):
    """Routing classified the complaint and chose the department that owns it."""

    reference: Reference
    category: ComplaintCategory
    urgency: Urgency
    owner_department: str = Field(max_length=50)
    decided_by: str = Field(description="'rules' or the user id of a person's triage.")
    rule_id: str | None = Field(default=None, max_length=100)
    ruleset_version: str = Field(max_length=50)
    triaged_at: datetime
    channel: Channel | None = None
    customer_tier: CustomerTier = CustomerTier.general
    customer_segment: CustomerSegment | None = None
    key_account: bool = False
    quality_report_needed: bool = Field(
        default=False,
        description="A product-quality problem: the CSC should issue an "
        "External Quality Information Report.",
    )
    first_response_due: datetime | None = None
    resolution_plan_due: datetime | None = None
    retriage: bool = Field(default=False, description="A person changed an earlier triage.")


class ComplaintReassigned(EventPayload):
    """Moved to another department with a reason; SLA clocks carry on."""

    reference: Reference
    from_department: str = Field(max_length=50)
    to_department: str = Field(max_length=50)
    reason: str = free_text(max_length=2000)
    by: str = Field(max_length=100)
    reassigned_at: datetime


class DuplicateLinked(EventPayload):
    """The complaint repeats an open one; it is linked to it, not triaged as new work."""

    reference: Reference
    duplicate_of: UUID
    duplicate_of_reference: Reference
    by: str = Field(max_length=100, description="'rules' or the user id who linked it.")
    linked_at: datetime
    reason: str | None = free_text(
        default=None,
        max_length=500,
        description="Why a person linked it by hand (null when the rules linked it).",
    )


class DuplicateUnlinked(EventPayload):
    """A person decided it is not a duplicate after all; it is triaged as new work."""

    reference: Reference
    was_duplicate_of: UUID
    by: str = Field(max_length=100)
    unlinked_at: datetime


class SlaEvent(EventPayload):
    reference: Reference
    clock: SlaClock
    started_at: datetime
    due_at: datetime
    owner_department: str = Field(max_length=50)
    urgency: Urgency
    customer_tier: CustomerTier = CustomerTier.general
    raised_at: datetime


class SlaWarning(SlaEvent):
    """80% of a clock's business time is used up."""


class SlaBreached(SlaEvent):
    """A clock ran out before the matching event arrived."""


class ComplaintEscalated(EventPayload):
    """Escalated to the owner department's manager (after a breach, or by hand)."""

    reference: Reference
    department: str = Field(max_length=50)
    to_role: str = Field(default="manager", max_length=50)
    reason: str = free_text(max_length=2000)
    clock: SlaClock | None = None
    by: str = Field(max_length=100, description="'sla' or the user id who escalated.")
    escalated_at: datetime


# --- tousu.cases (producer: rectification) -----------------------------------


class CaseOpened(EventPayload):
    """Rectification opened the case that tracks the customer resolution."""

    reference: Reference
    case_id: UUID
    status: str
    owner_department: str = Field(max_length=50)
    category: ComplaintCategory
    urgency: Urgency
    opened_at: datetime


class CaseEvent(EventPayload):
    """Common fields of every case transition: which case, who did it, when."""

    reference: Reference
    case_id: UUID
    by: str = Field(max_length=100, description="User id, 'customer', or 'supplier:<id>'.")
    at: datetime


class FirstResponseRecorded(CaseEvent):
    """The customer heard from a person (stops routing's first-response clock)."""

    channel: Channel | None = None


class CustomerWaitStarted(CaseEvent):
    """Waiting on the customer (information requested): SLA clocks pause."""

    reason: str = free_text(max_length=2000)


class CustomerWaitEnded(CaseEvent):
    """The customer answered: SLA clocks resume."""


class ResolutionAction(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: ResolutionActionKind
    description: str = free_text(max_length=2000)
    due_date: date
    amount: Decimal | None = Field(default=None, ge=0, max_digits=14, decimal_places=2)
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")


class ResolutionProposed(CaseEvent):
    """A plan was proposed to the customer (stops routing's resolution-plan clock)."""

    plan_version: int = Field(ge=1)
    actions: list[ResolutionAction] = Field(min_length=1, max_length=50)
    investigation: str = free_text(default="", max_length=20_000)


class ResolutionAccepted(CaseEvent):
    """The customer accepted the proposed plan."""

    plan_version: int = Field(ge=1)
    via: Channel | None = None


class ResolutionRejected(CaseEvent):
    """The customer rejected the plan; a revised plan is required."""

    plan_version: int = Field(ge=1)
    reason: str = free_text(default="", max_length=5000)
    via: Channel | None = None


class ResolutionImplemented(CaseEvent):
    """Every action of the accepted plan is done; the satisfaction callback is next."""

    plan_version: int = Field(ge=1)


class CallbackDone(CaseEvent):
    """The satisfaction callback (回访): 1–5; 4 and 5 count as satisfied."""

    score: int = Field(ge=1, le=5)
    satisfied: bool
    comment: str = free_text(default="", max_length=5000)


class RectificationEvent(CaseEvent):
    rectification_id: UUID
    kind: RectificationKind
    department: str | None = Field(
        default=None, max_length=50, description="Recipient department (service, internal)."
    )
    supplier_id: UUID | None = None
    supplier_name: str | None = Field(default=None, max_length=200)


class RectificationInstructed(RectificationEvent):
    """CSC → functional department: investigate and rectify a service problem."""

    instruction: str = free_text(max_length=20_000)
    due_date: date


class QualityReportIssued(CaseEvent):
    """The CSC issued an External Quality Information Report (外质量信息报告)."""

    report_id: UUID
    report_number: str = Field(max_length=50)
    product_model: str | None = Field(default=None, max_length=100)
    serial_or_batch: str | None = Field(default=None, max_length=100)
    failure_description: str = free_text(max_length=20_000)
    quantity_affected: int = Field(ge=1)


class RectificationNoticeIssued(RectificationEvent):
    """Quality turned a report into a written notice, internal or to a supplier."""

    report_id: UUID
    notice_number: str = Field(max_length=50)
    requirement: str = free_text(max_length=20_000)
    due_date: date


class NoticeDispatched(RectificationEvent):
    """Supply sent a supplier notice to the supplier (by e-mail with a response link)."""

    due_date: date


class SupplierResponded(RectificationEvent):
    """The supplier's 8D answer arrived (via the link, or entered by Supply)."""

    root_cause_category: RootCauseCategory
    containment: str = free_text(max_length=20_000)
    root_cause: str = free_text(max_length=20_000)
    corrective_action: str = free_text(max_length=20_000)
    preventive_action: str = free_text(max_length=20_000)
    evidence_count: int = Field(default=0, ge=0)


class RectificationDone(RectificationEvent):
    """The recipient reports the rectification done (ready for verification)."""

    root_cause_category: RootCauseCategory
    root_cause: str = free_text(max_length=20_000)
    corrective_action: str = free_text(max_length=20_000)


class VerificationPassed(RectificationEvent):
    """The verifier (CSC for service, Quality for product) confirmed the effect."""

    comment: str = free_text(default="", max_length=5000)


class VerificationFailed(RectificationEvent):
    """Back to the recipient with the reason."""

    reason: str = free_text(max_length=5000)


class RectificationWaived(RectificationEvent):
    """A manager waived the rectification (needs a reason)."""

    reason: str = free_text(max_length=5000)


class RectificationFeedbackRequested(RectificationEvent):
    """The customer asked for it: send them the rectification plan and its verified result."""

    summary: str = free_text(max_length=20_000)


class RectificationFeedbackAnswered(RectificationEvent):
    """The customer's answer to the feedback on this rectification, recorded on the case."""

    answer: FeedbackAnswer
    via: Channel | None = None


class ComplaintClosed(CaseEvent):
    """Closed: resolution accepted, customer satisfied, every rectification verified or
    waived. Carries the timings and facts the digests need."""

    category: ComplaintCategory
    urgency: Urgency
    owner_department: str = Field(max_length=50)
    customer_tier: CustomerTier = CustomerTier.general
    received_at: datetime | None = None
    opened_at: datetime
    first_response_at: datetime | None = None
    resolution_proposed_at: datetime | None = None
    resolution_accepted_at: datetime | None = None
    satisfaction_score: int | None = Field(default=None, ge=1, le=5)
    rectifications: int = Field(default=0, ge=0)
    rectifications_waived: int = Field(default=0, ge=0)
    reopen_count: int = Field(default=0, ge=0)
    resolution_seconds: float | None = Field(
        default=None, ge=0, description="opened_at → closed (wall-clock seconds)."
    )
    withdrawn: bool = Field(
        default=False,
        description="The case ended because the customer withdrew the complaint "
        "(complaint.withdrawn), not because it was resolved: no satisfaction, "
        "and not a completed resolution.",
    )


class ComplaintReopened(CaseEvent):
    """A closed complaint was reopened by the CSC, with a reason."""

    reason: str = free_text(max_length=5000)


# --- tousu.notifications (producer: notify) ----------------------------------


class NotificationEvent(EventPayload):
    notification_id: UUID
    template: str = Field(max_length=100)
    delivery_channel: str = Field(max_length=20, description="email, sms or webhook.")
    recipient_kind: str = Field(
        max_length=30,
        description="customer, department, manager, supplier or subscriber "
        "(never the address itself).",
    )
    source_event_id: str = Field(max_length=200)
    attempts: int = Field(ge=1)
    at: datetime


class NotificationSent(NotificationEvent):
    """A notification was delivered (to the SMTP server, SMS gateway or webhook)."""


class NotificationFailed(NotificationEvent):
    """Given up after the configured number of attempts."""

    error: str = free_text(max_length=2000)


class DigestPublished(EventPayload):
    """A weekly or monthly digest (业务运作情况周报/月报) was published.

    Not about one complaint: keyed by the period (``complaint_id`` is a UUID5 of
    the period so the key stays stable when a digest is regenerated)."""

    complaint_id: UUID = Field(description="UUID5 of the period; the Kafka key.")
    period_kind: str = Field(pattern=r"^(week|month)$")
    period: str = Field(max_length=20, examples=["2026-W47", "2026-11"])
    period_start: date
    period_end: date
    generated_at: datetime
    received: int = Field(ge=0)
    closed: int = Field(ge=0)
    open_backlog: int = Field(ge=0)
    response_timeliness_rate: float | None = Field(default=None, ge=0, le=1)
    completion_rate: float | None = Field(default=None, ge=0, le=1)
    url: str = Field(max_length=500, description="Where the HTML report can be fetched.")


@dataclass(frozen=True)
class EventSpec:
    type: str
    version: int
    topic: str
    model: type[EventPayload]
    producer: str

    @property
    def dataschema(self) -> str:
        return f"urn:tousu:events:{self.type}:v{self.version}"


TOPICS: dict[str, str] = {
    "tousu.complaints": "Complaint lifecycle at intake: received, amended, withdrawn.",
    "tousu.routing": "Triage decisions, reassignment, duplicates, SLA warnings and breaches.",
    "tousu.cases": "Customer resolution, rectification, verification, closing.",
    "tousu.notifications": "Notifications sent or failed, digests published.",
}

C, R, K, N = "tousu.complaints", "tousu.routing", "tousu.cases", "tousu.notifications"

CATALOG: dict[str, EventSpec] = {
    spec.type: spec
    for spec in (
        EventSpec("complaint.received", 1, C, ComplaintReceived, "intake"),
        EventSpec("complaint.amended", 1, C, ComplaintAmended, "intake"),
        EventSpec("complaint.withdrawn", 1, C, ComplaintWithdrawn, "intake"),
        EventSpec("resolution.decision_received", 1, C, ResolutionDecisionReceived, "intake"),
        EventSpec("complaint.feedback_requested", 1, C, ComplaintFeedbackRequested, "intake"),
        EventSpec("rectification.feedback_answer_received", 1, C, FeedbackAnswerReceived, "intake"),
        EventSpec("complaint.triaged", 1, R, ComplaintTriaged, "routing"),
        EventSpec("complaint.reassigned", 1, R, ComplaintReassigned, "routing"),
        EventSpec("complaint.duplicate_linked", 1, R, DuplicateLinked, "routing"),
        EventSpec("complaint.duplicate_unlinked", 1, R, DuplicateUnlinked, "routing"),
        EventSpec("sla.warning", 1, R, SlaWarning, "routing"),
        EventSpec("sla.breached", 1, R, SlaBreached, "routing"),
        EventSpec("complaint.escalated", 1, R, ComplaintEscalated, "routing"),
        EventSpec("case.opened", 1, K, CaseOpened, "rectification"),
        EventSpec("case.first_response_recorded", 1, K, FirstResponseRecorded, "rectification"),
        EventSpec("case.customer_wait_started", 1, K, CustomerWaitStarted, "rectification"),
        EventSpec("case.customer_wait_ended", 1, K, CustomerWaitEnded, "rectification"),
        EventSpec("resolution.proposed", 1, K, ResolutionProposed, "rectification"),
        EventSpec("resolution.accepted", 1, K, ResolutionAccepted, "rectification"),
        EventSpec("resolution.rejected", 1, K, ResolutionRejected, "rectification"),
        EventSpec("resolution.implemented", 1, K, ResolutionImplemented, "rectification"),
        EventSpec("callback.done", 1, K, CallbackDone, "rectification"),
        EventSpec("rectification.instructed", 1, K, RectificationInstructed, "rectification"),
        EventSpec("quality_report.issued", 1, K, QualityReportIssued, "rectification"),
        EventSpec("rectification.notice_issued", 1, K, RectificationNoticeIssued, "rectification"),
        EventSpec("rectification.notice_dispatched", 1, K, NoticeDispatched, "rectification"),
        EventSpec("rectification.supplier_responded", 1, K, SupplierResponded, "rectification"),
        EventSpec("rectification.done", 1, K, RectificationDone, "rectification"),
        EventSpec("rectification.verification_passed", 1, K, VerificationPassed, "rectification"),
        EventSpec("rectification.verification_failed", 1, K, VerificationFailed, "rectification"),
        EventSpec("rectification.waived", 1, K, RectificationWaived, "rectification"),
        EventSpec(
            "rectification.feedback_requested",
            1,
            K,
            RectificationFeedbackRequested,
            "rectification",
        ),
        EventSpec(
            "rectification.feedback_answered",
            1,
            K,
            RectificationFeedbackAnswered,
            "rectification",
        ),
        EventSpec("complaint.closed", 1, K, ComplaintClosed, "rectification"),
        EventSpec("complaint.reopened", 1, K, ComplaintReopened, "rectification"),
        EventSpec("notification.sent", 1, N, NotificationSent, "notify"),
        EventSpec("notification.failed", 1, N, NotificationFailed, "notify"),
        EventSpec("digest.published", 1, N, DigestPublished, "notify"),
    )
}


def spec_for(model: type[EventPayload]) -> EventSpec:
    for spec in CATALOG.values():
        if spec.model is model:
            return spec
    raise KeyError(f"{model.__name__} is not in the event catalog")
