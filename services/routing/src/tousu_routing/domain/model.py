"""A complaint as the triage desk (分诊) sees it, and everything that can happen to it here.

Statuses (``status.py`` would be one module; the machine is small enough to live here):

=======================  =============================================================
awaiting_transcription   a fax/letter OCR could not read; waits for a person's text
manual_triage            no rule matched: in the CSC's manual triage queue
triaged                  category, urgency and owner decided (by rules or a person)
duplicate                repeats an open complaint of the same customer; not new work
=======================  =============================================================

How they change is one table, :data:`TRIAGE_TRANSITIONS` (action → the statuses
it is legal from, the status it leads to, and what a refusal says)::

    awaiting_transcription ──rules_matched / triaged_by_person──▶ triaged ◀─┐ reassigned,
           │   │                                                 ▲       └──┘ triaged_by_person
           │   └──no_rule_matched──▶ manual_triage ──rules_matched┘
           │                            │   ▲
           └─linked_by_rules/person─────┴───│──────────────▶ duplicate
                                            └───unlinked────────┘

Every method that changes the status goes through :meth:`Complaint._move`; an
action the table does not allow raises :class:`IllegalTriageMove` (a 409) with
the message the table gives for that status. Guards that need more than the
status (open, the original of a link) stay in the methods.

Independently of its status a complaint is *open* until ``complaint.closed`` or
``complaint.withdrawn`` (and again after ``complaint.reopened``).

Every method records the public events it causes in :attr:`Complaint.events`
and the triage history rows in :attr:`Complaint.records`; the repository
writes both with the state change, in one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from uuid import UUID

from tousu_common.domain_errors import Conflict
from tousu_common.events.catalog import (
    Channel,
    ComplaintCategory,
    ComplaintReassigned,
    ComplaintReceived,
    ComplaintTriaged,
    CustomerSegment,
    CustomerTier,
    DuplicateLinked,
    DuplicateUnlinked,
    EventPayload,
    SlaClock,
    Urgency,
)
from tousu_routing.domain.clocks import Clock
from tousu_routing.domain.rules import Decision, Facts, RuleSet
from tousu_routing.domain.sla import SlaPolicy
from tousu_routing.domain.text import normalise, similarity

DECIDED_BY_RULES = "rules"
#: Who owns a complaint nobody has triaged yet (the CSC's manual triage queue).
TRIAGE_DESK = "csc"


class Status(StrEnum):
    awaiting_transcription = "awaiting_transcription"
    manual_triage = "manual_triage"
    triaged = "triaged"
    duplicate = "duplicate"


class TriageAction(StrEnum):
    """What can change a complaint's status here."""

    rules_matched = "rules_matched"  # a rule decided category, urgency and owner
    no_rule_matched = "no_rule_matched"  # to the manual triage queue
    triaged_by_person = "triaged_by_person"  # a person's triage (or re-triage)
    reassigned = "reassigned"  # another department owns it; still triaged
    linked_by_rules = "linked_by_rules"  # the duplicate check found its original
    linked_by_person = "linked_by_person"  # a person says it repeats another
    unlinked = "unlinked"  # not a duplicate after all: back to triage


@dataclass(frozen=True)
class TriageMove:
    """One row of :data:`TRIAGE_TRANSITIONS`."""

    sources: frozenset[Status]
    target: Status
    #: What a refusal says: ``(message, problem)``; ``{status}`` is the current one.
    refusal: tuple[str, str]
    #: A refusal of its own for some statuses (checked in this order).
    refusals: Mapping[Status, tuple[str, str]] = field(default_factory=lambda: MappingProxyType({}))

    def refusal_for(self, status: Status) -> tuple[str, str]:
        message, problem = self.refusals.get(status, self.refusal)
        return message.format(status=status.value), problem.format(status=status.value)


S = Status
_UNTRIAGED = frozenset({S.awaiting_transcription, S.manual_triage})
_NOT_A_DUPLICATE = frozenset(Status) - {S.duplicate}


def _by_the_rules(action: str) -> tuple[str, str]:
    # Never said to a person: the rules only see complaints waiting for triage.
    return (f"the rules cannot {action} a complaint that is {{status}}", "status is {status}")


#: The whole state machine: every legal move of a complaint's triage status.
TRIAGE_TRANSITIONS: Mapping[TriageAction, TriageMove] = MappingProxyType(
    {
        TriageAction.rules_matched: TriageMove(_UNTRIAGED, S.triaged, _by_the_rules("triage")),
        TriageAction.no_rule_matched: TriageMove(
            _UNTRIAGED, S.manual_triage, _by_the_rules("queue")
        ),
        TriageAction.triaged_by_person: TriageMove(
            _NOT_A_DUPLICATE,
            S.triaged,
            (
                "the complaint is linked as a duplicate; unlink it before triaging it",
                "linked as a duplicate",
            ),
        ),
        TriageAction.reassigned: TriageMove(
            frozenset({S.triaged}),
            S.triaged,
            ("only a triaged complaint can be reassigned; triage it first", "status is {status}"),
        ),
        TriageAction.linked_by_rules: TriageMove(_UNTRIAGED, S.duplicate, _by_the_rules("link")),
        TriageAction.linked_by_person: TriageMove(
            _UNTRIAGED,
            S.duplicate,
            (
                "the complaint is already linked as a duplicate; unlink it first",
                "already linked as a duplicate",
            ),
            refusals=MappingProxyType(
                {
                    S.triaged: (
                        "the complaint is already triaged and has a case: withdraw or close it "
                        "there instead of linking it",
                        "already triaged",
                    )
                }
            ),
        ),
        TriageAction.unlinked: TriageMove(
            frozenset({S.duplicate}),
            S.manual_triage,
            ("the complaint is not linked as a duplicate", "status is {status}"),
        ),
    }
)


class IllegalTriageMove(Conflict):
    """An action :data:`TRIAGE_TRANSITIONS` does not allow in the complaint's status."""

    def __init__(self, action: TriageAction, status: Status) -> None:
        message, problem = TRIAGE_TRANSITIONS[action].refusal_for(status)
        super().__init__(message, fields=[{"field": "complaint_id", "problem": problem}])
        self.action = action
        self.from_status = status


def check_move(action: TriageAction, status: Status) -> Status:
    """The status ``action`` leads to from ``status``, or :class:`IllegalTriageMove`."""
    move = TRIAGE_TRANSITIONS[action]
    if status not in move.sources:
        raise IllegalTriageMove(action, status)
    return move.target


class RecordKind(StrEnum):
    rules = "rules"
    person = "person"
    reassignment = "reassignment"


@dataclass
class Triage:
    """The current triage decision."""

    category: ComplaintCategory
    urgency: Urgency
    owner_department: str
    quality_report_needed: bool
    rule_id: str | None
    ruleset_version: str
    decided_by: str
    triaged_at: datetime


@dataclass(frozen=True)
class TriageRecord:
    kind: RecordKind
    category: ComplaintCategory
    urgency: Urgency
    owner_department: str
    quality_report_needed: bool
    rule_id: str | None
    ruleset_version: str
    decided_by: str
    reason: str | None
    recorded_at: datetime


@dataclass
class Complaint:
    complaint_id: UUID
    reference: str
    channel: Channel
    received_at: datetime
    title: str
    description: str
    product_model: str | None
    serial_number: str | None
    customer_id: UUID | None
    customer_tier: CustomerTier
    customer_segment: CustomerSegment | None
    key_account: bool
    attachment_count: int
    status: Status
    open: bool
    duplicate_of: UUID | None
    provisional_urgency: Urgency
    received_event_id: str
    triage: Triage | None = None
    clocks: dict[SlaClock, Clock] = field(default_factory=dict)
    events: list[EventPayload] = field(default_factory=list, repr=False)
    records: list[TriageRecord] = field(default_factory=list, repr=False)

    # -- creation --------------------------------------------------------------

    @classmethod
    def received(cls, payload: ComplaintReceived, *, event_id: str) -> Complaint:
        return cls(
            complaint_id=payload.complaint_id,
            reference=payload.reference,
            channel=payload.channel,
            received_at=payload.received_at,
            title=payload.title,
            description=payload.description,
            product_model=payload.product_model,
            serial_number=payload.serial_number,
            customer_id=payload.customer_id,
            customer_tier=payload.customer_tier,
            customer_segment=payload.customer_segment,
            key_account=payload.key_account or payload.channel is Channel.key_account,
            attachment_count=payload.attachment_count,
            status=(
                Status.awaiting_transcription
                if payload.needs_transcription
                else Status.manual_triage
            ),
            open=True,
            duplicate_of=None,
            provisional_urgency=Urgency.general,
            received_event_id=event_id,
        )

    @property
    def facts(self) -> Facts:
        return Facts(
            title=self.title,
            description=self.description,
            channel=self.channel,
            customer_tier=self.customer_tier,
            customer_segment=self.customer_segment,
            key_account=self.key_account,
            product_model=self.product_model,
            attachment_count=self.attachment_count,
        )

    @property
    def text(self) -> str:
        return f"{self.title}\n{self.description}"

    @property
    def owner_department(self) -> str:
        return self.triage.owner_department if self.triage else TRIAGE_DESK

    # -- SLA clocks ------------------------------------------------------------

    def start_clocks(self, policy: SlaPolicy, urgency: Urgency) -> None:
        """Start both clocks at ``received_at`` (idempotent: running clocks stay)."""
        self.provisional_urgency = urgency
        for kind in SlaClock:
            if kind in self.clocks:
                continue
            self.clocks[kind] = Clock.start(
                policy,
                complaint_id=self.complaint_id,
                reference=self.reference,
                kind=kind,
                urgency=urgency,
                customer_tier=self.customer_tier,
                key_account=self.key_account,
                owner_department=self.owner_department,
                started_at=self.received_at,
            )

    def _rebudget_clocks(self, policy: SlaPolicy) -> None:
        if self.triage is None:
            raise RuntimeError("self.triage is not set")
        if not self.clocks:
            self.start_clocks(policy, self.triage.urgency)
        for clock in self.clocks.values():
            if clock.active:
                clock.rebudget(
                    policy,
                    urgency=self.triage.urgency,
                    customer_tier=self.customer_tier,
                    key_account=self.key_account,
                    owner_department=self.triage.owner_department,
                )

    def _due(self, kind: SlaClock) -> datetime | None:
        clock = self.clocks.get(kind)
        return clock.due_at if clock is not None and clock.active else None

    def pause_clocks(self, policy: SlaPolicy, at: datetime) -> None:
        for clock in self.clocks.values():
            clock.pause(policy, at)

    def resume_clocks(self, policy: SlaPolicy, at: datetime) -> None:
        for clock in self.clocks.values():
            clock.resume(policy, at)

    def stop_clock(self, kind: SlaClock, at: datetime) -> None:
        clock = self.clocks.get(kind)
        if clock is not None:
            clock.stop(at)

    # -- triage ----------------------------------------------------------------

    def assess(self, ruleset: RuleSet, policy: SlaPolicy) -> Decision:
        """Run the rules; start the clocks on the urgency they see (even when no rule
        decides, the escalations do: 起火 with nothing else is still urgent)."""
        decision = ruleset.decide(self.facts)
        self.provisional_urgency = decision.urgency
        if not self.clocks:
            self.start_clocks(policy, decision.urgency)
        elif self.triage is None:
            for clock in self.clocks.values():
                if clock.active:
                    clock.rebudget(
                        policy,
                        urgency=decision.urgency,
                        customer_tier=self.customer_tier,
                        key_account=self.key_account,
                        owner_department=TRIAGE_DESK,
                    )
        return decision

    def apply_rules(
        self, decision: Decision, ruleset: RuleSet, policy: SlaPolicy, now: datetime
    ) -> None:
        """Triage by the rules' decision, or put it in the manual triage queue."""
        if not decision.matched:
            self._move(TriageAction.no_rule_matched)
            self.provisional_urgency = decision.urgency
            return
        if not (decision.category is not None and decision.owner_department is not None):
            raise RuntimeError("a triage decision needs a category and an owner department")
        self._decide(
            Triage(
                category=decision.category,
                urgency=decision.urgency,
                owner_department=decision.owner_department,
                quality_report_needed=decision.quality_report_needed,
                rule_id=decision.rule_id,
                ruleset_version=ruleset.version,
                decided_by=DECIDED_BY_RULES,
                triaged_at=now,
            ),
            policy,
            action=TriageAction.rules_matched,
            kind=RecordKind.rules,
            reason=None,
        )

    def triage_by_person(
        self,
        policy: SlaPolicy,
        *,
        category: ComplaintCategory,
        urgency: Urgency,
        owner_department: str,
        quality_report_needed: bool,
        by: str,
        reason: str | None,
        ruleset_version: str,
        now: datetime,
    ) -> None:
        """A person's triage overrides the rules (and any earlier triage)."""
        self._require_open()
        check_move(TriageAction.triaged_by_person, self.status)
        self._decide(
            Triage(
                category=category,
                urgency=urgency,
                owner_department=owner_department,
                quality_report_needed=quality_report_needed,
                rule_id=None,
                ruleset_version=ruleset_version,
                decided_by=by,
                triaged_at=now,
            ),
            policy,
            action=TriageAction.triaged_by_person,
            kind=RecordKind.person,
            reason=reason,
        )

    def _decide(
        self,
        triage: Triage,
        policy: SlaPolicy,
        *,
        action: TriageAction,
        kind: RecordKind,
        reason: str | None,
    ) -> None:
        retriage = self.triage is not None
        self._move(action)
        self.triage = triage
        self._rebudget_clocks(policy)
        self._record(kind, reason, triage.triaged_at)
        self.events.append(
            ComplaintTriaged(
                complaint_id=self.complaint_id,
                reference=self.reference,
                category=triage.category,
                urgency=triage.urgency,
                owner_department=triage.owner_department,
                decided_by=triage.decided_by,
                rule_id=triage.rule_id,
                ruleset_version=triage.ruleset_version,
                triaged_at=triage.triaged_at,
                channel=self.channel,
                customer_tier=self.customer_tier,
                customer_segment=self.customer_segment,
                key_account=self.key_account,
                quality_report_needed=triage.quality_report_needed,
                first_response_due=self._due(SlaClock.first_response),
                resolution_plan_due=self._due(SlaClock.resolution_plan),
                retriage=retriage,
            )
        )

    def _record(
        self, kind: RecordKind, reason: str | None, at: datetime, *, by: str | None = None
    ) -> None:
        if self.triage is None:
            raise RuntimeError("self.triage is not set")
        self.records.append(
            TriageRecord(
                kind=kind,
                category=self.triage.category,
                urgency=self.triage.urgency,
                owner_department=self.triage.owner_department,
                quality_report_needed=self.triage.quality_report_needed,
                rule_id=self.triage.rule_id,
                ruleset_version=self.triage.ruleset_version,
                decided_by=by or self.triage.decided_by,
                reason=reason,
                recorded_at=at,
            )
        )

    def reassign(
        self, policy: SlaPolicy, *, department: str, reason: str, by: str, now: datetime
    ) -> None:
        """Move to another department; the clocks carry on (only their owner changes)."""
        self._require_open()
        check_move(TriageAction.reassigned, self.status)
        if self.triage is None:
            raise IllegalTriageMove(TriageAction.reassigned, self.status)
        previous = self.triage.owner_department
        if department == previous:
            raise Conflict(
                f"the complaint is already owned by {department}",
                fields=[{"field": "department", "problem": "already the owner"}],
            )
        self._move(TriageAction.reassigned)
        self.triage.owner_department = department
        for clock in self.clocks.values():
            clock.owner_department = department
        # The history row says who moved it, not who decided the triage.
        self._record(RecordKind.reassignment, reason, now, by=by)
        self.events.append(
            ComplaintReassigned(
                complaint_id=self.complaint_id,
                reference=self.reference,
                from_department=previous,
                to_department=department,
                reason=reason,
                by=by,
                reassigned_at=now,
            )
        )

    # -- duplicates ------------------------------------------------------------

    def link_duplicate(
        self, original: Complaint, *, by: str, now: datetime, reason: str | None = None
    ) -> None:
        """The rules' duplicate check found the open complaint this one repeats."""
        self._link(TriageAction.linked_by_rules, original, by=by, now=now, reason=reason)

    def _link(
        self,
        action: TriageAction,
        original: Complaint,
        *,
        by: str,
        now: datetime,
        reason: str | None,
    ) -> None:
        self._move(action)
        self.duplicate_of = original.complaint_id
        for clock in self.clocks.values():
            clock.cancel(now)
        self.events.append(
            DuplicateLinked(
                complaint_id=self.complaint_id,
                reference=self.reference,
                duplicate_of=original.complaint_id,
                duplicate_of_reference=original.reference,
                by=by,
                linked_at=now,
                reason=reason,
            )
        )

    def link_by_person(
        self, original: Complaint, *, by: str, reason: str | None, now: datetime
    ) -> None:
        """A person says this complaint repeats ``original``: from here on it is what
        the rules' link makes it — a duplicate, out of every worklist, its clocks
        cancelled.

        Only before it is triaged (waiting in the triage queue or for its text): a
        triaged complaint already has a case in rectification, which a link here
        would leave open with nobody's clock on it; it is withdrawn or closed there.

        ``original`` must be the *root* of its group (the caller follows a chain of
        links first: a CSC person who names a duplicate means its original), open,
        and not this complaint. A closed original is refused: the new complaint
        would be nobody's work. Reopen the original, or triage this one as new."""
        self._require_open()
        check_move(TriageAction.linked_by_person, self.status)
        if original.complaint_id == self.complaint_id:
            raise Conflict(
                "a complaint cannot be a duplicate of itself (or of its own duplicate)",
                fields=[{"field": "original_id", "problem": "is this complaint or its duplicate"}],
            )
        if original.status is Status.duplicate:
            raise Conflict(
                "the original is itself a duplicate; link to the complaint it repeats",
                fields=[{"field": "original_id", "problem": "linked as a duplicate"}],
            )
        if not original.open:
            raise Conflict(
                f"the original {original.reference} is closed or withdrawn: reopen it, or "
                "triage this complaint as new work",
                fields=[{"field": "original_id", "problem": "not open"}],
            )
        self._link(TriageAction.linked_by_person, original, by=by, now=now, reason=reason)

    def unlink_duplicate(
        self, ruleset: RuleSet, policy: SlaPolicy, *, by: str, now: datetime
    ) -> None:
        """Not a duplicate after all: triage it as new work, clocks from ``received_at``."""
        self._require_open()
        check_move(TriageAction.unlinked, self.status)
        if self.duplicate_of is None:
            raise IllegalTriageMove(TriageAction.unlinked, self.status)
        was = self.duplicate_of
        self.duplicate_of = None
        self._move(TriageAction.unlinked)
        self.clocks = {kind: c for kind, c in self.clocks.items() if c.active}
        self.events.append(
            DuplicateUnlinked(
                complaint_id=self.complaint_id,
                reference=self.reference,
                was_duplicate_of=was,
                by=by,
                unlinked_at=now,
            )
        )
        decision = self.assess(ruleset, policy)
        self.apply_rules(decision, ruleset, policy, now)

    # -- open / closed ---------------------------------------------------------

    def close(self, at: datetime) -> None:
        self.open = False
        for clock in self.clocks.values():
            clock.stop(at)

    def reopen(self, policy: SlaPolicy, at: datetime) -> None:
        """A closed complaint is open again and a new resolution plan is owed: the
        resolution-plan clock runs again from ``at`` with its full budget (same
        urgency and tier). The first-response clock stays stopped: the customer
        has had a first response (rectification records it once per case)."""
        if self.open:
            return
        self.open = True
        clock = self.clocks.get(SlaClock.resolution_plan)
        if clock is not None and self.status is not Status.duplicate:
            clock.restart(policy, at)

    def _move(self, action: TriageAction) -> None:
        """The only writer of ``status``: the table says where ``action`` leads."""
        self.status = check_move(action, self.status)

    def _require_open(self) -> None:
        if not self.open:
            raise Conflict(
                "the complaint is closed or withdrawn",
                fields=[{"field": "complaint_id", "problem": "not open"}],
            )


def same_product(new: Complaint, old: Complaint) -> bool:
    """Same serial when both name one; else same model when both name one; a side
    that names neither does not rule the other out (the text decides)."""
    if new.serial_number and old.serial_number:
        return normalise(new.serial_number) == normalise(old.serial_number)
    if new.product_model and old.product_model:
        return normalise(new.product_model) == normalise(old.product_model)
    return True


def find_original(
    new: Complaint, candidates: list[Complaint], *, threshold: float
) -> Complaint | None:
    """The open complaint ``new`` most likely repeats (same customer and product,
    similar text), if any is similar enough."""
    best: Complaint | None = None
    best_score = threshold
    for old in candidates:
        if old.complaint_id == new.complaint_id or old.customer_id != new.customer_id:
            continue
        if not old.open or old.status is Status.duplicate or not same_product(new, old):
            continue
        score = similarity(new.text, old.text)
        if score >= best_score:
            best, best_score = old, score
    return best
