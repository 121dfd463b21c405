"""The case aggregate: a complaint's customer resolution from opening to closing.

Every status change goes through :meth:`Case._move_to`, which checks the
transition table and records a :class:`StatusChanged`; ``status`` has no
setter, so nothing else can write it. Opening raises the public
:class:`CaseOpened` — the only place it is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid4

from tousu_common.events import (
    CaseOpened,
    ComplaintCategory,
    ComplaintTriaged,
    EventPayload,
    Urgency,
)
from tousu_rectification.domain.events import StatusChanged
from tousu_rectification.domain.status import OPENING_STATUS, CaseStatus, check_transition

SYSTEM_ACTOR = "system"

CaseEvent = EventPayload | StatusChanged


@dataclass(frozen=True)
class HistoryEntry:
    """One line of a case's history: the status it entered, when, and who moved it."""

    status: CaseStatus
    at: datetime
    by: str


class Case:
    def __init__(
        self,
        *,
        case_id: UUID,
        complaint_id: UUID,
        reference: str,
        status: CaseStatus,
        owner_department: str,
        category: ComplaintCategory,
        urgency: Urgency,
        opened_at: datetime,
        version: int = 1,
    ) -> None:
        self.case_id = case_id
        self.complaint_id = complaint_id
        self.reference = reference
        self._status = status
        self.owner_department = owner_department
        self.category = category
        self.urgency = urgency
        self.opened_at = opened_at
        # Bumped by the repository on every save; a stale copy cannot overwrite.
        self.version = version
        self.events: list[CaseEvent] = []

    def __repr__(self) -> str:
        return f"Case({self.case_id}, {self.reference}, {self.status})"

    @property
    def status(self) -> CaseStatus:
        return self._status

    @classmethod
    def open(cls, triaged: ComplaintTriaged, *, at: datetime, by: str = SYSTEM_ACTOR) -> Case:
        """Open the case for a triaged complaint, owned by the department triage chose."""
        case = cls(
            case_id=uuid4(),
            complaint_id=triaged.complaint_id,
            reference=triaged.reference,
            status=OPENING_STATUS,
            owner_department=triaged.owner_department,
            category=triaged.category,
            urgency=triaged.urgency,
            opened_at=at,
        )
        case.events.append(StatusChanged(case.case_id, None, OPENING_STATUS, at, by))
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
        return case

    # -- customer resolution (顾客解决方案) --------------------------------------

    def propose_resolution(self, *, by: str, at: datetime) -> None:
        """A plan (repair, replace, refund, ...) goes to the customer; also a revised one."""
        self._move_to(CaseStatus.resolution_proposed, by=by, at=at)

    def accept_resolution(self, *, by: str, at: datetime) -> None:
        self._move_to(CaseStatus.resolution_accepted, by=by, at=at)

    def reject_resolution(self, *, by: str, at: datetime) -> None:
        self._move_to(CaseStatus.resolution_rejected, by=by, at=at)

    def record_implementation(self, *, by: str, at: datetime) -> None:
        self._move_to(CaseStatus.resolution_implemented, by=by, at=at)

    def schedule_callback(self, *, by: str, at: datetime) -> None:
        self._move_to(CaseStatus.awaiting_callback, by=by, at=at)

    def record_dissatisfaction(self, *, by: str, at: datetime) -> None:
        """The customer is not satisfied on the callback: back to work on the resolution."""
        self._move_to(CaseStatus.awaiting_resolution, by=by, at=at)

    # -- closing -----------------------------------------------------------------

    def close(self, *, by: str, at: datetime) -> None:
        self._move_to(CaseStatus.closed, by=by, at=at)

    def reopen(self, *, by: str, at: datetime) -> None:
        self._move_to(CaseStatus.reopened, by=by, at=at)

    def resume(self, *, by: str, at: datetime) -> None:
        """A reopened case goes back to awaiting a resolution."""
        self._move_to(CaseStatus.awaiting_resolution, by=by, at=at)

    def _move_to(self, target: CaseStatus, *, by: str, at: datetime) -> None:
        check_transition(self._status, target)
        previous, self._status = self._status, target
        self.events.append(StatusChanged(self.case_id, previous, target, at, by))
