"""Loading and saving cases; the only module here that writes SQL for them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

import sqlalchemy as sa
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
from tousu_rectification.adapters.orm import (
    CaseHistoryRow,
    CaseRow,
    ComplaintFactsRow,
    PendingDecisionRow,
    ResolutionActionRow,
    ResolutionPlanRow,
)
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


class CaseRepository:
    def __init__(self, session: AsyncSession, *, timezone: str = DEFAULT_TIMEZONE) -> None:
        self.session = session
        self.timezone = timezone

    # -- writing -------------------------------------------------------------

    async def add(self, case: Case) -> None:
        """Store a new case and what it raised, in the caller's transaction."""
        case.refresh_next_due()
        self.session.add(
            CaseRow(
                case_id=case.case_id,
                complaint_id=case.complaint_id,
                reference=case.reference,
                status=case.status.value,
                category=case.category.value,
                urgency=case.urgency.value,
                opened_at=case.opened_at,
                version=case.version,
                customer_tier=case.customer_tier.value,
                channel=case.channel.value if case.channel else None,
                **{name: getattr(case, name) for name in _PLAIN},
            )
        )
        await self.session.flush()
        await self._write_plan(case)
        await self._record_events(case)

    async def save(self, case: Case) -> None:
        """Store a changed case, unless it changed in the database since it was loaded
        (then :class:`StaleCase`, a 409, and the caller's transaction rolls back)."""
        case.refresh_next_due()
        saved_version = await self.session.scalar(
            sa.update(CaseRow)
            .where(CaseRow.case_id == case.case_id, CaseRow.version == case.version)
            .values(
                status=case.status.value,
                category=case.category.value,
                urgency=case.urgency.value,
                customer_tier=case.customer_tier.value,
                version=case.version + 1,
                **{name: getattr(case, name) for name in _PLAIN},
            )
            .returning(CaseRow.version)
            .execution_options(synchronize_session=False)
        )
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
        row = await self.session.scalar(
            sa.select(CaseRow)
            .where(CaseRow.complaint_id == complaint_id)
            .execution_options(populate_existing=True)
        )
        return None if row is None else await self._to_case(row)

    async def require(self, complaint_id: UUID) -> Case:
        """The complaint's case, or :class:`NotFound` (404)."""
        case = await self.get_by_complaint(complaint_id)
        if case is None:
            raise NotFound(f"no case for complaint {complaint_id}")
        return case

    async def history(self, case_id: UUID) -> list[HistoryEntry]:
        """Every transition of the case, oldest first."""
        rows = await self.session.scalars(
            sa.select(CaseHistoryRow)
            .where(CaseHistoryRow.case_id == case_id)
            .order_by(CaseHistoryRow.at, CaseHistoryRow.id)
        )
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
        plan_rows = await self.session.scalars(
            sa.select(ResolutionPlanRow)
            .where(ResolutionPlanRow.case_id == case_id)
            .order_by(ResolutionPlanRow.plan_version)
        )
        action_rows = await self.session.scalars(
            sa.select(ResolutionActionRow)
            .where(ResolutionActionRow.case_id == case_id)
            .order_by(ResolutionActionRow.plan_version, ResolutionActionRow.position)
        )
        actions: dict[int, list[PlanAction]] = {}
        for row in action_rows:
            actions.setdefault(row.plan_version, []).append(_to_action(row))
        return [_to_plan(row, actions.get(row.plan_version, [])) for row in plan_rows]

    async def facts(self, complaint_id: UUID) -> ComplaintFacts | None:
        row = await self.session.get(ComplaintFactsRow, complaint_id, populate_existing=True)
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
        """Insert or update what intake told about the complaint."""
        row = await self.session.get(ComplaintFactsRow, complaint_id)
        if row is None:
            row = ComplaintFactsRow(
                complaint_id=complaint_id, reference=reference, feedback_requested=False
            )
            self.session.add(row)
        for name, value in values.items():
            setattr(row, name, value)
        await self.session.flush()

    async def keep_pending_decision(
        self, event_id: str, decision: ResolutionDecisionReceived, *, at: datetime
    ) -> None:
        """Keep a customer's answer whose case does not exist yet (a redelivery of the
        same event finds its row and adds nothing)."""
        if await self.session.get(PendingDecisionRow, event_id) is not None:
            return
        self.session.add(
            PendingDecisionRow(
                event_id=event_id,
                complaint_id=decision.complaint_id,
                reference=decision.reference,
                plan_version=decision.plan_version,
                decision=decision.decision.value,
                via=decision.via.value,
                comment=decision.comment,
                decided_at=decision.decided_at,
                kept_at=at,
            )
        )
        await self.session.flush()

    async def take_pending_decisions(self, complaint_id: UUID) -> list[ResolutionDecisionReceived]:
        """The answers kept for the complaint, oldest first, removed in this transaction."""
        rows = list(
            await self.session.scalars(
                sa.select(PendingDecisionRow)
                .where(PendingDecisionRow.complaint_id == complaint_id)
                .order_by(PendingDecisionRow.decided_at, PendingDecisionRow.event_id)
            )
        )
        for row in rows:
            await self.session.delete(row)
        await self.session.flush()
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

    async def _to_case(self, row: CaseRow) -> Case:
        facts = await self.facts(row.complaint_id)
        plan = None
        if row.plan_version:
            plan_row = await self.session.get(
                ResolutionPlanRow, (row.case_id, row.plan_version), populate_existing=True
            )
            if plan_row is not None:
                action_rows = await self.session.scalars(
                    sa.select(ResolutionActionRow)
                    .where(
                        ResolutionActionRow.case_id == row.case_id,
                        ResolutionActionRow.plan_version == row.plan_version,
                    )
                    .order_by(ResolutionActionRow.position)
                    .execution_options(populate_existing=True)
                )
                plan = _to_plan(plan_row, [_to_action(action) for action in action_rows])
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
            plan=plan,
            received_at=facts.received_at if facts else None,
            feedback_requested=facts.feedback_requested if facts else False,
            feedback_requested_at=facts.feedback_requested_at if facts else None,
            feedback_requested_via=facts.feedback_requested_via if facts else None,
            timezone=self.timezone,
            **{name: getattr(row, name) for name in _PLAIN},
        )

    async def _write_plan(self, case: Case) -> None:
        plan = case.plan
        if plan is None:
            return
        if plan.new:
            self.session.add(
                ResolutionPlanRow(
                    case_id=case.case_id,
                    plan_version=plan.version,
                    investigation=plan.investigation,
                    proposed_at=plan.proposed_at,
                    proposed_by=plan.proposed_by,
                )
            )
            for action in plan.actions:
                self.session.add(
                    ResolutionActionRow(
                        case_id=case.case_id,
                        plan_version=plan.version,
                        position=action.position,
                        kind=action.kind.value,
                        description=action.description,
                        due_date=action.due_date,
                        amount=str(action.amount) if action.amount is not None else None,
                        currency=action.currency,
                    )
                )
            await self.session.flush()
            plan.new = False
        if plan.changed:
            await self.session.execute(
                sa.update(ResolutionPlanRow)
                .where(
                    ResolutionPlanRow.case_id == case.case_id,
                    ResolutionPlanRow.plan_version == plan.version,
                )
                .values(
                    decision=plan.decision.value if plan.decision else None,
                    decided_at=plan.decided_at,
                    decided_by=plan.decided_by,
                    decision_via=plan.via,
                    decision_comment=plan.comment,
                )
                .execution_options(synchronize_session=False)
            )
            plan.changed = False
        for action in plan.actions:
            if action.changed:
                await self.session.execute(
                    sa.update(ResolutionActionRow)
                    .where(
                        ResolutionActionRow.case_id == case.case_id,
                        ResolutionActionRow.plan_version == plan.version,
                        ResolutionActionRow.position == action.position,
                    )
                    .values(done_at=action.done_at, done_by=action.done_by, note=action.note)
                    .execution_options(synchronize_session=False)
                )
                action.changed = False

    async def _record_events(self, case: Case) -> None:
        # Transitions become history rows; public payloads go to the outbox, in order.
        for event in case.events:
            if isinstance(event, HistoryRecorded):
                self.session.add(
                    CaseHistoryRow(
                        case_id=event.case_id,
                        status=event.to_status.value,
                        from_status=event.from_status.value if event.from_status else None,
                        action=event.action,
                        at=event.at,
                        actor=event.by[:100],
                        detail=event.detail,
                    )
                )
            elif isinstance(event, EventPayload):
                await add_event(self.session, new_event(event, source=SOURCE))
        case.events.clear()
        await self.session.flush()


def _to_action(row: ResolutionActionRow) -> PlanAction:
    return PlanAction(
        position=row.position,
        kind=ResolutionActionKind(row.kind),
        description=row.description,
        due_date=row.due_date,
        amount=Decimal(row.amount) if row.amount is not None else None,
        currency=row.currency,
        done_at=row.done_at,
        done_by=row.done_by,
        note=row.note,
    )


def _to_plan(row: ResolutionPlanRow, actions: list[PlanAction]) -> Plan:
    return Plan(
        version=row.plan_version,
        investigation=row.investigation,
        proposed_at=row.proposed_at,
        proposed_by=row.proposed_by,
        actions=actions,
        decision=CustomerDecision(row.decision) if row.decision else None,
        decided_at=row.decided_at,
        decided_by=row.decided_by,
        via=row.decision_via,
        comment=row.decision_comment,
    )
