"""A seeded generator of a known stretch of complaint events for the digest tests.

``generate(seed)`` returns valid catalog events (CloudEvents via ``new_event``)
for complaints received from late August to mid November 2026, so that
October 2026 (the "known month", Asia/Shanghai) has a previous month for
comparison and events that spill over both of its boundaries. Every category,
urgency, customer tier, segment and channel occurs; so do SLA warnings and
breaches (including a due time restated after a customer wait), late and
on-time first responses, rejected plans, callbacks with every score, reopened
complaints, duplicates (one unlinked again), withdrawals, retriage and
reassignment, service instructions and internal notices, supplier notices
with a failed verification, waivers and overdue supplier notices.

Each event comes with its business time; nothing after ``CUTOFF`` is emitted
(those complaints simply stay where they were).
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from tousu_common.events import Event, new_event
from tousu_common.events.catalog import (
    CallbackDone,
    Channel,
    ComplaintCategory,
    ComplaintClosed,
    ComplaintReassigned,
    ComplaintReceived,
    ComplaintReopened,
    ComplaintTriaged,
    ComplaintWithdrawn,
    CustomerSegment,
    CustomerTier,
    DuplicateLinked,
    DuplicateUnlinked,
    FirstResponseRecorded,
    NoticeDispatched,
    RectificationDone,
    RectificationInstructed,
    RectificationKind,
    RectificationNoticeIssued,
    RectificationWaived,
    ResolutionAccepted,
    ResolutionAction,
    ResolutionActionKind,
    ResolutionImplemented,
    ResolutionProposed,
    ResolutionRejected,
    RootCauseCategory,
    SlaBreached,
    SlaClock,
    SlaWarning,
    SupplierResponded,
    Urgency,
    VerificationFailed,
    VerificationPassed,
)

TZ = ZoneInfo("Asia/Shanghai")
CUTOFF = datetime(2026, 11, 20, tzinfo=UTC)
CHANNELS = list(Channel)
CATEGORIES = list(ComplaintCategory)
URGENCIES = list(Urgency)
TIERS = list(CustomerTier)
SEGMENTS = [*CustomerSegment, None]
MODELS = ["YC6L-280", "YC6K-420", "YCS04-160", "YC4S-150", "YC6MK-375", None]
SUPPLIERS = [
    (uuid.UUID(int=101), "江淮配套厂 Jianghuai Parts"),
    (uuid.UUID(int=102), "博世 Bosch"),
    (uuid.UUID(int=103), "潍柴零部件 Weichai Components"),
]
SERVICE_DEPARTMENTS = ["sales", "logistics", "technical", "after_sales"]
INTERNAL_DEPARTMENTS = ["production", "design"]
OWNER = {
    ComplaintCategory.product_quality: "quality",
    ComplaintCategory.service_quality: "csc",
    ComplaintCategory.delivery: "logistics",
    ComplaintCategory.commercial: "sales",
    ComplaintCategory.other: "csc",
}
FIRST_RESPONSE = {Urgency.urgent: 2, Urgency.important: 24, Urgency.general: 48}  # hours
RESOLUTION_PLAN = {Urgency.urgent: 24, Urgency.important: 72, Urgency.general: 120}
SCENARIOS = [
    "closed",
    "closed_late",
    "rect_supplier",
    "rect_service",
    "open",
    "duplicate",
    "closed_paused",
    "withdrawn",
    "reopened",
    "rect_waived",
    "open_overdue",
    "rect_internal",
    "closed",
    "reopened_open",
]


@dataclass
class Generated:
    events: list[tuple[datetime, Event]] = field(default_factory=list)

    @property
    def only_events(self) -> list[Event]:
        return [event for _, event in self.events]


def _local(day: date, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=TZ).astimezone(UTC)


def _received_times(rng: random.Random) -> list[datetime]:
    """30 in late August, 70 in September, 130 in October, 30 in early November,
    with a few exactly on the local month boundaries."""
    spans = [
        (date(2026, 8, 20), 12, 30),
        (date(2026, 9, 1), 30, 70),
        (date(2026, 10, 1), 31, 130),
        (date(2026, 11, 1), 12, 30),
    ]
    times = [_local(date(2026, 10, 1)), _local(date(2026, 11, 1)) - timedelta(minutes=1)]
    for start, days, count in spans:
        for _ in range(count):
            day = start + timedelta(days=rng.randrange(days))
            times.append(_local(day, rng.randrange(24), rng.randrange(60)))
    return sorted(times)


def generate(seed: int = 20261031) -> Generated:
    rng = random.Random(seed)
    out = Generated()
    received = _received_times(rng)
    open_ids: list[uuid.UUID] = []
    for i, t0 in enumerate(received):
        _complaint(rng, out, i, t0, SCENARIOS[i % len(SCENARIOS)], open_ids)
    out.events = sorted(
        ((t, e) for t, e in out.events if t <= CUTOFF), key=lambda item: (item[0], item[1].id)
    )
    return out


def _complaint(
    rng: random.Random,
    out: Generated,
    i: int,
    t0: datetime,
    scenario: str,
    open_ids: list[uuid.UUID],
) -> None:
    cid = uuid.UUID(int=rng.getrandbits(128), version=4)
    case_id = uuid.UUID(int=rng.getrandbits(128), version=4)
    ref = f"TS-2026-{i + 1:06d}"
    channel = CHANNELS[i % len(CHANNELS)]
    tier = TIERS[(i // 2) % len(TIERS)]
    segment = SEGMENTS[(i // 3) % len(SEGMENTS)]
    category = CATEGORIES[(i * 3 + i // 14) % len(CATEGORIES)]
    if scenario.startswith("rect_supplier") or scenario == "rect_internal":
        category = ComplaintCategory.product_quality
    if scenario == "rect_service":
        category = ComplaintCategory.service_quality
    urgency = URGENCIES[(i // 5) % len(URGENCIES)]
    owner = OWNER[category]
    half = tier in (CustomerTier.strategic, CustomerTier.key)
    fr_span = timedelta(hours=FIRST_RESPONSE[urgency] / (2 if half else 1))
    rp_span = timedelta(hours=RESOLUTION_PLAN[urgency] / (2 if half else 1))
    fr_due, rp_due = t0 + fr_span, t0 + rp_span

    def emit(t: datetime, payload: object, source: str) -> None:
        out.events.append((t, new_event(payload, source=source)))  # type: ignore[arg-type]

    def case(t: datetime, model: type, **fields: object) -> None:
        emit(
            t,
            model(complaint_id=cid, reference=ref, case_id=case_id, by="csc-1", at=t, **fields),
            "tousu/rectification",
        )

    def sla(model: type, clock: SlaClock, due: datetime, raised: datetime, started=t0) -> None:
        emit(
            raised,
            model(
                complaint_id=cid,
                reference=ref,
                clock=clock,
                started_at=started,
                due_at=due,
                owner_department=owner,
                urgency=urgency,
                customer_tier=tier,
                raised_at=raised,
            ),
            "tousu/routing",
        )

    emit(
        t0,
        ComplaintReceived(
            complaint_id=cid,
            reference=ref,
            channel=channel,
            received_at=t0,
            title="发动机故障 engine trouble",
            description="客户反映发动机问题。",
            product_model=MODELS[i % len(MODELS)],
            customer_tier=tier,
            customer_segment=segment,
            key_account=tier is CustomerTier.strategic,
            language="zh" if i % 4 else "en",
        ),
        "tousu/intake",
    )
    if scenario == "duplicate":
        original = open_ids[-1] if open_ids else uuid.uuid4()
        linked = t0 + timedelta(minutes=5)
        emit(
            linked,
            DuplicateLinked(
                complaint_id=cid,
                reference=ref,
                duplicate_of=original,
                duplicate_of_reference="TS-2026-000001",
                by="rules",
                linked_at=linked,
            ),
            "tousu/routing",
        )
        if i % 3:  # most stay duplicates; the others are unlinked and handled as new work
            return
        unlinked = t0 + timedelta(hours=3)
        emit(
            unlinked,
            DuplicateUnlinked(
                complaint_id=cid,
                reference=ref,
                was_duplicate_of=original,
                by="csc-2",
                unlinked_at=unlinked,
            ),
            "tousu/routing",
        )
        scenario = "open"
    open_ids.append(cid)

    triaged_at = t0 + timedelta(minutes=rng.randrange(5, 60))

    def triage(at: datetime, cat: ComplaintCategory, urg: Urgency, dept: str, again: bool) -> None:
        emit(
            at,
            ComplaintTriaged(
                complaint_id=cid,
                reference=ref,
                category=cat,
                urgency=urg,
                owner_department=dept,
                decided_by="csc-3" if again else "rules",
                rule_id=None if again else cat.value,
                ruleset_version="2026.11-1",
                triaged_at=at,
                channel=channel,
                customer_tier=tier,
                customer_segment=segment,
                key_account=tier is CustomerTier.strategic,
                first_response_due=fr_due,
                resolution_plan_due=rp_due,
                retriage=again,
            ),
            "tousu/routing",
        )

    if i % 11 == 5:  # first triaged as "other", then a person corrects it
        triage(
            triaged_at - timedelta(minutes=2),
            ComplaintCategory.other,
            Urgency.general,
            "csc",
            False,
        )
        triage(triaged_at + timedelta(minutes=30), category, urgency, owner, True)
    else:
        triage(triaged_at, category, urgency, owner, False)
    if i % 13 == 4:
        moved = triaged_at + timedelta(hours=1)
        owner = "technical" if owner != "technical" else "after_sales"
        emit(
            moved,
            ComplaintReassigned(
                complaint_id=cid,
                reference=ref,
                from_department=OWNER[category],
                to_department=owner,
                reason="belongs there",
                by="csc-4",
                reassigned_at=moved,
            ),
            "tousu/routing",
        )

    # -- first response ------------------------------------------------------
    if scenario in ("closed_late", "open_overdue") or (scenario == "reopened" and i % 2):
        sla(SlaWarning, SlaClock.first_response, fr_due, t0 + fr_span * 0.8)
        sla(SlaBreached, SlaClock.first_response, fr_due, fr_due)
        if scenario != "open_overdue":
            case(fr_due + timedelta(hours=rng.randrange(1, 30)), FirstResponseRecorded)
    elif scenario == "closed_paused":
        # a customer wait moved the due time; the response is late by the first
        # due time but on time by the restated one
        restated = fr_due + timedelta(hours=24)
        sla(SlaWarning, SlaClock.first_response, restated, t0 + fr_span * 0.8 + timedelta(hours=1))
        case(fr_due + timedelta(hours=5), FirstResponseRecorded, channel=channel)
    elif scenario == "withdrawn" and i % 2:
        pass  # withdrawn before anyone answered
    else:
        case(t0 + fr_span * rng.uniform(0.1, 0.95), FirstResponseRecorded, channel=channel)

    if scenario in ("open", "open_overdue", "withdrawn"):
        if scenario == "withdrawn":
            gone = t0 + timedelta(hours=rng.randrange(3, 150))
            emit(
                gone,
                ComplaintWithdrawn(
                    complaint_id=cid,
                    reference=ref,
                    reason="已自行解决",
                    withdrawn_at=gone,
                    by="customer",
                ),
                "tousu/intake",
            )
        elif scenario == "open_overdue":
            sla(SlaBreached, SlaClock.resolution_plan, rp_due, rp_due)
        return

    # -- resolution ------------------------------------------------------------
    proposed = t0 + rp_span * rng.uniform(0.3, 0.95)
    if scenario == "closed_late":
        proposed = rp_due + timedelta(hours=rng.randrange(2, 40))
        sla(SlaWarning, SlaClock.resolution_plan, rp_due, t0 + rp_span * 0.8)
        sla(SlaBreached, SlaClock.resolution_plan, rp_due, rp_due)
    action = ResolutionAction(
        kind=list(ResolutionActionKind)[i % 6], description="更换喷油器", due_date=date(2026, 12, 1)
    )
    case(proposed, ResolutionProposed, plan_version=1, actions=[action])
    version = 1
    if i % 5 == 2:
        case(proposed + timedelta(hours=6), ResolutionRejected, plan_version=1, reason="赔偿不足")
        proposed += timedelta(hours=30)
        version = 2
        case(proposed, ResolutionProposed, plan_version=2, actions=[action])
    case(proposed + timedelta(hours=4), ResolutionAccepted, plan_version=version)
    done = proposed + timedelta(days=rng.uniform(0.5, 8))
    case(done, ResolutionImplemented, plan_version=version)

    # -- rectification ---------------------------------------------------------
    rect_id = uuid.UUID(int=rng.getrandbits(128), version=4)
    issued = t0 + timedelta(days=rng.uniform(0.5, 3))
    due_day = (issued + timedelta(days=10)).astimezone(TZ).date()
    closing_after = done
    if (
        scenario in ("rect_supplier", "rect_waived")
        and category is ComplaintCategory.product_quality
    ):
        supplier_id, supplier = SUPPLIERS[i % len(SUPPLIERS)]
        common = dict(
            rectification_id=rect_id,
            kind=RectificationKind.supplier_notice,
            supplier_id=supplier_id,
            supplier_name=supplier,
        )
        case(
            issued,
            RectificationNoticeIssued,
            report_id=uuid.uuid4(),
            notice_number=f"QN-{i:04d}",
            requirement="8D",
            due_date=due_day,
            **common,
        )
        dispatched = issued + timedelta(hours=12)
        case(dispatched, NoticeDispatched, due_date=due_day, **common)
        if scenario == "rect_waived":
            case(dispatched + timedelta(days=2), RectificationWaived, reason="停产型号", **common)
        elif i % 3 == 0:
            return  # the supplier never answers: the notice goes overdue, complaint stays open
        else:
            answered = dispatched + timedelta(
                days=rng.uniform(2, 16)
            )  # sometimes after the due date
            cause = [
                RootCauseCategory.material,
                RootCauseCategory.process,
                RootCauseCategory.design,
            ][(i // 14) % 3]
            case(
                answered,
                SupplierResponded,
                root_cause_category=cause,
                containment="隔离库存",
                root_cause="焊接不良",
                corrective_action="改进",
                preventive_action="培训",
                **common,
            )
            first_done = answered + timedelta(days=1)
            case(
                first_done,
                RectificationDone,
                root_cause_category=cause,
                root_cause="焊接",
                corrective_action="改进",
                **common,
            )
            failed = first_done + timedelta(days=1)
            case(failed, VerificationFailed, reason="效果不佳", **common)
            second_done = failed + timedelta(days=2)
            case(
                second_done,
                RectificationDone,
                root_cause_category=RootCauseCategory.material,
                root_cause="材料",
                corrective_action="换料",
                **common,
            )
            verified = second_done + timedelta(days=1)
            case(verified, VerificationPassed, **common)
            closing_after = max(closing_after, verified)
    elif scenario in ("rect_service", "rect_internal"):
        internal = scenario == "rect_internal"
        dept = (INTERNAL_DEPARTMENTS if internal else SERVICE_DEPARTMENTS)[
            (i // 14) % 2 if internal else (i // 14) % 4
        ]
        common = dict(
            rectification_id=rect_id,
            kind=RectificationKind.internal_notice
            if internal
            else RectificationKind.service_instruction,
            department=dept,
        )
        if internal:
            case(
                issued,
                RectificationNoticeIssued,
                report_id=uuid.uuid4(),
                notice_number=f"QN-{i:04d}",
                requirement="整改",
                due_date=due_day,
                **common,
            )
        else:
            case(
                issued,
                RectificationInstructed,
                instruction="调查并整改",
                due_date=due_day,
                **common,
            )
        fixed = issued + timedelta(days=rng.uniform(1, 6))
        cause = [
            RootCauseCategory.service,
            RootCauseCategory.workmanship,
            RootCauseCategory.documentation,
            RootCauseCategory.process,
        ][(i // 14) % 4]
        case(
            fixed,
            RectificationDone,
            root_cause_category=cause,
            root_cause="培训不足",
            corrective_action="培训",
            **common,
        )
        if (i // 14) % 3 == 1:
            case(fixed + timedelta(hours=20), VerificationFailed, reason="复查未过", **common)
            fixed += timedelta(days=2)
            case(
                fixed,
                RectificationDone,
                root_cause_category=RootCauseCategory.other,
                root_cause="其他",
                corrective_action="再培训",
                **common,
            )
        verified = fixed + timedelta(days=1)
        case(verified, VerificationPassed, comment="有效", **common)
        closing_after = max(closing_after, verified)

    # -- callback, close, reopen ----------------------------------------------
    called = closing_after + timedelta(hours=rng.randrange(2, 48))
    score = [1, 2, 3, 4, 5, 5, 4][i % 7]
    case(called, CallbackDone, score=score, satisfied=score >= 4)
    closed = called + timedelta(hours=1)

    def close(at: datetime, reopens: int) -> None:
        case(
            at,
            ComplaintClosed,
            category=category,
            urgency=urgency,
            owner_department=owner,
            customer_tier=tier,
            received_at=t0,
            opened_at=triaged_at,
            first_response_at=None,
            satisfaction_score=score,
            reopen_count=reopens,
            resolution_seconds=(at - triaged_at).total_seconds(),
        )

    close(closed, 0)
    if scenario in ("reopened", "reopened_open"):
        again = closed + timedelta(days=rng.uniform(1, 6))
        case(again, ComplaintReopened, reason="问题复发")
        if scenario == "reopened_open":
            return
        case(again + timedelta(days=2), CallbackDone, score=4, satisfied=True)
        close(again + timedelta(days=2, hours=1), 1)
