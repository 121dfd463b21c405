"""The case's state machine: one table of legal transitions, one function that checks it.

The table below is the whole life of a case (SPEC §2.3 customer resolution,
§2.5 close): a plan is proposed, the customer accepts or rejects it (a
rejected plan is revised and proposed again), the accepted plan is carried
out, and the satisfaction callback (回访) either closes the case or, if the
customer is not satisfied, sends it back to work. A closed case can be
reopened and then goes back to work too. Guards that need more than the two
statuses (e.g. every rectification verified or waived before closing) belong
to the aggregate's methods, on top of this table.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from tousu_common.errors import Conflict


class CaseStatus(StrEnum):
    awaiting_resolution = "awaiting_resolution"  # investigating, preparing a plan
    resolution_proposed = "resolution_proposed"  # plan sent, waiting for the customer
    resolution_accepted = "resolution_accepted"
    resolution_rejected = "resolution_rejected"
    resolution_implemented = "resolution_implemented"  # repaired / replaced / refunded ...
    awaiting_callback = "awaiting_callback"  # satisfaction callback (回访) due
    closed = "closed"
    reopened = "reopened"


OPENING_STATUS = CaseStatus.awaiting_resolution

TRANSITIONS: Mapping[CaseStatus, frozenset[CaseStatus]] = MappingProxyType(
    {
        CaseStatus.awaiting_resolution: frozenset({CaseStatus.resolution_proposed}),
        CaseStatus.resolution_proposed: frozenset(
            {CaseStatus.resolution_accepted, CaseStatus.resolution_rejected}
        ),
        CaseStatus.resolution_rejected: frozenset({CaseStatus.resolution_proposed}),
        CaseStatus.resolution_accepted: frozenset({CaseStatus.resolution_implemented}),
        CaseStatus.resolution_implemented: frozenset({CaseStatus.awaiting_callback}),
        CaseStatus.awaiting_callback: frozenset(
            {CaseStatus.closed, CaseStatus.awaiting_resolution}
        ),
        CaseStatus.closed: frozenset({CaseStatus.reopened}),
        CaseStatus.reopened: frozenset({CaseStatus.awaiting_resolution}),
    }
)


class IllegalTransition(Conflict):
    """A status change the table does not allow; a caller's mistake, so a 409."""

    code = "illegal_transition"

    def __init__(self, from_status: CaseStatus, to_status: CaseStatus) -> None:
        super().__init__(f"a case cannot go from {from_status} to {to_status}")
        self.from_status = from_status
        self.to_status = to_status


def check_transition(from_status: CaseStatus, to_status: CaseStatus) -> None:
    """Raise :class:`IllegalTransition` unless ``from_status → to_status`` is in the table."""
    if to_status not in TRANSITIONS.get(from_status, frozenset()):
        raise IllegalTransition(from_status, to_status)
