"""The case's state machine: one table says, for every command, from which
statuses it is legal, which statuses it can lead to, and who may give it.

The life of a case (SPEC §2.3 customer resolution, §2.5 close)::

    awaiting_resolution ──propose──▶ resolution_proposed ──accept──▶ resolution_accepted
          ▲   ▲                        │  ▲                              │ last action done
          │   │                     reject│  │propose (revised plan)     ▼
          │   │                        ▼  │                     resolution_implemented
          │   │                  resolution_rejected                     │ callback
          │   └────────── callback score 1–3 (unsatisfied) ──────────────┤
          │                                                              ▼ score 4–5
          │ reopen                       closed ◀── last rectification ── satisfied
          └──────────────────────────── closed     settled / close        (rectifications open)

``satisfied`` is skipped when no rectification is open: a satisfied callback
then closes the case at once. ``withdrawn`` (the customer withdrew the
complaint) ends the case from any open status. Guards that need more than the
status (first response only once, every rectification settled before
closing, the plan version the customer answered) are the aggregate's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from tousu_common.domain_errors import Conflict
from tousu_rectification.domain.permissions import (
    AGENTS,
    CSC,
    OWNER_STAFF,
    SYSTEM_ONLY,
    Grant,
    Rule,
)


class CaseStatus(StrEnum):
    awaiting_resolution = "awaiting_resolution"  # investigating, preparing a plan
    resolution_proposed = "resolution_proposed"  # plan sent, waiting for the customer
    resolution_rejected = "resolution_rejected"  # a revised plan is needed
    resolution_accepted = "resolution_accepted"  # actions being carried out
    resolution_implemented = "resolution_implemented"  # satisfaction callback (回访) due
    satisfied = "satisfied"  # customer satisfied; rectifications still open
    closed = "closed"
    withdrawn = "withdrawn"  # the customer withdrew the complaint


OPENING_STATUS = CaseStatus.awaiting_resolution
ENDED = frozenset({CaseStatus.closed, CaseStatus.withdrawn})
OPEN = frozenset(CaseStatus) - ENDED
#: Where the case waits for someone other than the customer to finish.
WAITABLE = OPEN - {CaseStatus.satisfied}


class Command(StrEnum):
    record_first_response = "record_first_response"
    start_customer_wait = "start_customer_wait"
    end_customer_wait = "end_customer_wait"
    propose_resolution = "propose_resolution"
    accept_resolution = "accept_resolution"
    reject_resolution = "reject_resolution"
    complete_action = "complete_action"
    record_callback = "record_callback"
    close = "close"
    reopen = "reopen"
    withdraw = "withdraw"
    change_owner = "change_owner"
    open_rectification = "open_rectification"
    settle_rectification = "settle_rectification"


@dataclass(frozen=True)
class Transition:
    sources: frozenset[CaseStatus]
    #: Empty: the status stays as it is.
    targets: frozenset[CaseStatus]
    #: Who may give the command; ``None``: the caller already checked (5B's
    #: rectification handlers check their own rules before calling the hook).
    who: Rule | None
    summary: str
    #: A target only some sources lead to (e.g. settling the last rectification
    #: closes only a satisfied case); targets not named here follow from every source.
    only_from: Mapping[CaseStatus, frozenset[CaseStatus]] = field(
        default_factory=lambda: MappingProxyType({})
    )

    def leads(self, source: CaseStatus) -> frozenset[CaseStatus]:
        """The statuses this command can move a case in ``source`` to."""
        if source not in self.sources:
            return frozenset()
        return frozenset(
            target for target in self.targets if source in self.only_from.get(target, self.sources)
        )


CUSTOMER_OR_AGENT: Rule = (*AGENTS, *SYSTEM_ONLY)
S = CaseStatus


def _t(
    sources: frozenset[CaseStatus] | set[CaseStatus],
    targets: set[CaseStatus] | frozenset[CaseStatus],
    who: Rule | None,
    summary: str,
    only_from: dict[CaseStatus, set[CaseStatus]] | None = None,
) -> Transition:
    return Transition(
        frozenset(sources),
        frozenset(targets),
        who,
        summary,
        MappingProxyType({k: frozenset(v) for k, v in (only_from or {}).items()}),
    )


#: The whole table. Tests walk it state × command against the API.
TABLE: Mapping[Command, Transition] = MappingProxyType(
    {
        Command.record_first_response: _t(
            OPEN, set(), (*OWNER_STAFF, *SYSTEM_ONLY), "the customer heard from a person"
        ),
        Command.start_customer_wait: _t(WAITABLE, set(), OWNER_STAFF, "waiting on the customer"),
        Command.end_customer_wait: _t(
            OPEN, set(), (*OWNER_STAFF, *SYSTEM_ONLY), "the customer answered"
        ),
        Command.propose_resolution: _t(
            {S.awaiting_resolution, S.resolution_rejected},
            {S.resolution_proposed},
            OWNER_STAFF,
            "propose a plan (or a revised one after a rejection)",
        ),
        Command.accept_resolution: _t(
            {S.resolution_proposed},
            {S.resolution_accepted},
            CUSTOMER_OR_AGENT,
            "the customer accepts the plan",
        ),
        Command.reject_resolution: _t(
            {S.resolution_proposed},
            {S.resolution_rejected},
            CUSTOMER_OR_AGENT,
            "the customer rejects the plan",
        ),
        Command.complete_action: _t(
            {S.resolution_accepted},
            {S.resolution_accepted, S.resolution_implemented},
            OWNER_STAFF,
            "one action of the accepted plan is done (the last one: implemented)",
        ),
        Command.record_callback: _t(
            {S.resolution_implemented},
            {S.awaiting_resolution, S.satisfied, S.closed},
            AGENTS,
            "satisfaction callback: 4–5 satisfied, 1–3 back to investigating",
        ),
        Command.close: _t(
            {S.satisfied},
            {S.closed},
            (*CSC, *SYSTEM_ONLY),
            "close once every rectification is verified or waived",
        ),
        Command.reopen: _t(
            {S.closed}, {S.awaiting_resolution}, CSC, "reopen a closed complaint (with a reason)"
        ),
        Command.withdraw: _t(OPEN, {S.withdrawn}, SYSTEM_ONLY, "the customer withdrew"),
        Command.change_owner: _t(OPEN, set(), SYSTEM_ONLY, "retriage or reassignment"),
        Command.open_rectification: _t(OPEN, set(), None, "a rectification was opened"),
        Command.settle_rectification: _t(
            frozenset(CaseStatus) - {S.closed},
            {S.closed},
            None,
            "a rectification was verified or waived (the last one may close the case)",
            only_from={S.closed: {S.satisfied}},
        ),
    }
)


def _reachable() -> Mapping[CaseStatus, frozenset[CaseStatus]]:
    reach: dict[CaseStatus, set[CaseStatus]] = {status: set() for status in CaseStatus}
    for transition in TABLE.values():
        for source in transition.sources:
            reach[source] |= transition.leads(source) - {source}
    return MappingProxyType({status: frozenset(targets) for status, targets in reach.items()})


#: Status → the other statuses it can lead to (derived from :data:`TABLE`).
TRANSITIONS: Mapping[CaseStatus, frozenset[CaseStatus]] = _reachable()


class IllegalTransition(Conflict):
    """A command the table does not allow in the case's status; a 409."""

    code = "illegal_transition"

    def __init__(
        self,
        from_status: CaseStatus,
        to_status: CaseStatus | None = None,
        *,
        command: Command | None = None,
    ) -> None:
        if command is not None:
            allowed = ", ".join(sorted(TABLE[command].sources))
            message = (
                f"cannot {command.replace('_', ' ')} while the case is {from_status} "
                f"(only when {allowed})"
            )
        else:
            message = f"a case cannot go from {from_status} to {to_status}"
        super().__init__(message)
        self.from_status = from_status
        self.to_status = to_status
        self.command = command


class CaseConflict(Conflict):
    """The status allows the command but the case's state does not (a guard); a 409."""

    code = "case_conflict"


def check_transition(from_status: CaseStatus, to_status: CaseStatus) -> None:
    """Raise :class:`IllegalTransition` unless some command leads ``from → to``."""
    if to_status not in TRANSITIONS.get(from_status, frozenset()):
        raise IllegalTransition(from_status, to_status)


def check_command(command: Command, status: CaseStatus) -> Transition:
    """The table's row for ``command``, or :class:`IllegalTransition` if not legal now."""
    transition = TABLE[command]
    if status not in transition.sources:
        raise IllegalTransition(status, command=command)
    return transition


__all__ = [
    "ENDED",
    "OPEN",
    "OPENING_STATUS",
    "TABLE",
    "TRANSITIONS",
    "CaseConflict",
    "CaseStatus",
    "Command",
    "Grant",
    "IllegalTransition",
    "Transition",
    "check_command",
    "check_transition",
]
