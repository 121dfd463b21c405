"""``/v1/cases``: the customer resolution of a complaint, from first response to closing.

Every write parses its body and calls one handler of ``handlers/cases.py`` in a
unit of work: it loads the case, lets the aggregate check role, department and
status (403 before 409), saves it with the optimistic lock (409 ``stale_case``
to the loser of a race) and stages its events in the outbox — one
transaction. Every answer is the whole case, history included.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from tousu_common.auth import Staff
from tousu_common.errors import ErrorBody
from tousu_common.events import Channel, ComplaintCategory, Urgency
from tousu_common.events.catalog import (
    CustomerDecision,
    CustomerTier,
    FeedbackAnswer,
    RectificationKind,
    ResolutionActionKind,
)
from tousu_common.paging import WHOLE_NUMBER
from tousu_common.patterns import IsoDate
from tousu_rectification.adapters.rectification_repository import RectificationRepository
from tousu_rectification.adapters.repository import CaseRepository
from tousu_rectification.api.deps import unit_of_work
from tousu_rectification.domain.model import Case, HistoryEntry, Plan
from tousu_rectification.domain.permissions import case_worklist_department
from tousu_rectification.domain.status import CaseStatus
from tousu_rectification.handlers import cases

router = APIRouter(prefix="/v1/cases", tags=["cases"])


CaseId = Annotated[UUID, Path(description="The complaint's id (one case per complaint)")]

_WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"model": ErrorBody, "description": "Your role or department may not do this"},
    404: {"model": ErrorBody, "description": "No case for the complaint (yet)"},
    409: {
        "model": ErrorBody,
        "description": "Not legal in the case's status (`illegal_transition`), a guard "
        "(`case_conflict`, `close_conditions_unmet` listing each unmet condition in "
        "`fields`), or someone changed the case at the same moment (`stale_case`)",
    },
}


#: The case version, bare or as an entity tag (weak or strong): what the service accepts.
IF_MATCH_PATTERN = r'^(W/)?"?[0-9]{1,15}"?$'


async def _expected_version(
    if_match: Annotated[
        str | None,
        Header(
            alias="If-Match",
            pattern=IF_MATCH_PATTERN,
            description='Optional: the case `version` you looked at (`3`, `"3"` or '
            '`W/"3"`); 409 stale_case if it moved',
        ),
    ] = None,
) -> int | None:
    # The pattern (in the document too) has already refused anything else.
    return None if if_match is None else int(if_match.removeprefix("W/").strip('"'))


ExpectedVersion = Annotated[int | None, Depends(_expected_version)]


# -- views -------------------------------------------------------------------


class HistoryView(BaseModel):
    action: str | None = Field(description="What happened (mostly the event type it emitted)")
    status: CaseStatus = Field(description="The status after it")
    from_status: CaseStatus | None
    at: datetime
    by: str
    detail: str | None


class ActionView(BaseModel):
    number: int
    kind: ResolutionActionKind
    description: str
    due_date: date
    amount: Decimal | None
    currency: str | None
    done_at: datetime | None
    done_by: str | None
    note: str | None


class PlanView(BaseModel):
    plan_version: int
    investigation: str
    proposed_at: datetime
    proposed_by: str
    decision: CustomerDecision | None
    decided_at: datetime | None
    decided_by: str | None
    via: str | None
    comment: str | None
    actions: list[ActionView]


class Condition(BaseModel):
    field: str
    problem: str


class FeedbackView(BaseModel):
    """One rectification whose plan and result were fed back to the customer, and the
    customer's answer (none yet: ``answer`` null)."""

    rectification_id: UUID
    number: str
    kind: RectificationKind
    sent_at: datetime
    answer: FeedbackAnswer | None
    answered_at: datetime | None
    via: Channel | None


class CaseView(BaseModel):
    case_id: UUID
    complaint_id: UUID
    reference: str
    status: CaseStatus
    owner_department: str
    category: ComplaintCategory
    urgency: Urgency
    customer_tier: CustomerTier
    opened_at: datetime
    received_at: datetime | None
    first_response_due: datetime | None
    resolution_plan_due: datetime | None
    first_response_at: datetime | None
    resolution_proposed_at: datetime | None
    resolution_accepted_at: datetime | None
    implemented_at: datetime | None
    callback_at: datetime | None
    satisfaction_score: int | None
    closed_at: datetime | None
    waiting_on_customer: bool
    waiting_since: datetime | None
    wait_reason: str | None
    plan_version: int
    open_rectifications: int
    rectifications_total: int
    rectifications_waived: int
    reopen_count: int
    feedback_requested: bool
    feedback_requested_at: datetime | None = Field(
        description="When the customer asked for the rectification feedback (at filing or later)"
    )
    feedback_requested_via: str | None
    feedback: list[FeedbackView] = Field(
        description="Rectifications fed back to the customer, with their confirmation"
    )
    next_due_at: datetime | None
    next_due_what: str | None
    close_conditions_unmet: list[Condition] = Field(
        description="What stands between the case and closing (empty once closed or ready)"
    )
    version: int = Field(description="Bumped by every change (optimistic lock)")
    plans: list[PlanView]
    history: list[HistoryView]


class CaseSummary(BaseModel):
    case_id: UUID
    complaint_id: UUID
    reference: str
    status: CaseStatus
    owner_department: str
    category: ComplaintCategory
    urgency: Urgency
    opened_at: datetime
    waiting_on_customer: bool
    open_rectifications: int
    next_due_at: datetime | None
    next_due_what: str | None = Field(
        description="first_response, resolution_plan, action:<n>, plan, revised_plan, "
        "customer_decision or callback"
    )
    overdue: bool
    due_soon: bool


class Worklist(BaseModel):
    items: list[CaseSummary]
    total: int
    limit: int
    offset: int


# -- requests ----------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


_AMOUNT = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,2})?$")


def _amount_as_documented(value: Any) -> Any:
    """pydantic alone reads ``true``, ``"1e2"`` or ``" 5"`` as amounts; the document
    says a number, or a string of digits with at most two decimals."""
    if isinstance(value, bool) or (isinstance(value, str) and not _AMOUNT.match(value)):
        raise ValueError("must be an amount such as 1200 or 1200.50")
    return value


#: A money amount: 0 to 999,999,999,999.99, at most two decimals (number or string).
Amount = Annotated[
    Decimal,
    BeforeValidator(_amount_as_documented),
    Field(ge=0, max_digits=14, decimal_places=2),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0, "maximum": 999_999_999_999.99, "multipleOf": 0.01},
                {"type": "string", "pattern": _AMOUNT.pattern},
            ],
            "description": "0 to 999999999999.99, at most two decimals",
        }
    ),
]


class MoneyActionIn(_Strict):
    """Compensation or refund: an amount and its currency."""

    kind: Literal["compensation", "refund"]
    description: str = Field(min_length=1, max_length=2000)
    due_date: IsoDate = Field(description="Today or later (the company's time zone)")
    amount: Amount
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. CNY")


class ServiceActionIn(_Strict):
    """Repair, replacement, redelivery or an explanation: no money."""

    kind: Literal["repair", "replace", "redeliver", "explanation"]
    description: str = Field(min_length=1, max_length=2000)
    due_date: IsoDate = Field(description="Today or later (the company's time zone)")


#: The kind says whether money is involved: one schema each, so the document says it.
ActionIn = Annotated[MoneyActionIn | ServiceActionIn, Field(discriminator="kind")]


class ProposalIn(_Strict):
    investigation: str = Field(default="", max_length=20_000)
    actions: list[ActionIn] = Field(min_length=1, max_length=50)


class DecisionIn(_Strict):
    decision: CustomerDecision
    plan_version: int | None = Field(
        default=None,
        ge=1,
        le=2**31 - 1,
        description="The plan the customer answered (default: the current)",
    )
    via: Channel = Field(default=Channel.hotline, description="How the customer answered")
    comment: str | None = Field(default=None, max_length=5000)


class FirstResponseIn(_Strict):
    channel: Channel | None = None


class WaitIn(_Strict):
    reason: str = Field(min_length=1, max_length=2000)


class ActionDoneIn(_Strict):
    note: str | None = Field(default=None, max_length=2000)


class CallbackIn(_Strict):
    score: int = Field(ge=1, le=5, description="1–5; 4 and 5 count as satisfied")
    comment: str = Field(default="", max_length=5000)


class ReopenIn(_Strict):
    reason: str = Field(min_length=1, max_length=5000)


# -- routes ------------------------------------------------------------------


@router.get(
    "",
    response_model=Worklist,
    summary="Worklist: open cases of a department, what is due soonest first",
)
async def worklist(
    request: Request,
    principal: Staff,
    department: Annotated[
        str | None,
        Query(max_length=50, description="Default: your own department"),
    ] = None,
    all_departments: Annotated[
        bool, Query(description="Every department (csc, manager, agent, service)")
    ] = False,
    due: Annotated[
        Literal["all", "overdue", "due_soon"],
        Query(description="overdue: past due; due_soon: due within due_soon_hours"),
    ] = "all",
    limit: Annotated[int, Query(ge=1, le=200), WHOLE_NUMBER] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000), WHOLE_NUMBER] = 0,
) -> Worklist:
    scope = case_worklist_department(
        principal, department=department, all_departments=all_departments
    )
    now = datetime.now(UTC)
    soon = now + timedelta(hours=request.app.state.settings.due_soon_hours)
    window = {"all": (None, None), "overdue": (now, None), "due_soon": (soon, now)}[due]
    async with request.app.state.db.sessions() as session:
        total, rows = await CaseRepository(session).worklist(
            department=scope, due_before=window[0], due_after=window[1], limit=limit, offset=offset
        )
    return Worklist(
        items=[
            CaseSummary(
                case_id=row.case_id,
                complaint_id=row.complaint_id,
                reference=row.reference,
                status=CaseStatus(row.status),
                owner_department=row.owner_department,
                category=ComplaintCategory(row.category),
                urgency=Urgency(row.urgency),
                opened_at=row.opened_at,
                waiting_on_customer=row.waiting_since is not None,
                open_rectifications=row.open_rectifications,
                next_due_at=row.next_due_at,
                next_due_what=row.next_due_what,
                overdue=row.next_due_at is not None and row.next_due_at <= now,
                due_soon=row.next_due_at is not None and now < row.next_due_at <= soon,
            )
            for row in rows
        ],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get(
    "/{complaint_id}",
    response_model=CaseView,
    summary="A complaint's case: status, plans, actions, timings and full history",
    responses={404: {"model": ErrorBody, "description": "No case is open for the complaint (yet)"}},
)
async def get_case(request: Request, complaint_id: CaseId, principal: Staff) -> CaseView:
    return await _view(request, complaint_id)


@router.post(
    "/{complaint_id}/first-response",
    response_model=CaseView,
    summary="Record that the customer heard from a person (stops the first-response clock)",
    responses=_WRITE_ERRORS,
)
async def record_first_response(
    request: Request,
    complaint_id: CaseId,
    principal: Staff,
    expected: ExpectedVersion,
    body: Annotated[FirstResponseIn | None, Body()] = None,
) -> CaseView:
    channel = body.channel if body else None
    async with unit_of_work(request) as uow:
        await cases.record_first_response(
            uow, complaint_id, expected=expected, channel=channel, by=principal, at=_now()
        )
    return await _view(request, complaint_id)


@router.post(
    "/{complaint_id}/customer-wait",
    response_model=CaseView,
    summary="Start waiting on the customer (SLA clocks pause)",
    responses=_WRITE_ERRORS,
)
async def start_customer_wait(
    request: Request,
    complaint_id: CaseId,
    principal: Staff,
    expected: ExpectedVersion,
    body: WaitIn,
) -> CaseView:
    async with unit_of_work(request) as uow:
        await cases.start_customer_wait(
            uow, complaint_id, expected=expected, reason=body.reason, by=principal, at=_now()
        )
    return await _view(request, complaint_id)


@router.post(
    "/{complaint_id}/customer-wait/end",
    response_model=CaseView,
    summary="The customer answered (SLA clocks resume)",
    responses=_WRITE_ERRORS,
)
async def end_customer_wait(
    request: Request, complaint_id: CaseId, principal: Staff, expected: ExpectedVersion
) -> CaseView:
    async with unit_of_work(request) as uow:
        await cases.end_customer_wait(uow, complaint_id, expected=expected, by=principal, at=_now())
    return await _view(request, complaint_id)


@router.post(
    "/{complaint_id}/resolution",
    response_model=CaseView,
    summary="Propose a resolution plan (a revised one after a rejection): a new plan version",
    responses=_WRITE_ERRORS,
)
async def propose_resolution(
    request: Request,
    complaint_id: CaseId,
    principal: Staff,
    expected: ExpectedVersion,
    body: ProposalIn,
) -> CaseView:
    # The case first (404 for one that does not exist), then the plan's rules.
    async with unit_of_work(request) as uow:
        await cases.propose_resolution(
            uow,
            complaint_id,
            expected=expected,
            actions=body.actions,
            investigation=body.investigation,
            by=principal,
            at=_now(),
        )
    return await _view(request, complaint_id)


@router.post(
    "/{complaint_id}/resolution/decision",
    response_model=CaseView,
    summary="The customer accepted or rejected the plan (recorded by an agent)",
    responses=_WRITE_ERRORS,
)
async def record_decision(
    request: Request,
    complaint_id: CaseId,
    principal: Staff,
    expected: ExpectedVersion,
    body: DecisionIn,
) -> CaseView:
    async with unit_of_work(request) as uow:
        await cases.record_decision(
            uow,
            complaint_id,
            expected=expected,
            decision=body.decision,
            plan_version=body.plan_version,
            via=body.via,
            comment=body.comment,
            by=principal,
            at=_now(),
        )
    return await _view(request, complaint_id)


@router.post(
    "/{complaint_id}/actions/{number}/done",
    response_model=CaseView,
    summary="Mark one action of the accepted plan done (the last one: implemented)",
    responses=_WRITE_ERRORS,
)
async def complete_action(
    request: Request,
    complaint_id: CaseId,
    number: Annotated[int, Path(ge=1, le=50, description="The action's number in the plan")],
    principal: Staff,
    expected: ExpectedVersion,
    body: Annotated[ActionDoneIn | None, Body()] = None,
) -> CaseView:
    note = body.note if body else None
    async with unit_of_work(request) as uow:
        await cases.complete_action(
            uow, complaint_id, number, expected=expected, note=note, by=principal, at=_now()
        )
    return await _view(request, complaint_id)


@router.post(
    "/{complaint_id}/callback",
    response_model=CaseView,
    summary="Record the satisfaction callback (回访): 4–5 satisfied, 1–3 reopens the resolution",
    responses=_WRITE_ERRORS,
)
async def record_callback(
    request: Request,
    complaint_id: CaseId,
    principal: Staff,
    expected: ExpectedVersion,
    body: CallbackIn,
) -> CaseView:
    async with unit_of_work(request) as uow:
        await cases.record_callback(
            uow,
            complaint_id,
            expected=expected,
            score=body.score,
            comment=body.comment,
            by=principal,
            at=_now(),
        )
    return await _view(request, complaint_id)


@router.post(
    "/{complaint_id}/close",
    response_model=CaseView,
    summary="Close the complaint (CSC); 409 lists every unmet condition",
    responses=_WRITE_ERRORS,
)
async def close_case(
    request: Request, complaint_id: CaseId, principal: Staff, expected: ExpectedVersion
) -> CaseView:
    async with unit_of_work(request) as uow:
        await cases.close(uow, complaint_id, expected=expected, by=principal, at=_now())
    return await _view(request, complaint_id)


@router.post(
    "/{complaint_id}/reopen",
    response_model=CaseView,
    summary="Reopen a closed complaint (CSC, with a reason): back to investigating",
    responses=_WRITE_ERRORS,
)
async def reopen_case(
    request: Request,
    complaint_id: CaseId,
    principal: Staff,
    expected: ExpectedVersion,
    body: ReopenIn,
) -> CaseView:
    async with unit_of_work(request) as uow:
        await cases.reopen(
            uow, complaint_id, expected=expected, reason=body.reason, by=principal, at=_now()
        )
    return await _view(request, complaint_id)


# -- helpers -------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


async def _view(request: Request, complaint_id: UUID) -> CaseView:
    settings = request.app.state.settings
    async with request.app.state.db.sessions() as session:
        cases = CaseRepository(session, timezone=settings.timezone)
        case = await cases.require(complaint_id)
        history = await cases.history(case.case_id)
        plans = await cases.plans(case.case_id)
        # Every rectification counted itself on the case when it was opened (same
        # transaction): with none counted, as on most cases, there are none to read.
        rects = (
            await RectificationRepository(session).for_complaint(complaint_id)
            if case.rectifications_total
            else []
        )
    feedback = [
        FeedbackView(
            rectification_id=rect.rectification_id,
            number=rect.number,
            kind=rect.kind,
            sent_at=rect.feedback_sent_at,
            answer=rect.feedback_answer,
            answered_at=rect.feedback_answered_at,
            via=rect.feedback_answer_via,
        )
        for rect in rects
        if rect.feedback_sent_at is not None
    ]
    return _case_view(case, plans, history, feedback)


def _case_view(
    case: Case, plans: list[Plan], history: list[HistoryEntry], feedback: list[FeedbackView]
) -> CaseView:
    unmet = [] if case.status is CaseStatus.closed else case.unmet_close_conditions()
    return CaseView(
        case_id=case.case_id,
        complaint_id=case.complaint_id,
        reference=case.reference,
        status=case.status,
        owner_department=case.owner_department,
        category=case.category,
        urgency=case.urgency,
        customer_tier=case.customer_tier,
        opened_at=case.opened_at,
        received_at=case.received_at,
        first_response_due=case.first_response_due,
        resolution_plan_due=case.resolution_plan_due,
        first_response_at=case.first_response_at,
        resolution_proposed_at=case.resolution_proposed_at,
        resolution_accepted_at=case.resolution_accepted_at,
        implemented_at=case.implemented_at,
        callback_at=case.callback_at,
        satisfaction_score=case.satisfaction_score,
        closed_at=case.closed_at,
        waiting_on_customer=case.waiting_on_customer,
        waiting_since=case.waiting_since,
        wait_reason=case.wait_reason,
        plan_version=case.plan_version,
        open_rectifications=case.open_rectifications,
        rectifications_total=case.rectifications_total,
        rectifications_waived=case.rectifications_waived,
        reopen_count=case.reopen_count,
        feedback_requested=case.feedback_requested,
        feedback_requested_at=case.feedback_requested_at,
        feedback_requested_via=case.feedback_requested_via,
        feedback=feedback,
        next_due_at=case.next_due_at,
        next_due_what=case.next_due_what,
        close_conditions_unmet=[Condition(**item) for item in unmet],
        version=case.version,
        plans=[
            PlanView(
                plan_version=plan.version,
                investigation=plan.investigation,
                proposed_at=plan.proposed_at,
                proposed_by=plan.proposed_by,
                decision=plan.decision,
                decided_at=plan.decided_at,
                decided_by=plan.decided_by,
                via=plan.via,
                comment=plan.comment,
                actions=[
                    ActionView(
                        number=action.position,
                        kind=action.kind,
                        description=action.description,
                        due_date=action.due_date,
                        amount=action.amount,
                        currency=action.currency,
                        done_at=action.done_at,
                        done_by=action.done_by,
                        note=action.note,
                    )
                    for action in plan.actions
                ],
            )
            for plan in plans
        ],
        history=[
            HistoryView(
                action=entry.action,
                status=entry.status,
                from_status=entry.from_status,
                at=entry.at,
                by=entry.by,
                detail=entry.detail,
            )
            for entry in history
        ],
    )
