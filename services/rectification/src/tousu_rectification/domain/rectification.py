"""Rectifications (整改): service instructions, internal and supplier notices, and the
External Quality Information Report (外质量信息报告) they come from.

One table, :data:`TRANSITIONS`, is the whole state machine: which action moves
which kind of rectification from which statuses to which, and *who* may do it.
Every method of :class:`Rectification` goes through :meth:`Rectification._apply`,
which checks the actor first (a wrong role or department is a 403), then the
status (an illegal move is a 409), then moves, records a history line and the
public event. Nothing else writes ``status``.

Who may act:

- ``recipient``: staff of the department the rectification was sent to (role
  ``department``, ``quality`` or ``supply`` *and* a matching ``department`` claim);
- ``csc`` / ``quality`` / ``supply`` / ``manager``: that role;
- ``supplier``: the supplier itself, through the tokenised response link only.

``admin`` may do everything staff may (as everywhere in Tousu), never what only
the supplier's link may do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from uuid import UUID, uuid4

from tousu_common.domain_errors import Conflict, Forbidden, InvalidInput
from tousu_common.events import EventPayload
from tousu_common.events.catalog import (
    Channel,
    FeedbackAnswer,
    QualityReportIssued,
    RectificationDone,
    RectificationFeedbackAnswered,
    RectificationFeedbackRequested,
    RectificationInstructed,
    RectificationKind,
    RectificationNoticeIssued,
    RectificationWaived,
    RootCauseCategory,
    SupplierResponded,
    VerificationFailed,
    VerificationPassed,
)
from tousu_common.events.catalog import NoticeDispatched as NoticeDispatchedEvent
from tousu_common.principal import Principal
from tousu_rectification.domain.permissions import (
    SYSTEM_ONLY,
    Grant,
    Rule,
    allowed,
    authorize,
    require_principal,
)

#: Departments a rectification can be sent to (CSC issues them, it does not receive them).
RECIPIENT_DEPARTMENTS = frozenset(
    {
        "quality",
        "supply",
        "sales",
        "logistics",
        "technical",
        "production",
        "design",
        "after_sales",
    }
)


#: Roles whose holders, with the recipient's department in their token, act for it.
RECIPIENT_ROLES = ("department", "quality", "supply")


class RectificationStatus(StrEnum):
    awaiting_dispatch = "awaiting_dispatch"  # supplier notice written, Supply to send it
    in_progress = "in_progress"  # with the recipient department
    awaiting_supplier = "awaiting_supplier"  # sent to the supplier, 8D answer due
    awaiting_verification = "awaiting_verification"  # done / answered, verifier to check
    verified = "verified"
    waived = "waived"


SETTLED = frozenset({RectificationStatus.verified, RectificationStatus.waived})
OPEN = frozenset(set(RectificationStatus) - SETTLED)


class Action(StrEnum):
    mark_done = "mark_done"
    dispatch = "dispatch"
    record_supplier_response = "record_supplier_response"
    pass_verification = "pass_verification"  # noqa: S105 (not a password)
    fail_verification = "fail_verification"
    waive = "waive"
    attach_evidence = "attach_evidence"


class Who(StrEnum):
    recipient = "recipient"
    csc = "csc"
    quality = "quality"
    supply = "supply"
    manager = "manager"
    supplier = "supplier"


K = RectificationKind
S = RectificationStatus
SERVICE = frozenset({K.service_instruction})
INTERNAL = frozenset({K.internal_notice})
SUPPLIER = frozenset({K.supplier_notice})
ALL_KINDS = frozenset(K)


@dataclass(frozen=True)
class Transition:
    action: Action
    kinds: frozenset[RectificationKind]
    sources: frozenset[RectificationStatus]
    target: RectificationStatus
    who: Who


#: Every legal move. An (action, kind) pair may have several rows, one per actor.
TRANSITIONS: tuple[Transition, ...] = (
    # The recipient department reports a service instruction / internal notice done.
    Transition(
        Action.mark_done,
        SERVICE | INTERNAL,
        frozenset({S.in_progress}),
        S.awaiting_verification,
        Who.recipient,
    ),
    # Supply sends a supplier notice to the supplier.
    Transition(
        Action.dispatch, SUPPLIER, frozenset({S.awaiting_dispatch}), S.awaiting_supplier, Who.supply
    ),
    # The supplier's 8D answer: through the link, or typed in by Supply.
    Transition(
        Action.record_supplier_response,
        SUPPLIER,
        frozenset({S.awaiting_supplier}),
        S.awaiting_verification,
        Who.supplier,
    ),
    Transition(
        Action.record_supplier_response,
        SUPPLIER,
        frozenset({S.awaiting_supplier}),
        S.awaiting_verification,
        Who.supply,
    ),
    # The CSC verifies service instructions; Quality verifies every product rectification.
    Transition(
        Action.pass_verification, SERVICE, frozenset({S.awaiting_verification}), S.verified, Who.csc
    ),
    Transition(
        Action.pass_verification,
        INTERNAL | SUPPLIER,
        frozenset({S.awaiting_verification}),
        S.verified,
        Who.quality,
    ),
    # A failed verification goes back to whoever has to do it again.
    Transition(
        Action.fail_verification,
        SERVICE,
        frozenset({S.awaiting_verification}),
        S.in_progress,
        Who.csc,
    ),
    Transition(
        Action.fail_verification,
        INTERNAL,
        frozenset({S.awaiting_verification}),
        S.in_progress,
        Who.quality,
    ),
    Transition(
        Action.fail_verification,
        SUPPLIER,
        frozenset({S.awaiting_verification}),
        S.awaiting_supplier,
        Who.quality,
    ),
    # A manager may waive any open rectification, with a reason.
    Transition(Action.waive, ALL_KINDS, OPEN, S.waived, Who.manager),
    # Supply adds evidence the supplier sent by other means (status unchanged).
    Transition(
        Action.attach_evidence,
        SUPPLIER,
        frozenset({S.awaiting_supplier}),
        S.awaiting_supplier,
        Who.supply,
    ),
    Transition(
        Action.attach_evidence,
        SUPPLIER,
        frozenset({S.awaiting_verification}),
        S.awaiting_verification,
        Who.supply,
    ),
)


def transitions_for(action: Action, kind: RectificationKind) -> list[Transition]:
    return [t for t in TRANSITIONS if t.action is action and kind in t.kinds]


def supplier_actor(supplier_id: UUID) -> Principal:
    """The supplier, acting through its tokenised response link (no token role)."""
    return Principal(
        subject=f"supplier:{supplier_id}", roles=frozenset({"supplier"}), department=None
    )


class IllegalRectificationTransition(Conflict):
    code = "illegal_transition"


class NotAllowed(Forbidden):
    code = "forbidden"


@dataclass(frozen=True)
class CaseRef:
    """The case a rectification belongs to (enough to stamp its events)."""

    case_id: UUID
    complaint_id: UUID
    reference: str


@dataclass(frozen=True)
class SupplierRef:
    supplier_id: UUID
    name: str


@dataclass(frozen=True)
class HistoryRecord:
    """One line of a rectification's history: what was done, by whom, when."""

    action: str
    from_status: RectificationStatus | None
    to_status: RectificationStatus
    at: datetime
    by: str
    note: str = ""


@dataclass(frozen=True)
class EightD:
    """A supplier's answer, 8D style (D3 containment, D4 root cause, D5/D6 corrective,
    D7 preventive)."""

    containment: str
    root_cause: str
    root_cause_category: RootCauseCategory
    corrective_action: str
    preventive_action: str


def _require(condition: bool, field_name: str, problem: str) -> None:
    if not condition:
        raise InvalidInput(
            f"{field_name}: {problem}", fields=[{"field": field_name, "problem": problem}]
        )


@dataclass
class QualityReport:
    """External Quality Information Report (外质量信息报告), issued by the CSC."""

    report_id: UUID
    case: CaseRef
    number: str
    product_model: str | None
    serial_or_batch: str | None
    failure_description: str
    quantity_affected: int
    issued_by: str
    issued_at: datetime
    notice_count: int = 0
    events: list[EventPayload] = field(default_factory=list)

    @classmethod
    def issue(
        cls,
        case: CaseRef,
        *,
        number: str,
        product_model: str | None,
        serial_or_batch: str | None,
        failure_description: str,
        quantity_affected: int,
        actor: Principal,
        at: datetime,
    ) -> QualityReport:
        authorize(actor, (Grant("csc"),), action="issue External Quality Information Reports")
        _require(quantity_affected >= 1, "quantity_affected", "must be at least 1")
        report = cls(
            report_id=uuid4(),
            case=case,
            number=number,
            product_model=product_model,
            serial_or_batch=serial_or_batch,
            failure_description=failure_description,
            quantity_affected=quantity_affected,
            issued_by=actor.subject,
            issued_at=at,
        )
        report.events.append(
            QualityReportIssued(
                complaint_id=case.complaint_id,
                reference=case.reference,
                case_id=case.case_id,
                by=actor.subject,
                at=at,
                report_id=report.report_id,
                report_number=number,
                product_model=product_model,
                serial_or_batch=serial_or_batch,
                failure_description=failure_description,
                quantity_affected=quantity_affected,
            )
        )
        return report


@dataclass
class Rectification:
    rectification_id: UUID
    case: CaseRef
    kind: RectificationKind
    number: str
    status: RectificationStatus
    requirement: str
    due_date: date
    created_by: str
    created_at: datetime
    department: str | None = None
    supplier: SupplierRef | None = None
    report_id: UUID | None = None
    root_cause_category: RootCauseCategory | None = None
    root_cause: str | None = None
    corrective_action: str | None = None
    containment: str | None = None
    preventive_action: str | None = None
    evidence_count: int = 0
    dispatched_at: datetime | None = None
    responded_at: datetime | None = None
    settled_at: datetime | None = None
    verification_comment: str | None = None
    last_failure_reason: str | None = None
    failed_verifications: int = 0
    waiver_reason: str | None = None
    # The plan and result fed back to the customer (整改反馈) and their answer to it.
    feedback_sent_at: datetime | None = None
    feedback_answer: FeedbackAnswer | None = None
    feedback_answered_at: datetime | None = None
    feedback_answer_via: Channel | None = None
    version: int = 1
    events: list[EventPayload] = field(default_factory=list)
    history: list[HistoryRecord] = field(default_factory=list)

    # -- creation ------------------------------------------------------------------

    @classmethod
    def instruct(
        cls,
        case: CaseRef,
        *,
        number: str,
        department: str,
        instruction: str,
        due_date: date,
        actor: Principal,
        at: datetime,
        today: date | None = None,
    ) -> Rectification:
        """CSC → functional department: investigate and rectify a service problem."""
        authorize(actor, (Grant("csc"),), action="issue rectification instructions")
        _require(
            department in RECIPIENT_DEPARTMENTS,
            "department",
            f"must be one of {', '.join(sorted(RECIPIENT_DEPARTMENTS))}",
        )
        _require(due_date >= (today or at.date()), "due_date", "must not be in the past")
        rect = cls(
            rectification_id=uuid4(),
            case=case,
            kind=K.service_instruction,
            number=number,
            status=S.in_progress,
            requirement=instruction,
            due_date=due_date,
            created_by=actor.subject,
            created_at=at,
            department=department,
        )
        rect.history.append(HistoryRecord("instruct", None, rect.status, at, actor.subject))
        rect.events.append(
            RectificationInstructed(
                **rect._event_fields(actor, at), instruction=instruction, due_date=due_date
            )
        )
        return rect

    @classmethod
    def issue_notice(
        cls,
        report: QualityReport,
        *,
        number: str,
        department: str | None,
        supplier: SupplierRef | None,
        requirement: str,
        due_date: date,
        actor: Principal,
        at: datetime,
        today: date | None = None,
    ) -> Rectification:
        """Quality turns a report into a written notice: internal or to a supplier."""
        authorize(actor, (Grant("quality"),), action="issue rectification notices")
        if supplier is None:
            _require(
                department in RECIPIENT_DEPARTMENTS,
                "department",
                f"must be one of {', '.join(sorted(RECIPIENT_DEPARTMENTS))}",
            )
        _require(due_date >= (today or at.date()), "due_date", "must not be in the past")
        kind = K.supplier_notice if supplier is not None else K.internal_notice
        rect = cls(
            rectification_id=uuid4(),
            case=report.case,
            kind=kind,
            number=number,
            status=S.awaiting_dispatch if supplier is not None else S.in_progress,
            requirement=requirement,
            due_date=due_date,
            created_by=actor.subject,
            created_at=at,
            department=None if supplier is not None else department,
            supplier=supplier,
            report_id=report.report_id,
        )
        report.notice_count += 1
        rect.history.append(HistoryRecord("issue_notice", None, rect.status, at, actor.subject))
        rect.events.append(
            RectificationNoticeIssued(
                **rect._event_fields(actor, at),
                report_id=report.report_id,
                notice_number=number,
                requirement=requirement,
                due_date=due_date,
            )
        )
        return rect

    # -- transitions -----------------------------------------------------------------

    @property
    def settled(self) -> bool:
        return self.status in SETTLED

    def mark_done(
        self,
        *,
        root_cause_category: RootCauseCategory,
        root_cause: str,
        corrective_action: str,
        actor: Principal,
        at: datetime,
    ) -> None:
        self._apply(Action.mark_done, actor, at)
        self.root_cause_category = RootCauseCategory(root_cause_category)
        self.root_cause = root_cause
        self.corrective_action = corrective_action
        self.events.append(
            RectificationDone(
                **self._event_fields(actor, at),
                root_cause_category=root_cause_category,
                root_cause=root_cause,
                corrective_action=corrective_action,
            )
        )

    def dispatch(self, *, actor: Principal, at: datetime) -> None:
        self._apply(Action.dispatch, actor, at)
        self.dispatched_at = at
        self.events.append(
            NoticeDispatchedEvent(**self._event_fields(actor, at), due_date=self.due_date)
        )

    def record_supplier_response(
        self, answer: EightD, *, evidence_count: int, actor: Principal, at: datetime
    ) -> None:
        self._apply(Action.record_supplier_response, actor, at)
        self.containment = answer.containment
        self.root_cause = answer.root_cause
        self.root_cause_category = answer.root_cause_category
        self.corrective_action = answer.corrective_action
        self.preventive_action = answer.preventive_action
        self.evidence_count += evidence_count
        self.responded_at = at
        self.events.append(
            SupplierResponded(
                **self._event_fields(actor, at),
                root_cause_category=answer.root_cause_category,
                containment=answer.containment,
                root_cause=answer.root_cause,
                corrective_action=answer.corrective_action,
                preventive_action=answer.preventive_action,
                evidence_count=self.evidence_count,
            )
        )

    def attach_evidence(self, *, count: int, names: str, actor: Principal, at: datetime) -> None:
        """Supply files evidence the supplier sent by mail (history only: no event)."""
        _require(count >= 1, "files", "at least one file")
        self._apply(Action.attach_evidence, actor, at, note=names)
        self.evidence_count += count

    def pass_verification(
        self, *, comment: str, feedback_requested: bool, actor: Principal, at: datetime
    ) -> None:
        """Verified. If the customer asked to hear about it, the plan and the result
        go to them too (``rectification.feedback_requested``)."""
        self._apply(Action.pass_verification, actor, at, note=comment)
        self.verification_comment = comment
        self.settled_at = at
        self.events.append(VerificationPassed(**self._event_fields(actor, at), comment=comment))
        if feedback_requested:
            self._feed_back(actor, at)

    def send_feedback(self, *, actor: Principal, at: datetime) -> bool:
        """The customer asked for feedback after this was verified: send it now. False
        (nothing changes) unless it is verified and its feedback not yet sent — so asking
        twice sends it once. No status change; a history line and the event. The
        customer asks through intake: only the system (:func:`customer`) sends it."""
        authorize(actor, SYSTEM_ONLY, action="send the customer feedback on a rectification")
        if self.status is not S.verified or self.feedback_sent_at is not None:
            return False
        self.history.append(
            HistoryRecord("send_feedback", self.status, self.status, at, actor.subject)
        )
        self._feed_back(actor, at)
        return True

    @property
    def feedback_awaits_answer(self) -> bool:
        return self.feedback_sent_at is not None and self.feedback_answer is None

    def record_feedback_answer(
        self, answer: FeedbackAnswer, *, via: Channel | None, actor: Principal, at: datetime
    ) -> None:
        """The customer confirmed (or disputed) the feedback they were sent; once. A
        dispute changes nothing else: staff see it on the case and decide what follows.
        The customer answers through intake: only the system (:func:`customer`) records it."""
        authorize(actor, SYSTEM_ONLY, action="record the customer's answer to feedback")
        if not self.feedback_awaits_answer:
            raise IllegalRectificationTransition(
                f"rectification {self.number}: no feedback awaits the customer's answer"
            )
        self.feedback_answer, self.feedback_answered_at = FeedbackAnswer(answer), at
        self.feedback_answer_via = via
        self.history.append(
            HistoryRecord(
                f"feedback_{self.feedback_answer.value}",
                self.status,
                self.status,
                at,
                actor.subject,
                f"via {via}" if via else "",
            )
        )
        self.events.append(
            RectificationFeedbackAnswered(
                **self._event_fields(actor, at), answer=self.feedback_answer, via=via
            )
        )

    def _feed_back(self, actor: Principal, at: datetime) -> None:
        self.feedback_sent_at = at
        self.events.append(
            RectificationFeedbackRequested(
                **self._event_fields(actor, at), summary=self.feedback_summary()
            )
        )

    def fail_verification(self, *, reason: str, actor: Principal, at: datetime) -> None:
        _require(bool(reason.strip()), "reason", "a failed verification needs a reason")
        self._apply(Action.fail_verification, actor, at, note=reason)
        self.last_failure_reason = reason
        self.failed_verifications += 1
        self.events.append(VerificationFailed(**self._event_fields(actor, at), reason=reason))

    def waive(self, *, reason: str, actor: Principal, at: datetime) -> None:
        _require(bool(reason.strip()), "reason", "a waiver needs a reason")
        self._apply(Action.waive, actor, at, note=reason)
        self.waiver_reason = reason
        self.settled_at = at
        self.events.append(RectificationWaived(**self._event_fields(actor, at), reason=reason))

    def feedback_summary(self) -> str:
        """The plan and its verified result in plain words, for the customer."""
        lines = [f"{self.number}: {self.requirement}"]
        if self.root_cause:
            lines.append(f"原因 / Root cause: {self.root_cause}")
        if self.containment:
            lines.append(f"围堵措施 / Containment: {self.containment}")
        if self.corrective_action:
            lines.append(f"纠正措施 / Corrective action: {self.corrective_action}")
        if self.preventive_action:
            lines.append(f"预防措施 / Preventive action: {self.preventive_action}")
        lines.append("验证结果 / Verification: 有效 / effective")
        if self.verification_comment:
            lines.append(self.verification_comment)
        return "\n".join(lines)[:20_000]

    def may(self, action: Action, actor: Principal) -> bool:
        """Whether ``actor`` could take ``action`` on this rectification in some status."""
        require_principal(actor)
        return any(self._is(t.who, actor) for t in transitions_for(action, self.kind))

    def _apply(self, action: Action, actor: Principal, at: datetime, *, note: str = "") -> None:
        require_principal(actor)
        candidates = transitions_for(action, self.kind)
        if not candidates:
            raise IllegalRectificationTransition(f"a {self.kind} cannot {action}")
        allowed = [t for t in candidates if self._is(t.who, actor)]
        if not allowed:
            raise NotAllowed(
                f"{action} on a {self.kind} needs: "
                + " or ".join(sorted(self._describe(t.who) for t in candidates))
            )
        legal = [t for t in allowed if self.status in t.sources]
        if not legal:
            raise IllegalRectificationTransition(
                f"rectification {self.number} is {self.status}; cannot {action}"
            )
        previous, self.status = self.status, legal[0].target
        self.history.append(
            HistoryRecord(action.value, previous, self.status, at, actor.subject, note)
        )

    def rule(self, who: Who) -> Rule:
        """The grants (role, department) that make someone ``who`` for this rectification."""
        if who is Who.recipient:
            return tuple(Grant(role, self.department) for role in RECIPIENT_ROLES)
        return (Grant(who.value),)

    def _is(self, who: Who, actor: Principal) -> bool:
        if who is Who.supplier:
            # Only the link makes a supplier; admin does not stand in for one.
            return (
                self.supplier is not None
                and "supplier" in actor.roles
                and actor.subject == f"supplier:{self.supplier.supplier_id}"
            )
        if self.department is None and who is Who.recipient:
            return False
        return allowed(actor, self.rule(who), owner_department=None)

    def _describe(self, who: Who) -> str:
        if who is Who.recipient:
            return f"staff of department {self.department} (role department + department claim)"
        if who is Who.supplier:
            return "the supplier's response link"
        return f"role {who.value}"

    def _event_fields(self, actor: Principal, at: datetime) -> dict[str, object]:
        return {
            "complaint_id": self.case.complaint_id,
            "reference": self.case.reference,
            "case_id": self.case.case_id,
            "by": actor.subject,
            "at": at,
            "rectification_id": self.rectification_id,
            "kind": self.kind,
            "department": self.department,
            "supplier_id": self.supplier.supplier_id if self.supplier else None,
            "supplier_name": self.supplier.name if self.supplier else None,
        }
