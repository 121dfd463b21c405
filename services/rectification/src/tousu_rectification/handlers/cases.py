"""Commands on a case, one function each: load, call the aggregate, check the
caller's version, save — inside the caller's unit of work (one transaction).

The aggregate decides first (403 for a role or department, 409 for the status
or a guard); only then a caller's ``If-Match`` version is compared (409
``stale_case``), and the save itself guards against a concurrent writer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from uuid import UUID
from zoneinfo import ZoneInfo

from tousu_common.events.catalog import Channel, CustomerDecision
from tousu_common.principal import Principal
from tousu_rectification.adapters.unit_of_work import CaseUnitOfWork, StaleCase
from tousu_rectification.domain.model import Case
from tousu_rectification.domain.plans import ActionDraft, checked_actions


async def _change(
    uow: CaseUnitOfWork,
    complaint_id: UUID,
    expected: int | None,
    change: Callable[[Case], object],
) -> Case:
    """Load, change, save; any refusal leaves everything as it was (the caller's
    transaction rolls back)."""
    case = await uow.cases.require(complaint_id)
    change(case)  # 403 / 409 as the aggregate decides, first
    if expected is not None and expected != case.version:
        raise StaleCase(
            f"the case is at version {case.version}, not {expected} (If-Match): "
            "someone changed it since you looked; reload it"
        )
    await uow.cases.save(case)
    return case


async def record_first_response(
    uow: CaseUnitOfWork,
    complaint_id: UUID,
    *,
    expected: int | None,
    channel: Channel | None,
    by: Principal,
    at: datetime,
) -> Case:
    return await _change(
        uow,
        complaint_id,
        expected,
        lambda case: case.record_first_response(by=by, at=at, channel=channel),
    )


async def start_customer_wait(
    uow: CaseUnitOfWork,
    complaint_id: UUID,
    *,
    expected: int | None,
    reason: str,
    by: Principal,
    at: datetime,
) -> Case:
    return await _change(
        uow,
        complaint_id,
        expected,
        lambda case: case.start_customer_wait(reason=reason, by=by, at=at),
    )


async def end_customer_wait(
    uow: CaseUnitOfWork, complaint_id: UUID, *, expected: int | None, by: Principal, at: datetime
) -> Case:
    return await _change(
        uow, complaint_id, expected, lambda case: case.end_customer_wait(by=by, at=at)
    )


async def propose_resolution(
    uow: CaseUnitOfWork,
    complaint_id: UUID,
    *,
    expected: int | None,
    actions: Sequence[ActionDraft],
    investigation: str,
    by: Principal,
    at: datetime,
) -> Case:
    """A new plan version; the plan's own rules (422) after the case is found (404),
    before the aggregate's checks."""
    today = at.astimezone(ZoneInfo(uow.cases.timezone)).date()
    return await _change(
        uow,
        complaint_id,
        expected,
        lambda case: case.propose_resolution(
            actions=checked_actions(actions, today=today),
            investigation=investigation,
            by=by,
            at=at,
        ),
    )


async def record_decision(
    uow: CaseUnitOfWork,
    complaint_id: UUID,
    *,
    expected: int | None,
    decision: CustomerDecision,
    plan_version: int | None,
    via: Channel,
    comment: str | None,
    by: Principal,
    at: datetime,
) -> Case:
    """The customer's answer to a plan, as an agent records it."""

    def decide(case: Case) -> None:
        if decision is CustomerDecision.accept:
            case.accept_resolution(
                by=by, at=at, plan_version=plan_version, via=via, comment=comment
            )
        else:
            case.reject_resolution(by=by, at=at, plan_version=plan_version, via=via, reason=comment)

    return await _change(uow, complaint_id, expected, decide)


async def complete_action(
    uow: CaseUnitOfWork,
    complaint_id: UUID,
    number: int,
    *,
    expected: int | None,
    note: str | None,
    by: Principal,
    at: datetime,
) -> Case:
    return await _change(
        uow,
        complaint_id,
        expected,
        lambda case: case.complete_action(number, by=by, at=at, note=note),
    )


async def record_callback(
    uow: CaseUnitOfWork,
    complaint_id: UUID,
    *,
    expected: int | None,
    score: int,
    comment: str,
    by: Principal,
    at: datetime,
) -> Case:
    return await _change(
        uow,
        complaint_id,
        expected,
        lambda case: case.record_callback(score=score, comment=comment, by=by, at=at),
    )


async def close(
    uow: CaseUnitOfWork, complaint_id: UUID, *, expected: int | None, by: Principal, at: datetime
) -> Case:
    return await _change(uow, complaint_id, expected, lambda case: case.close(by=by, at=at))


async def reopen(
    uow: CaseUnitOfWork,
    complaint_id: UUID,
    *,
    expected: int | None,
    reason: str,
    by: Principal,
    at: datetime,
) -> Case:
    return await _change(
        uow, complaint_id, expected, lambda case: case.reopen(reason=reason, by=by, at=at)
    )
