"""One SLA clock of one complaint, and the events its passing time raises.

States: ``running`` → ``paused`` (waiting on the customer) → ``running`` …
→ ``stopped`` (its matching event arrived, or the complaint closed) — or
``cancelled`` (the complaint turned out to be a duplicate). A stopped clock
runs again when its complaint is reopened (:meth:`Clock.restart`): a new run
from the reopening, with a full budget; the finished run is kept in
``previous_runs``. A stop that arrives after the breach is recorded as such
(``stopped_at`` beside ``breached_at``; :attr:`Clock.outcome` says whether the
clock was met in time — the event was only delivered late — or met late). The warning and
the breach are each raised at most once: ``warning_sent_at`` and
``breached_at`` are set in the same transaction that stages the event, so a
restart, a second replica or a re-run of the scheduler cannot raise them again.

The states change by one table, :data:`CLOCK_TRANSITIONS` (action → legal
sources, target, and the states where the action is a no-op on purpose: events
arrive twice or out of order, and a stopped clock ignores a late pause). Every
method goes through :meth:`Clock._move`; any other move raises
:class:`IllegalClockMove`.
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
    ComplaintEscalated,
    CustomerTier,
    EventPayload,
    SlaBreached,
    SlaClock,
    SlaWarning,
    Urgency,
)
from tousu_routing.domain.sla import Basis, Budget, Pause, SlaPolicy


class ClockState(StrEnum):
    running = "running"
    paused = "paused"
    stopped = "stopped"
    cancelled = "cancelled"


class ClockAction(StrEnum):
    pause = "pause"  # the case waits on the customer
    resume = "resume"  # the customer answered
    stop = "stop"  # its matching event arrived, or the complaint closed
    restart = "restart"  # the complaint was reopened
    cancel = "cancel"  # the complaint is a duplicate


@dataclass(frozen=True)
class ClockMove:
    """One row of :data:`CLOCK_TRANSITIONS`."""

    sources: frozenset[ClockState]
    target: ClockState
    #: States in which the action changes nothing (a repeated or late event).
    ignored: frozenset[ClockState]


C = ClockState
_ACTIVE = frozenset({C.running, C.paused})
_ENDED = frozenset({C.stopped, C.cancelled})

#: The whole state machine of a clock.
CLOCK_TRANSITIONS: Mapping[ClockAction, ClockMove] = MappingProxyType(
    {
        ClockAction.pause: ClockMove(frozenset({C.running}), C.paused, _ENDED | {C.paused}),
        ClockAction.resume: ClockMove(frozenset({C.paused}), C.running, _ENDED | {C.running}),
        ClockAction.stop: ClockMove(_ACTIVE, C.stopped, _ENDED),
        ClockAction.cancel: ClockMove(_ACTIVE, C.cancelled, _ENDED),
        # A cancelled clock belongs to a duplicate, which a reopening never restarts.
        ClockAction.restart: ClockMove(frozenset({C.stopped}), C.running, _ACTIVE),
    }
)


class IllegalClockMove(Conflict):
    """An action :data:`CLOCK_TRANSITIONS` neither allows nor ignores in the state."""

    def __init__(self, action: ClockAction, state: ClockState) -> None:
        super().__init__(f"an SLA clock that is {state.value} cannot {action.value}")
        self.action = action
        self.from_state = state


def check_clock_move(action: ClockAction, state: ClockState) -> ClockState | None:
    """The state ``action`` leads to; ``None`` when it is ignored there; else raises."""
    move = CLOCK_TRANSITIONS[action]
    if state in move.sources:
        return move.target
    if state in move.ignored:
        return None
    raise IllegalClockMove(action, state)


class Outcome(StrEnum):
    """What became of a clock's current run, as routing's API shows it."""

    running = "running"  # active, not breached
    overdue = "overdue"  # active and breached
    met = "met"  # stopped by its due instant (even if the stop arrived after a breach)
    met_late = "met_late"  # stopped after its due instant: the breach stands
    cancelled = "cancelled"


ESCALATED_BY = "sla"
MANAGER_ROLE = "manager"


@dataclass
class Clock:
    complaint_id: UUID
    reference: str
    kind: SlaClock
    urgency: Urgency
    customer_tier: CustomerTier
    key_account: bool
    owner_department: str
    basis: Basis
    budget_seconds: float
    started_at: datetime
    pauses: list[Pause] = field(default_factory=list)
    state: ClockState = ClockState.running
    stopped_at: datetime | None = None
    due_at: datetime | None = None
    warn_at: datetime | None = None
    warning_sent_at: datetime | None = None
    breached_at: datetime | None = None
    #: Company calendar version (``/v1/calendar``) ``due_at`` was computed with.
    calendar_version: int = 0
    #: Finished runs before a reopening restarted the clock (oldest first), each
    #: ``{started_at, due_at, stopped_at, breached_at, outcome}`` as ISO strings.
    previous_runs: list[dict[str, str | None]] = field(default_factory=list)
    events: list[EventPayload] = field(default_factory=list, repr=False)

    @classmethod
    def start(
        cls,
        policy: SlaPolicy,
        *,
        complaint_id: UUID,
        reference: str,
        kind: SlaClock,
        urgency: Urgency,
        customer_tier: CustomerTier,
        key_account: bool,
        owner_department: str,
        started_at: datetime,
    ) -> Clock:
        budget = policy.budget(urgency, kind, customer_tier, key_account)
        clock = cls(
            complaint_id=complaint_id,
            reference=reference,
            kind=kind,
            urgency=urgency,
            customer_tier=customer_tier,
            key_account=key_account,
            owner_department=owner_department,
            basis=budget.basis,
            budget_seconds=budget.seconds,
            started_at=started_at,
        )
        clock.recompute(policy)
        return clock

    # -- derived -------------------------------------------------------------

    @property
    def active(self) -> bool:
        return self.state in (ClockState.running, ClockState.paused)

    @property
    def outcome(self) -> Outcome:
        if self.state is ClockState.cancelled:
            return Outcome.cancelled
        if self.active:
            return Outcome.overdue if self.breached_at is not None else Outcome.running
        if self.due_at is not None and self.stopped_at is not None:
            return Outcome.met if self.stopped_at <= self.due_at else Outcome.met_late
        # Stopped while paused (no due instant): the breach flag is all we know.
        return Outcome.met_late if self.breached_at is not None else Outcome.met

    @property
    def next_check_at(self) -> datetime | None:
        """When the scheduler must look at this clock next (None: never again unless
        something changes)."""
        if self.state is not ClockState.running:
            return None
        pending = [
            at
            for at, done in ((self.warn_at, self.warning_sent_at), (self.due_at, self.breached_at))
            if at is not None and done is None
        ]
        return min(pending) if pending else None

    def recompute(self, policy: SlaPolicy) -> None:
        budget = Budget(self.budget_seconds, self.basis)
        if self.state is ClockState.running:
            self.due_at = policy.due(budget, self.started_at, self.pauses)
            self.warn_at = policy.warn(budget, self.started_at, self.pauses)
            self.calendar_version = policy.calendar_version
        elif self.state is ClockState.paused:
            self.due_at = self.warn_at = None

    # -- what happens to it --------------------------------------------------

    def rebudget(
        self,
        policy: SlaPolicy,
        *,
        urgency: Urgency,
        customer_tier: CustomerTier,
        key_account: bool,
        owner_department: str,
    ) -> None:
        """A (re-)triage decided the urgency: same start and pauses, new budget."""
        budget = policy.budget(urgency, self.kind, customer_tier, key_account)
        self.urgency, self.customer_tier, self.key_account = urgency, customer_tier, key_account
        self.owner_department = owner_department
        self.basis, self.budget_seconds = budget.basis, budget.seconds
        self.recompute(policy)

    def pause(self, policy: SlaPolicy, at: datetime) -> None:
        if not self._move(ClockAction.pause):
            return
        self.pauses.append(Pause(max(at, self.started_at)))
        self.recompute(policy)

    def resume(self, policy: SlaPolicy, at: datetime) -> None:
        if not self._move(ClockAction.resume):
            return
        last = self.pauses[-1]
        self.pauses[-1] = Pause(last.start, max(at, last.start))
        self.recompute(policy)

    def stop(self, at: datetime) -> None:
        """Its matching event arrived (or the complaint closed). After a breach the
        breach stays raised; ``stopped_at`` records when the clock was really met."""
        if not self._move(ClockAction.stop):
            return
        self.stopped_at = at

    def restart(self, policy: SlaPolicy, at: datetime) -> None:
        """The complaint was reopened: the stopped clock runs again from ``at`` with
        its full budget (same urgency and tier), a new due instant, and a warning
        and breach of its own. The finished run is kept in ``previous_runs``."""
        if check_clock_move(ClockAction.restart, self.state) is None:
            return
        self.previous_runs.append(
            {
                "started_at": self.started_at.isoformat(),
                "due_at": self.due_at.isoformat() if self.due_at else None,
                "stopped_at": self.stopped_at.isoformat() if self.stopped_at else None,
                "breached_at": self.breached_at.isoformat() if self.breached_at else None,
                "outcome": self.outcome.value,
            }
        )
        self.started_at = at
        self.pauses = []
        self._move(ClockAction.restart)
        self.stopped_at = self.warning_sent_at = self.breached_at = None
        self.recompute(policy)

    def cancel(self, at: datetime) -> None:
        if not self._move(ClockAction.cancel):
            return
        self.stopped_at = at

    def _move(self, action: ClockAction) -> bool:
        """The only writer of ``state``; False when the table ignores the action."""
        target = check_clock_move(action, self.state)
        if target is None:
            return False
        self.state = target
        return True

    def check(self, now: datetime) -> list[EventPayload]:
        """Raise the warning and the breach that are due by ``now`` (each once)."""
        raised: list[EventPayload] = []
        if self.state is not ClockState.running or self.due_at is None:
            return raised
        if self.warning_sent_at is None and self.warn_at is not None and now >= self.warn_at:
            self.warning_sent_at = now
            raised.append(SlaWarning(**self._sla_fields(now)))
        if self.breached_at is None and now >= self.due_at:
            self.breached_at = now
            raised.append(SlaBreached(**self._sla_fields(now)))
            raised.append(
                ComplaintEscalated(
                    complaint_id=self.complaint_id,
                    reference=self.reference,
                    department=self.owner_department,
                    to_role=MANAGER_ROLE,
                    reason=f"SLA {self.kind.value} breached: due {self.due_at.isoformat()}",
                    clock=self.kind,
                    by=ESCALATED_BY,
                    escalated_at=now,
                )
            )
        self.events.extend(raised)
        return raised

    def _sla_fields(self, now: datetime) -> dict[str, object]:
        if self.due_at is None:
            raise RuntimeError("self.due_at is not set")
        return {
            "complaint_id": self.complaint_id,
            "reference": self.reference,
            "clock": self.kind,
            "started_at": self.started_at,
            "due_at": self.due_at,
            "owner_department": self.owner_department,
            "urgency": self.urgency,
            "customer_tier": self.customer_tier,
            "raised_at": now,
        }
