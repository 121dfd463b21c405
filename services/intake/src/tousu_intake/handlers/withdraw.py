"""Withdrawing a complaint: status ``withdrawn`` and ``complaint.withdrawn`` in one
transaction. Routing stops its clocks, rectification closes the case as withdrawn,
notify counts it in its digests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from tousu_common.db import Database
from tousu_common.errors import InvalidInput, NotFound
from tousu_common.logs import bind
from tousu_intake.adapters.unit_of_work import unit_of_work

MAX_REASON = 2000


@dataclass(frozen=True)
class Withdrawal:
    complaint_id: UUID
    reference: str
    status: str
    reason: str
    by: str
    withdrawn_at: datetime


async def withdraw_complaint(
    db: Database, *, complaint_id: UUID, reason: str, by: str
) -> Withdrawal:
    """Raises NotFound for an unknown complaint, Conflict (409) if it is already
    withdrawn or closed — then nothing is written — and InvalidInput for a missing
    or oversized reason."""
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON:
        problem = "empty" if not reason else f"longer than {MAX_REASON} characters"
        raise InvalidInput.about("reason", problem)
    now = datetime.now(UTC)
    async with unit_of_work(db) as uow:
        # Locked until commit: two withdrawals at once give one event and one 409.
        complaint = await uow.complaints.get(complaint_id, for_update=True)
        if complaint is None:
            raise NotFound(f"complaint {complaint_id} does not exist")
        bind(complaint_id=str(complaint_id))
        event = complaint.withdraw(reason=reason, by=by, at=now)
        await uow.complaints.update(complaint)
    return Withdrawal(
        complaint_id=complaint.id,
        reference=complaint.reference,
        status=complaint.status,
        reason=event.reason,
        by=event.by,
        withdrawn_at=now,
    )
