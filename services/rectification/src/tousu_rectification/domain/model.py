"""The case aggregate: a complaint's customer resolution (顾客解决方案) from
opening to closing.

Every command is a method that first asks :mod:`.status` whether the command
is legal in the current status and :mod:`.permissions` whether the actor may
give it (403 before 409, so a stranger learns nothing about the case), then
changes the case and records what happened: a :class:`HistoryRecorded` for
the history table and, where the outside world needs it, a public payload
from ``tousu_common.events`` for the outbox. ``status`` has no setter.

Issue 5B's rectifications call :meth:`Case.rectification_opened` and
:meth:`Case.rectification_settled` in the same unit of work as their own
change; closing needs every rectification settled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from tousu_common.domain_errors import Conflict, NotFound
from tousu_common.events.catalog import (
    CallbackDone,
    CaseOpened,
    Channel,
    ComplaintCategory,
    ComplaintClosed,
    ComplaintReopened,
    ComplaintTriaged,
    CustomerDecision,
    CustomerTier,
    CustomerWaitEnded,
    CustomerWaitStarted,
    EventPayload,
    FirstResponseRecorded,
    ResolutionAccepted,
    ResolutionAction,
    ResolutionActionKind,
    ResolutionDecisionReceived,
    ResolutionImplemented,
    ResolutionProposed,
    ResolutionRejected,
    Urgency,
)
from tousu_common.principal import Principal
from tousu_rectification.domain.events import HistoryRecorded
from tousu_rectification.domain.permissions import SYSTEM, authorize, customer, require_principal
from tousu_rectification.domain.status import (
    ENDED,
    OPENING_STATUS,
    TABLE,
    CaseConflict,
    CaseStatus,
    Command,
    check_command,
)

DEFAULT_TIMEZONE = "Asia/Shanghai"
SATISFIED_FROM = 4  # callback scores 4 and 5 count as satisfied

CaseEvent = EventPayload | HistoryRecorded


@dataclass(frozen=True)
class HistoryEntry:
    """One line of a case's history: what happened, the status after it, when, who."""

    status: CaseStatus
    at: datetime
    by: str
    action: str | None = None
    from_status: CaseStatus | None = None
    detail: str | None = None


@dataclass
class PlanAction:
    """One action of a resolution plan, numbered from 1."""

    position: int
    kind: ResolutionActionKind
    description: str
    due_date: date
    amount: Decimal | None = None
    currency: str | None = None
    done_at: datetime | None = None
    done_by: str | None = None
    note: str | None = None
    changed: bool = False  # the repository writes changed actions back

    @property
    def done(self) -> bool:
        return self.done_at is not None

    def as_payload(self) -> ResolutionAction:
        return ResolutionAction(
            kind=self.kind,
            description=self.description,
            due_date=self.due_date,
            amount=self.amount,
            currency=self.currency,
        )


@dataclass
class Plan:
    """A proposed resolution (version 1, 2, …) and the customer's answer to it."""

    version: int
    investigation: str
    proposed_at: datetime
    proposed_by: str
    actions: list[PlanAction]
    decision: CustomerDecision | None = None
    decided_at: datetime | None = None
    decided_by: str | None = None
    via: str | None = None
    comment: str | None = None
    new: bool = False
    changed: bool = False

    def action(self, position: int) -> PlanAction:
        for action in self.actions:
            if action.position == position:
                return action
        raise NotFound(f"plan {self.version} has no action {position} (it has {len(self.actions)})")


class CloseConditionsUnmet(Conflict):
    """Closing asked for while some condition is not met; ``fields`` lists each."""

    code = "close_conditions_unmet"


@dataclass
class Case:
    case_id: UUID
    complaint_id: UUID
    reference: str
    status_: CaseStatus
    owner_department: str
    category: ComplaintCategory
    urgency: Urgency
    opened_at: datetime
    # Bumped by the repository on every save; a stale copy cannot overwrite.
    version: int = 1
    customer_tier: CustomerTier = CustomerTier.general
    channel: Channel | None = None
    first_response_due: datetime | None = None
    resolution_plan_due: datetime | None = None
    first_response_at: datetime | None = None
    resolution_proposed_at: datetime | None = None
    resolution_accepted_at: datetime | None = None
    implemented_at: datetime | None = None
    callback_at: datetime | None = None
    satisfaction_score: int | None = None
    closed_at: datetime | None = None
    plan_version: int = 0
    plan: Plan | None = None  # the current plan (version == plan_version)
    waiting_since: datetime | None = None
    wait_reason: str | None = None
    open_rectifications: int = 0
    rectifications_total: int = 0
    rectifications_waived: int = 0
    reopen_count: int = 0
    next_due_at: datetime | None = None
    next_due_what: str | None = None
    # From intake's complaint.received (read-only here).
    received_at: datetime | None = None
    feedback_requested: bool = False
    feedback_requested_at: datetime | None = None
    feedback_requested_via: str | None = None
    timezone: str = DEFAULT_TIMEZONE
    events: list[CaseEvent] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"Case({self.case_id}, {self.reference}, {self.status})"

    @property
    def status(self) -> CaseStatus:
        return self.status_

    @property
    def waiting_on_customer(self) -> bool:
        return self.waiting_since is not None

    # -- opening ---------------------------------------------------------------

    @classmethod
    def open(
        cls,
        triaged: ComplaintTriaged,
        *,
        at: datetime,
        by: Principal = SYSTEM,
        timezone: str = DEFAULT_TIMEZONE,
    ) -> Case:
        """Open the case for a triaged complaint, owned by the department triage chose."""
        require_principal(by)
        case = cls(
            case_id=uuid4(),
            complaint_id=triaged.complaint_id,
            reference=triaged.reference,
            status_=OPENING_STATUS,
            owner_department=triaged.owner_department,
            category=triaged.category,
            urgency=triaged.urgency,
            opened_at=at,
            customer_tier=triaged.customer_tier,
            channel=triaged.channel,
            first_response_due=triaged.first_response_due,
            resolution_plan_due=triaged.resolution_plan_due,
            timezone=timezone,
        )
        case.events.append(
            HistoryRecorded(case.case_id, "case.opened", None, OPENING_STATUS, at, by.subject)
        )
        case.events.append(
            CaseOpened(
                complaint_id=case.complaint_id,
                reference=case.reference,
                case_id=case.case_id,
                status=case.status.value,
                owner_department=case.owner_department,
                category=case.category,
                urgency=case.urgency,
                opened_at=at,
            )
        )
        case.refresh_next_due()
        return case

    # -- first response and waits ---------------------------------------------

    def record_first_response(
        self, *, by: Principal, at: datetime, channel: Channel | None = None
    ) -> None:
        self._check(Command.record_first_response, by)
        if self.first_response_at is not None:
            raise CaseConflict(
                f"the first response was already recorded at {self.first_response_at}"
            )
        self._first_response(by=by, at=at, channel=channel)

    def start_customer_wait(self, *, reason: str, by: Principal, at: datetime) -> None:
        self._check(Command.start_customer_wait, by)
        if self.waiting_since is not None:
            raise CaseConflict(f"already waiting on the customer since {self.waiting_since}")
        self.waiting_since, self.wait_reason = at, reason
        self._record("case.customer_wait_started", by, at, detail=reason)
        self.events.append(CustomerWaitStarted(**self._common(by, at), reason=reason))

    def end_customer_wait(self, *, by: Principal, at: datetime) -> None:
        self._check(Command.end_customer_wait, by)
        if self.waiting_since is None:
            raise CaseConflict("the case is not waiting on the customer")
        self._end_wait(by=by, at=at)

    # -- the resolution ----------------------------------------------------------

    def propose_resolution(
        self,
        *,
        actions: list[ResolutionAction],
        investigation: str = "",
        by: Principal,
        at: datetime,
    ) -> Plan:
        """A plan (repair, replace, refund, ...) goes to the customer; also a revised one.
        Counts as the first response if none was recorded."""
        self._check(Command.propose_resolution, by)
        if not actions:
            raise ValueError("a plan needs at least one action")
        if self.first_response_at is None:
            self._first_response(by=by, at=at, channel=None)
        self.plan_version += 1
        self.plan = Plan(
            version=self.plan_version,
            investigation=investigation,
            proposed_at=at,
            proposed_by=by.subject,
            actions=[
                PlanAction(
                    position=number,
                    kind=action.kind,
                    description=action.description,
                    due_date=action.due_date,
                    amount=action.amount,
                    currency=action.currency,
                )
                for number, action in enumerate(actions, start=1)
            ],
            new=True,
        )
        if self.resolution_proposed_at is None:
            self.resolution_proposed_at = at
        self._move(
            CaseStatus.resolution_proposed,
            "resolution.proposed",
            by,
            at,
            detail=f"plan {self.plan_version}: {len(actions)} action(s)",
        )
        self.events.append(
            ResolutionProposed(
                **self._common(by, at),
                plan_version=self.plan_version,
                actions=[action.as_payload() for action in self.plan.actions],
                investigation=investigation,
            )
        )
        return self.plan

    def accept_resolution(
        self,
        *,
        by: Principal,
        at: datetime,
        plan_version: int | None = None,
        via: Channel | None = None,
        comment: str | None = None,
    ) -> None:
        self._decide(CustomerDecision.accept, by, at, plan_version, via, comment)

    def reject_resolution(
        self,
        *,
        by: Principal,
        at: datetime,
        plan_version: int | None = None,
        via: Channel | None = None,
        reason: str | None = None,
    ) -> None:
        """A rejected plan needs a revised one (a new plan version)."""
        self._decide(CustomerDecision.reject, by, at, plan_version, via, reason)

    def decision_applies(self, plan_version: int) -> bool:
        """Whether a customer's answer to ``plan_version`` would be legal now."""
        return self.status is CaseStatus.resolution_proposed and plan_version == self.plan_version

    def take_customer_decision(self, decision: ResolutionDecisionReceived) -> None:
        """The customer's answer relayed by intake (tracking page, reply mail); the caller
        has checked :meth:`decision_applies`."""
        if decision.decision is CustomerDecision.accept:
            self.accept_resolution(
                by=customer(),
                at=decision.decided_at,
                plan_version=decision.plan_version,
                via=decision.via,
                comment=decision.comment,
            )
        else:
            self.reject_resolution(
                by=customer(),
                at=decision.decided_at,
                plan_version=decision.plan_version,
                via=decision.via,
                reason=decision.comment,
            )

    def hand_over_early_decision(
        self, decision: ResolutionDecisionReceived, *, at: datetime
    ) -> bool:
        """A customer's answer that reached rectification before this case existed, handed
        to the case in the transaction that opens it. Applied if it is legal now, exactly
        like a live one; otherwise it goes into the history
        (``customer.decision_before_case``) with what the customer said and why it was not
        applied, so staff see it — never dropped. Returns whether it was applied.

        A case just opened has no plan yet, and a plan proposed later cannot be the one
        the customer answered earlier, so in practice it is recorded, not applied."""
        if self.decision_applies(decision.plan_version):
            self.take_customer_decision(decision)
            return True
        words = "accepted" if decision.decision is CustomerDecision.accept else "rejected"
        detail = (
            f"the customer {words} plan {decision.plan_version} via {decision.via} at "
            f"{decision.decided_at.isoformat()}, before this case existed; not applied: "
            f"the case has no plan {decision.plan_version} awaiting an answer"
        )
        if decision.comment:
            detail += f" — {decision.comment}"
        self._record("customer.decision_before_case", customer(), at, detail=detail)
        return False

    def complete_action(
        self, position: int, *, by: Principal, at: datetime, note: str | None = None
    ) -> bool:
        """Mark one action of the accepted plan done; True when it was the last one."""
        self._check(Command.complete_action, by)
        if self.plan is None:
            raise RuntimeError("self.plan is not set")
        action = self.plan.action(position)
        if action.done:
            raise CaseConflict(f"action {position} was already done at {action.done_at}")
        action.done_at, action.done_by, action.note, action.changed = at, by.subject, note, True
        self._record(
            "resolution.action_done", by, at, detail=f"plan {self.plan.version} action {position}"
        )
        if not all(item.done for item in self.plan.actions):
            return False
        self.implemented_at = at
        self._move(CaseStatus.resolution_implemented, "resolution.implemented", by, at)
        self.events.append(
            ResolutionImplemented(**self._common(by, at), plan_version=self.plan.version)
        )
        return True

    def record_callback(
        self, *, score: int, comment: str = "", by: Principal, at: datetime
    ) -> bool:
        """The satisfaction callback (回访). Satisfied (4–5): closes the case unless
        rectifications are open; unsatisfied (1–3): back to investigating, a new
        plan is needed. Returns whether the customer is satisfied."""
        self._check(Command.record_callback, by)
        if not 1 <= score <= 5:
            raise ValueError("score must be 1–5")
        satisfied = score >= SATISFIED_FROM
        self.callback_at, self.satisfaction_score = at, score
        self.events.append(
            CallbackDone(**self._common(by, at), score=score, satisfied=satisfied, comment=comment)
        )
        detail = f"score {score}" + (f": {comment}" if comment else "")
        if not satisfied:
            self._move(CaseStatus.awaiting_resolution, "callback.done", by, at, detail=detail)
            return False
        self._move(CaseStatus.satisfied, "callback.done", by, at, detail=detail)
        if self.open_rectifications == 0:
            self._close(by=by, at=at)
        return True

    # -- closing -----------------------------------------------------------------

    def unmet_close_conditions(self) -> list[dict[str, str]]:
        """What still stands between the case and closing (empty: it may close)."""
        status = self.status
        if status in ENDED:
            return [{"field": "status", "problem": f"the case is already {status}"}]
        unmet = []
        if status in (
            CaseStatus.awaiting_resolution,
            CaseStatus.resolution_proposed,
            CaseStatus.resolution_rejected,
        ):
            unmet.append({"field": "resolution", "problem": "not accepted by the customer"})
        if status is not CaseStatus.satisfied and status is not CaseStatus.resolution_implemented:
            left = [a for a in (self.plan.actions if self.plan else []) if not a.done]
            problem = "not implemented" + (
                f" ({len(left)} action(s) not done)"
                if status is CaseStatus.resolution_accepted
                else ""
            )
            unmet.append({"field": "implementation", "problem": problem})
        if status is not CaseStatus.satisfied:
            unmet.append({"field": "callback", "problem": "customer satisfaction not confirmed"})
        if self.open_rectifications:
            unmet.append(
                {
                    "field": "rectifications",
                    "problem": f"{self.open_rectifications} not verified or waived",
                }
            )
        return unmet

    def close(self, *, by: Principal, at: datetime) -> None:
        """Close explicitly (the CSC); the same rule as the automatic close."""
        self._authorize(Command.close, by, action="close a case")
        unmet = self.unmet_close_conditions()
        if unmet:
            raise CloseConditionsUnmet(
                "the case cannot close yet: "
                + "; ".join(f"{item['field']} {item['problem']}" for item in unmet),
                fields=unmet,
            )
        self._close(by=by, at=at)

    def reopen(self, *, reason: str, by: Principal, at: datetime) -> None:
        """A closed complaint goes back to investigating; a new plan is needed."""
        self._check(Command.reopen, by)
        self.reopen_count += 1
        self.closed_at = None
        self.implemented_at = self.callback_at = self.satisfaction_score = None
        self._move(CaseStatus.awaiting_resolution, "complaint.reopened", by, at, detail=reason)
        self.events.append(ComplaintReopened(**self._common(by, at), reason=reason))

    def withdraw(self, *, reason: str, by: Principal, at: datetime) -> None:
        """The customer withdrew: the case ends, announced as complaint.closed with
        ``withdrawn=true`` so that subscribers of tousu.cases see every case end."""
        self._check(Command.withdraw, by)
        self.waiting_since = self.wait_reason = None
        self.closed_at = at
        self._move(CaseStatus.withdrawn, "complaint.withdrawn", by, at, detail=reason)
        self.events.append(self._closed_payload(by, at, withdrawn=True))

    # -- owner (routing's retriage / reassignment) --------------------------------

    def change_owner(
        self,
        department: str,
        *,
        by: Principal,
        at: datetime,
        reason: str | None = None,
        category: ComplaintCategory | None = None,
        urgency: Urgency | None = None,
    ) -> bool:
        """Follow routing's decision; False (nothing recorded) if nothing changes."""
        self._check(Command.change_owner, by)
        changes = []
        if department != self.owner_department:
            changes.append(f"owner {self.owner_department} → {department}")
            self.owner_department = department
        if category is not None and category != self.category:
            changes.append(f"category {self.category} → {category}")
            self.category = category
        if urgency is not None and urgency != self.urgency:
            changes.append(f"urgency {self.urgency} → {urgency}")
            self.urgency = urgency
        if not changes:
            return False
        detail = "; ".join(changes) + (f" ({reason})" if reason else "")
        self._record("case.owner_changed", by, at, detail=detail)
        return True

    # -- rectifications (issue 5B calls these in its own unit of work) ------------

    def rectification_opened(
        self, *, by: Principal, at: datetime, detail: str | None = None
    ) -> None:
        """A rectification (instruction, notice) now belongs to this case; the case
        cannot close until it is settled. Refused (409) on a closed or withdrawn case.
        The rectification's own rule authorized ``by`` (the table's ``who`` is None)."""
        require_principal(by)
        check_command(Command.open_rectification, self.status)
        self.open_rectifications += 1
        self.rectifications_total += 1
        self._record("rectification.opened", by, at, detail=detail)

    def rectification_settled(
        self, *, by: Principal, at: datetime, waived: bool = False, detail: str | None = None
    ) -> bool:
        """A rectification was verified (or waived). If it was the last one and the
        customer is satisfied, the case closes now (complaint.closed). Returns whether
        it closed. The rectification's own rule authorized ``by``."""
        require_principal(by)
        check_command(Command.settle_rectification, self.status)
        if self.open_rectifications <= 0:
            raise CaseConflict("the case has no open rectification to settle")
        self.open_rectifications -= 1
        if waived:
            self.rectifications_waived += 1
        self._record(
            "rectification.waived" if waived else "rectification.verified", by, at, detail=detail
        )
        if self.status is CaseStatus.satisfied and self.open_rectifications == 0:
            self._close(by=by, at=at)
            return True
        return False

    def note(self, action: str, *, by: Principal, at: datetime, detail: str | None = None) -> None:
        """A history line that changes nothing else — e.g. a rectification step worth
        seeing on the case (``rectification.verification_failed``). Saved with the case."""
        require_principal(by)
        self._record(action[:60], by, at, detail=detail)

    # -- worklist ----------------------------------------------------------------

    def refresh_next_due(self) -> None:
        """What is due next on this case and when (the worklist sorts by it)."""
        candidates: list[tuple[datetime, str]] = []
        status = self.status
        if status in ENDED or status is CaseStatus.satisfied:
            self.next_due_at, self.next_due_what = None, None
            return
        if self.first_response_at is None and self.first_response_due is not None:
            candidates.append((self.first_response_due, "first_response"))
        if status in (CaseStatus.awaiting_resolution, CaseStatus.resolution_rejected):
            if self.resolution_plan_due is not None and self.reopen_count == 0:
                candidates.append((self.resolution_plan_due, "resolution_plan"))
            else:
                what = "revised_plan" if status is CaseStatus.resolution_rejected else "plan"
                self.next_due_what = what
        if status is CaseStatus.resolution_accepted and self.plan is not None:
            for action in self.plan.actions:
                if not action.done:
                    candidates.append((self._end_of(action.due_date), f"action:{action.position}"))
        if candidates:
            self.next_due_at, self.next_due_what = min(candidates)
            return
        self.next_due_at = None
        self.next_due_what = {
            CaseStatus.awaiting_resolution: "plan",
            CaseStatus.resolution_rejected: "revised_plan",
            CaseStatus.resolution_proposed: "customer_decision",
            CaseStatus.resolution_implemented: "callback",
        }.get(status)

    def _end_of(self, day: date) -> datetime:
        local = datetime.combine(day, time(23, 59, 59), tzinfo=ZoneInfo(self.timezone))
        return local.astimezone(UTC)

    # -- internals -----------------------------------------------------------------

    def _check(self, command: Command, by: Principal) -> None:
        """403 if ``by`` may not give ``command`` on this case, else 409 if illegal now."""
        self._authorize(
            command, by, action=command.replace("_", " ") + f" on a case of {self.owner_department}"
        )
        check_command(command, self.status)

    def _authorize(self, command: Command, by: Principal, *, action: str) -> None:
        """403 unless ``by`` may give ``command``; a ``TypeError`` unless it is a Principal.
        Runs for every actor: there is no name-only way around it."""
        require_principal(by)
        who = TABLE[command].who
        if who is not None:
            authorize(by, who, owner_department=self.owner_department, action=action)

    def _decide(
        self,
        decision: CustomerDecision,
        by: Principal,
        at: datetime,
        plan_version: int | None,
        via: Channel | None,
        comment: str | None,
    ) -> None:
        command = (
            Command.accept_resolution
            if decision is CustomerDecision.accept
            else Command.reject_resolution
        )
        self._check(command, by)
        if self.plan is None:
            raise RuntimeError("self.plan is not set")
        if plan_version is not None and plan_version != self.plan_version:
            raise CaseConflict(
                f"the customer can only answer the current plan {self.plan_version}, "
                f"not plan {plan_version}"
            )
        if self.waiting_since is not None:
            self._end_wait(by=by, at=at)
        plan = self.plan
        plan.decision, plan.decided_at, plan.decided_by = decision, at, by.subject
        plan.via, plan.comment, plan.changed = (via.value if via else None), comment, True
        common = self._common(by, at)
        detail = f"plan {plan.version}" + (f" via {via}" if via else "")
        detail += f": {comment}" if comment else ""
        if decision is CustomerDecision.accept:
            self.resolution_accepted_at = at
            self._move(CaseStatus.resolution_accepted, "resolution.accepted", by, at, detail=detail)
            self.events.append(ResolutionAccepted(**common, plan_version=plan.version, via=via))
        else:
            self._move(CaseStatus.resolution_rejected, "resolution.rejected", by, at, detail=detail)
            self.events.append(
                ResolutionRejected(
                    **common, plan_version=plan.version, reason=comment or "", via=via
                )
            )

    def _first_response(self, *, by: Principal, at: datetime, channel: Channel | None) -> None:
        self.first_response_at = at
        self._record("case.first_response_recorded", by, at, detail=channel and str(channel))
        self.events.append(FirstResponseRecorded(**self._common(by, at), channel=channel))

    def _end_wait(self, *, by: Principal, at: datetime) -> None:
        self.waiting_since = self.wait_reason = None
        self._record("case.customer_wait_ended", by, at)
        self.events.append(CustomerWaitEnded(**self._common(by, at)))

    def _close(self, *, by: Principal, at: datetime) -> None:
        self.waiting_since = self.wait_reason = None
        self.closed_at = at
        self._move(CaseStatus.closed, "complaint.closed", by, at)
        self.events.append(self._closed_payload(by, at, withdrawn=False))

    def _closed_payload(self, by: Principal, at: datetime, *, withdrawn: bool) -> ComplaintClosed:
        return ComplaintClosed(
            **self._common(by, at),
            category=self.category,
            urgency=self.urgency,
            owner_department=self.owner_department,
            customer_tier=self.customer_tier,
            received_at=self.received_at,
            opened_at=self.opened_at,
            first_response_at=self.first_response_at,
            resolution_proposed_at=self.resolution_proposed_at,
            resolution_accepted_at=self.resolution_accepted_at,
            satisfaction_score=self.satisfaction_score,
            rectifications=self.rectifications_total,
            rectifications_waived=self.rectifications_waived,
            reopen_count=self.reopen_count,
            resolution_seconds=max((at - self.opened_at).total_seconds(), 0.0),
            withdrawn=withdrawn,
        )

    def _common(self, by: Principal, at: datetime) -> dict[str, object]:
        return {
            "complaint_id": self.complaint_id,
            "reference": self.reference,
            "case_id": self.case_id,
            "by": by.subject[:100],
            "at": at,
        }

    def _move(
        self,
        target: CaseStatus,
        action: str,
        by: Principal,
        at: datetime,
        *,
        detail: str | None = None,
    ) -> None:
        previous, self.status_ = self.status_, target
        self.events.append(
            HistoryRecorded(self.case_id, action, previous, target, at, by.subject, detail)
        )

    def _record(
        self, action: str, by: Principal, at: datetime, *, detail: str | None = None
    ) -> None:
        """A transition that leaves the status as it is."""
        self.events.append(
            HistoryRecorded(
                self.case_id, action, self.status_, self.status_, at, by.subject, detail
            )
        )
