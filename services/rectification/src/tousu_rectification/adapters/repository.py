"""Loading and saving cases; the only module here that writes SQL for them.

The statements every event and command runs are built once, below, from the
tables (SQLAlchemy Core) and executed with their values as parameters: building
a statement and its cache key on every call, and the ORM's identity map and
flush, were a third of the service's CPU per complaint. Loading a case is one
statement (its row, what intake said of the complaint, the current plan and its
actions); saving it is one ``UPDATE`` guarded by the version it was loaded at,
plus the rows it added. Only the worklist, a read of many cases, maps ORM rows.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from tousu_common.errors import Conflict, NotFound
from tousu_common.events import new_event
from tousu_common.events.catalog import (
    Channel,
    ComplaintCategory,
    CustomerDecision,
    CustomerTier,
    EventPayload,
    ResolutionActionKind,
    ResolutionDecisionReceived,
    Urgency,
)
from tousu_common.messaging.outbox import add_event
from tousu_rectification.adapters.orm import Base, CaseRow
from tousu_rectification.domain.events import HistoryRecorded
from tousu_rectification.domain.model import (
    DEFAULT_TIMEZONE,
    Case,
    HistoryEntry,
    Plan,
    PlanAction,
)
from tousu_rectification.domain.status import ENDED, CaseStatus

SOURCE = "tousu/rectification"


class StaleCase(Conflict):
    """Someone else saved the case since it was loaded; reload and try again."""

    code = "stale_case"


# Columns copied between the aggregate and its row as they are.
_PLAIN = (
    "owner_department",
    "first_response_due",
    "resolution_plan_due",
    "first_response_at",
    "resolution_proposed_at",
    "resolution_accepted_at",
    "implemented_at",
    "callback_at",
    "satisfaction_score",
    "closed_at",
    "plan_version",
    "waiting_since",
    "wait_reason",
    "open_rectifications",
    "rectifications_total",
    "rectifications_waived",
    "reopen_count",
    "next_due_at",
    "next_due_what",
)

# -- the statements (built once) ---------------------------------------------------

_cases = Base.metadata.tables["cases"]
_history = Base.metadata.tables["case_history"]
_plans = Base.metadata.tables["resolution_plans"]
_actions = Base.metadata.tables["resolution_actions"]
_facts = Base.metadata.tables["complaint_facts"]
_pending = Base.metadata.tables["pending_decisions"]

_complaint_id = sa.bindparam("complaint_id", type_=sa.Uuid())
_case_id = sa.bindparam("case_id", type_=sa.Uuid())

# A plan's and an action's columns under names of their own ("plan_decision",
# "action_note"), so that one row can carry a case, its plan and one action.
_PLAN_COLUMNS = [
    column.label(f"plan_{column.name}") for column in _plans.c if column.name != "case_id"
]
_ACTION_COLUMNS = [
    column.label(f"action_{column.name}")
    for column in _actions.c
    if column.name not in ("id", "case_id", "plan_version")
]
_ACTIONS_OF_PLAN = sa.and_(
    _actions.c.case_id == _plans.c.case_id, _actions.c.plan_version == _plans.c.plan_version
)

#: The whole aggregate in one statement: one row per action of the current plan (one
#: row when there is no plan), the complaint's facts beside it (none before
#: complaint.received arrived).
_LOAD_CASE = (
    sa.select(
        _cases,
        _facts.c.received_at,
        _facts.c.feedback_requested,
        _facts.c.feedback_requested_at,
        _facts.c.feedback_requested_via,
        *_PLAN_COLUMNS,
        *_ACTION_COLUMNS,
    )
    .select_from(
        _cases.outerjoin(_facts, _facts.c.complaint_id == _cases.c.complaint_id)
        .outerjoin(
            _plans,
            sa.and_(
                _plans.c.case_id == _cases.c.case_id,
                _plans.c.plan_version == _cases.c.plan_version,
            ),
        )
        .outerjoin(_actions, _ACTIONS_OF_PLAN)
    )
    .where(_cases.c.complaint_id == _complaint_id)
    .order_by(_actions.c.position)
)

#: Every plan of a case with its actions, oldest first (the case view).
_PLANS = (
    sa.select(*_PLAN_COLUMNS, *_ACTION_COLUMNS)
    .select_from(_plans.outerjoin(_actions, _ACTIONS_OF_PLAN))
    .where(_plans.c.case_id == _case_id)
    .order_by(_plans.c.plan_version, _actions.c.position)
)

_HISTORY = (
    sa.select(
        _history.c.status,
        _history.c.at,
        _history.c.actor,
        _history.c.action,
        _history.c.from_status,
        _history.c.detail,
    )
    .where(_history.c.case_id == _case_id)
    .order_by(_history.c.at, _history.c.id)
)

_FACTS = sa.select(_facts).where(_facts.c.complaint_id == _complaint_id)

#: What opening a case asks first, in one statement: is there a case already, was the
#: complaint withdrawn, are customer decisions waiting for it.
_OPENING = sa.select(
    sa.exists().where(_cases.c.complaint_id == _complaint_id).label("case_exists"),
    sa.select(_facts.c.withdrawn_at)
    .where(_facts.c.complaint_id == _complaint_id)
    .scalar_subquery()
    .label("withdrawn_at"),
    sa.exists().where(_pending.c.complaint_id == _complaint_id).label("decisions_kept"),
)

_PENDING = (
    sa.select(_pending)
    .where(_pending.c.complaint_id == _complaint_id)
    .order_by(_pending.c.decided_at, _pending.c.event_id)
)
# By event id, not complaint: on PostgreSQL one kept after the SELECT above stays kept.
_DROP_PENDING = _pending.delete().where(
    _pending.c.event_id.in_(sa.bindparam("event_ids", expanding=True))
)

_INSERT_CASE = sa.insert(_cases)
_INSERT_HISTORY = sa.insert(_history)
_INSERT_PLAN = sa.insert(_plans)
_INSERT_ACTIONS = sa.insert(_actions)

_SAVED = ("status", "category", "urgency", "customer_tier", "version", *_PLAIN)
#: The optimistic lock: a copy loaded at another version matches no row.
_SAVE_CASE = (
    sa.update(_cases)
    .where(
        _cases.c.case_id == sa.bindparam("key_case_id"),
        _cases.c.version == sa.bindparam("loaded_version"),
    )
    .values({name: sa.bindparam(name) for name in _SAVED})
    .returning(_cases.c.version)
)
_DECIDE_PLAN = (
    sa.update(_plans)
    .where(
        _plans.c.case_id == sa.bindparam("key_case_id"),
        _plans.c.plan_version == sa.bindparam("key_plan_version"),
    )
    .values(
        {
            name: sa.bindparam(name)
            for name in ("decision", "decided_at", "decided_by", "decision_via", "decision_comment")
        }
    )
)
_COMPLETE_ACTION = (
    sa.update(_actions)
    .where(
        _actions.c.case_id == sa.bindparam("key_case_id"),
        _actions.c.plan_version == sa.bindparam("key_plan_version"),
        _actions.c.position == sa.bindparam("key_position"),
    )
    .values({name: sa.bindparam(name) for name in ("done_at", "done_by", "note")})
)


def _insert_for(dialect: str) -> Any:
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


@functools.cache
def _record_facts_statement(dialect: str, names: tuple[str, ...]) -> sa.Executable:
    """Insert the complaint's facts, or set ``names`` on the ones already kept (an upsert:
    one statement, and no lost write between a read and an insert). One per dialect and
    set of names, built the first time it is needed."""
    insert = _insert_for(dialect)(_facts)
    if not names:
        return insert.on_conflict_do_nothing(index_elements=["complaint_id"])
    return insert.on_conflict_do_update(
        index_elements=["complaint_id"], set_={name: insert.excluded[name] for name in names}
    )


@functools.cache
def _keep_pending_statement(dialect: str) -> sa.Executable:
    """Keep a decision once: a redelivery of the same event adds nothing."""
    return _insert_for(dialect)(_pending).on_conflict_do_nothing(index_elements=["event_id"])


@dataclass(frozen=True)
class ComplaintFacts:
    complaint_id: UUID
    reference: str
    received_at: datetime | None
    channel: str | None
    customer_tier: str | None
    feedback_requested: bool
    withdrawn_at: datetime | None
    feedback_requested_at: datetime | None = None
    feedback_requested_via: str | None = None


@dataclass(frozen=True)
class Opening:
    """What opening a case for a complaint must know first (:meth:`CaseRepository.opening`)."""

    case_exists: bool
    withdrawn: bool
    decisions_kept: bool


class CaseRepository:
    def __init__(self, session: AsyncSession, *, timezone: str = DEFAULT_TIMEZONE) -> None:
        self.session = session
        self.timezone = timezone
        self._dialect = session.bind.dialect.name if session.bind else "sqlite"

    # -- writing -------------------------------------------------------------

    async def add(self, case: Case) -> None:
        """Store a new case and what it raised, in the caller's transaction."""
        case.refresh_next_due()
        await self.session.execute(
            _INSERT_CASE,
            {
                "case_id": case.case_id,
                "complaint_id": case.complaint_id,
                "reference": case.reference,
                "status": case.status.value,
                "category": case.category.value,
                "urgency": case.urgency.value,
                "opened_at": case.opened_at,
                "version": case.version,
                "customer_tier": case.customer_tier.value,
                "channel": case.channel.value if case.channel else None,
                **{name: getattr(case, name) for name in _PLAIN},
            },
        )
        await self._write_plan(case)
        await self._record_events(case)

    async def save(self, case: Case) -> None:
        """Store a changed case, unless it changed in the database since it was loaded
        (then :class:`StaleCase`, a 409, and the caller's transaction rolls back)."""
        case.refresh_next_due()
        saved_version = (
            await self.session.execute(
                _SAVE_CASE,
                {
                    "key_case_id": case.case_id,
                    "loaded_version": case.version,
                    "status": case.status.value,
                    "category": case.category.value,
                    "urgency": case.urgency.value,
                    "customer_tier": case.customer_tier.value,
                    "version": case.version + 1,
                    **{name: getattr(case, name) for name in _PLAIN},
                },
            )
        ).scalar()
        if saved_version is None:
            raise StaleCase(
                f"case {case.case_id} was changed by someone else at the same time; "
                "nothing was saved — reload it and try again"
            )
        case.version = saved_version
        await self._write_plan(case)
        await self._record_events(case)

    async def publish(self, payload: EventPayload) -> None:
        """Stage a public event in the outbox, in this transaction."""
        await add_event(self.session, new_event(payload, source=SOURCE))

    # -- reading -------------------------------------------------------------

    async def get_by_complaint(self, complaint_id: UUID) -> Case | None:
        rows = (await self.session.execute(_LOAD_CASE, {"complaint_id": complaint_id})).all()
        return self._to_case(rows) if rows else None

    async def require(self, complaint_id: UUID) -> Case:
        """The complaint's case, or :class:`NotFound` (404)."""
        case = await self.get_by_complaint(complaint_id)
        if case is None:
            raise NotFound(f"no case for complaint {complaint_id}")
        return case

    async def opening(self, complaint_id: UUID) -> Opening:
        """Whether the complaint has a case, was withdrawn, has customer decisions kept
        for its case — one statement, where opening a case would otherwise ask three."""
        row = (await self.session.execute(_OPENING, {"complaint_id": complaint_id})).one()
        return Opening(
            case_exists=bool(row.case_exists),
            withdrawn=row.withdrawn_at is not None,
            decisions_kept=bool(row.decisions_kept),
        )

    async def history(self, case_id: UUID) -> list[HistoryEntry]:
        """Every transition of the case, oldest first."""
        rows = await self.session.execute(_HISTORY, {"case_id": case_id})
        return [
            HistoryEntry(
                status=CaseStatus(row.status),
                at=row.at,
                by=row.actor,
                action=row.action,
                from_status=CaseStatus(row.from_status) if row.from_status else None,
                detail=row.detail,
            )
            for row in rows
        ]

    async def plans(self, case_id: UUID) -> list[Plan]:
        """Every plan proposed on the case, oldest first, with its actions."""
        rows = (await self.session.execute(_PLANS, {"case_id": case_id})).all()
        by_version: dict[int, list[Any]] = {}
        for row in rows:
            by_version.setdefault(row.plan_plan_version, []).append(row)
        return [_to_plan(plan_rows) for plan_rows in by_version.values()]

    async def facts(self, complaint_id: UUID) -> ComplaintFacts | None:
        row = (await self.session.execute(_FACTS, {"complaint_id": complaint_id})).first()
        if row is None:
            return None
        return ComplaintFacts(
            complaint_id=row.complaint_id,
            reference=row.reference,
            received_at=row.received_at,
            channel=row.channel,
            customer_tier=row.customer_tier,
            feedback_requested=row.feedback_requested,
            withdrawn_at=row.withdrawn_at,
            feedback_requested_at=row.feedback_requested_at,
            feedback_requested_via=row.feedback_requested_via,
        )

    async def record_facts(
        self,
        complaint_id: UUID,
        reference: str,
        **values: object,
    ) -> None:
        """Insert or update what intake told about the complaint: ``values`` are set,
        other columns kept (a new row starts without the customer's feedback wish)."""
        statement = _record_facts_statement(self._dialect, tuple(sorted(values)))
        await self.session.execute(
            statement,
            {
                "complaint_id": complaint_id,
                "reference": reference,
                "feedback_requested": False,
                **values,
            },
        )

    async def keep_pending_decision(
        self, event_id: str, decision: ResolutionDecisionReceived, *, at: datetime
    ) -> None:
        """Keep a customer's answer whose case does not exist yet (a redelivery of the
        same event finds its row and adds nothing)."""
        await self.session.execute(
            _keep_pending_statement(self._dialect),
            {
                "event_id": event_id,
                "complaint_id": decision.complaint_id,
                "reference": decision.reference,
                "plan_version": decision.plan_version,
                "decision": decision.decision.value,
                "via": decision.via.value,
                "comment": decision.comment,
                "decided_at": decision.decided_at,
                "kept_at": at,
            },
        )

    async def take_pending_decisions(self, complaint_id: UUID) -> list[ResolutionDecisionReceived]:
        """The answers kept for the complaint, oldest first, removed in this transaction."""
        rows = (await self.session.execute(_PENDING, {"complaint_id": complaint_id})).all()
        if rows:
            await self.session.execute(_DROP_PENDING, {"event_ids": [row.event_id for row in rows]})
        return [
            ResolutionDecisionReceived(
                complaint_id=row.complaint_id,
                reference=row.reference,
                plan_version=row.plan_version,
                decision=CustomerDecision(row.decision),
                comment=row.comment,
                via=Channel(row.via),
                decided_at=row.decided_at,
            )
            for row in rows
        ]

    async def worklist(
        self,
        *,
        department: str | None,
        due_before: datetime | None = None,
        due_after: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[int, list[CaseRow]]:
        """Open cases (of ``department``), what is due soonest first; and their total."""
        where = [CaseRow.status.not_in([status.value for status in ENDED])]
        if department is not None:
            where.append(CaseRow.owner_department == department)
        if due_before is not None:
            where.append(CaseRow.next_due_at <= due_before)
        if due_after is not None:
            where.append(CaseRow.next_due_at > due_after)
        total = await self.session.scalar(
            sa.select(sa.func.count()).select_from(CaseRow).where(*where)
        )
        rows = await self.session.scalars(
            sa.select(CaseRow)
            .where(*where)
            .order_by(
                CaseRow.next_due_at.is_(None),
                CaseRow.next_due_at,
                CaseRow.opened_at,
                CaseRow.case_id,
            )
            .limit(limit)
            .offset(offset)
        )
        return int(total or 0), list(rows)

    # -- internals -----------------------------------------------------------

    def _to_case(self, rows: Sequence[Any]) -> Case:
        row = rows[0]
        return Case(
            case_id=row.case_id,
            complaint_id=row.complaint_id,
            reference=row.reference,
            status_=CaseStatus(row.status),
            category=ComplaintCategory(row.category),
            urgency=Urgency(row.urgency),
            opened_at=row.opened_at,
            version=row.version,
            customer_tier=CustomerTier(row.customer_tier),
            channel=Channel(row.channel) if row.channel else None,
            plan=_to_plan(rows) if row.plan_plan_version is not None else None,
            received_at=row.received_at,
            feedback_requested=bool(row.feedback_requested),  # None: no facts yet
            feedback_requested_at=row.feedback_requested_at,
            feedback_requested_via=row.feedback_requested_via,
            timezone=self.timezone,
            **{name: getattr(row, name) for name in _PLAIN},
        )

    async def _write_plan(self, case: Case) -> None:
        plan = case.plan
        if plan is None:
            return
        if plan.new:
            await self.session.execute(
                _INSERT_PLAN,
                {
                    "case_id": case.case_id,
                    "plan_version": plan.version,
                    "investigation": plan.investigation,
                    "proposed_at": plan.proposed_at,
                    "proposed_by": plan.proposed_by,
                },
            )
            await self.session.execute(
                _INSERT_ACTIONS,
                [
                    {
                        "case_id": case.case_id,
                        "plan_version": plan.version,
                        "position": action.position,
                        "kind": action.kind.value,
                        "description": action.description,
                        "due_date": action.due_date,
                        "amount": str(action.amount) if action.amount is not None else None,
                        "currency": action.currency,
                    }
                    for action in plan.actions
                ],
            )
            plan.new = False
        if plan.changed:
            await self.session.execute(
                _DECIDE_PLAN,
                {
                    "key_case_id": case.case_id,
                    "key_plan_version": plan.version,
                    "decision": plan.decision.value if plan.decision else None,
                    "decided_at": plan.decided_at,
                    "decided_by": plan.decided_by,
                    "decision_via": plan.via,
                    "decision_comment": plan.comment,
                },
            )
            plan.changed = False
        done = [action for action in plan.actions if action.changed]
        if done:
            await self.session.execute(
                _COMPLETE_ACTION,
                [
                    {
                        "key_case_id": case.case_id,
                        "key_plan_version": plan.version,
                        "key_position": action.position,
                        "done_at": action.done_at,
                        "done_by": action.done_by,
                        "note": action.note,
                    }
                    for action in done
                ],
            )
            for action in done:
                action.changed = False

    async def _record_events(self, case: Case) -> None:
        # Public payloads go to the outbox in order; the transitions become history
        # rows, in order too, in one statement after them.
        history = []
        for event in case.events:
            if isinstance(event, HistoryRecorded):
                history.append(
                    {
                        "case_id": event.case_id,
                        "status": event.to_status.value,
                        "from_status": event.from_status.value if event.from_status else None,
                        "action": event.action,
                        "at": event.at,
                        "actor": event.by[:100],
                        "detail": event.detail,
                    }
                )
            elif isinstance(event, EventPayload):
                await add_event(self.session, new_event(event, source=SOURCE))
        case.events.clear()
        if history:
            await self.session.execute(_INSERT_HISTORY, history)


def _to_action(row: Any) -> PlanAction:
    return PlanAction(
        position=row.action_position,
        kind=ResolutionActionKind(row.action_kind),
        description=row.action_description,
        due_date=row.action_due_date,
        amount=Decimal(row.action_amount) if row.action_amount is not None else None,
        currency=row.action_currency,
        done_at=row.action_done_at,
        done_by=row.action_done_by,
        note=row.action_note,
    )


def _to_plan(rows: Sequence[Any]) -> Plan:
    """One plan from its rows of :data:`_LOAD_CASE` or :data:`_PLANS` (one per action)."""
    row = rows[0]
    return Plan(
        version=row.plan_plan_version,
        investigation=row.plan_investigation,
        proposed_at=row.plan_proposed_at,
        proposed_by=row.plan_proposed_by,
        actions=[_to_action(action) for action in rows if action.action_position is not None],
        decision=CustomerDecision(row.plan_decision) if row.plan_decision else None,
        decided_at=row.plan_decided_at,
        decided_by=row.plan_decided_by,
        via=row.plan_decision_via,
        comment=row.plan_decision_comment,
    )
