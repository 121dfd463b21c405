"""Every KPI definition of the README ("Digests" → "KPI definitions"), for an
ended period and for a running one (``partial``), on a small week of 2027 whose
every number is worked out by hand below.

The week is ISO 2027-W10 (Monday 8 – Sunday 14 March 2027, Asia/Shanghai). The
running digest is computed on Wednesday 10 March at 12:00 with only the events
that had happened by then in the read model — as a manager opening the
digest mid-week would see it; the ended digest with everything. Both are also
checked against the plain reference (``reference.py``), and the partial digest
recomputed later "as of Wednesday noon", with the rest of the week's events
already in, gives the same numbers.

Times below are local (+08:00). Complaints (``*`` = first response, ``→`` due):

====  =====================  ========================================================
A     Mon 09:00, pq/important  FR Mon 10:00 (→ Mon 17:00); plan Thu 09:00, late (→ Wed 17:00);
                               supplier notice R1 to Bosch Tue 10:00, due 10 March,
                               answered only on Monday 15th
B     Mon 11:00, sq/general    no FR (→ Tue 11:00, breached), no plan (→ Fri 11:00,
                               breached); service instruction R2 to logistics Mon 15:00,
                               root cause Tue 09:00, verification failed Tue 16:00,
                               passed Thu 10:00
C     Tue 15:00, delivery      FR Thu 10:00 (→ Thu 15:00, warned Thu 08:00); no plan
                               (→ Sun 15:00)
D     Wed 09:00, pq/urgent     no FR (→ Fri 09:00, breached); plan → Mon 15th 09:00
E     Tue 08:00, other         FR → Mon 15th 08:00 (next week)
F     Thu 11:00 (after noon)   never triaged
G     Wed 3 Mar (last week)    closed Tue 10:00 (callback 5 at 09:00), reopened Thu
                               10:00, callback 4 Fri 09:00, closed again Fri 10:00
H     Mon 08:00, commercial    FR Mon 09:00, plan Tue 10:00; callback 2 Thu 15:00,
                               closed Thu 16:00; internal notice R3 Thu 09:00,
                               waived Fri 09:00
I     Sun 7 Mar 20:00          FR Mon 19:00 (→ Mon 20:00); plan → Tue 16th
K     Mon 10:00, key account   FR Mon 11:00, plan Mon 16:00, closed Tue 16:00
W     Mon 12:00, other         FR Mon 13:00; plan → Sat 12:00; withdrawn Thu 09:00
X     Tue 10:00                a duplicate of B (linked Tue 10:05)
====  =====================  ========================================================
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tousu_common.db import Database
from tousu_common.events import Event, new_event
from tousu_common.events.catalog import (
    CallbackDone,
    Channel,
    ComplaintCategory,
    ComplaintClosed,
    ComplaintReceived,
    ComplaintReopened,
    ComplaintTriaged,
    ComplaintWithdrawn,
    CustomerSegment,
    CustomerTier,
    DuplicateLinked,
    FirstResponseRecorded,
    NoticeDispatched,
    RectificationDone,
    RectificationInstructed,
    RectificationKind,
    RectificationNoticeIssued,
    RectificationWaived,
    ResolutionAction,
    ResolutionActionKind,
    ResolutionProposed,
    RootCauseCategory,
    SlaBreached,
    SlaClock,
    SlaWarning,
    SupplierResponded,
    Urgency,
    VerificationFailed,
    VerificationPassed,
)
from tousu_common.migrations import upgrade
from tousu_notify.adapters.digest_readmodel import EVENT_TYPES, apply_event
from tousu_notify.config import Settings
from tousu_notify.domain.digest_periods import Period
from tousu_notify.handlers.digests import Digests

from . import reference
from .conftest import UNITS

pytestmark = pytest.mark.integration

TZ = ZoneInfo("Asia/Shanghai")
WEEK = Period.parse("week", "2027-W10", "Asia/Shanghai")


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2027, month, day, hour, minute, tzinfo=TZ).astimezone(UTC)


NOW = at(10, 12)  # Wednesday noon: the running digest is computed here
LATER = at(20, 9)  # after the week: the ended digest

PQ, SQ = ComplaintCategory.product_quality, ComplaintCategory.service_quality
OWNERS = {
    PQ: "quality",
    SQ: "csc",
    ComplaintCategory.delivery: "logistics",
    ComplaintCategory.commercial: "sales",
    ComplaintCategory.other: "csc",
}
BOSCH = (uuid.UUID(int=102), "博世 Bosch")


class Week:
    """The scenario's events, each with its business time."""

    def __init__(self) -> None:
        self.events: list[tuple[datetime, Event]] = []
        self.refs: dict[str, tuple[uuid.UUID, str]] = {}

    def emit(self, when: datetime, payload: Any, source: str = "tousu/test") -> None:
        self.events.append((when, new_event(payload, source=source)))

    def received(
        self,
        name: str,
        when: datetime,
        channel: Channel,
        tier: CustomerTier,
        segment: CustomerSegment | None,
        model: str | None,
    ) -> None:
        cid = uuid.uuid5(uuid.NAMESPACE_URL, f"urn:test:digest-definitions:{name}")
        ref = f"TS-2027-{len(self.refs) + 1:06d}"
        self.refs[name] = (cid, ref)
        self.emit(
            when,
            ComplaintReceived(
                complaint_id=cid,
                reference=ref,
                channel=channel,
                received_at=when,
                title="发动机故障",
                description="客户反映发动机问题。",
                product_model=model,
                customer_tier=tier,
                customer_segment=segment,
            ),
        )

    def triaged(
        self,
        name: str,
        when: datetime,
        category: ComplaintCategory,
        urgency: Urgency,
        fr_due: datetime,
        rp_due: datetime,
        tier: CustomerTier = CustomerTier.general,
    ) -> None:
        cid, ref = self.refs[name]
        self.emit(
            when,
            ComplaintTriaged(
                complaint_id=cid,
                reference=ref,
                category=category,
                urgency=urgency,
                owner_department=OWNERS[category],
                decided_by="rules",
                ruleset_version="2027.03-1",
                triaged_at=when,
                customer_tier=tier,
                first_response_due=fr_due,
                resolution_plan_due=rp_due,
            ),
        )

    def case(self, name: str, when: datetime, model: type, **fields: Any) -> None:
        cid, ref = self.refs[name]
        case_id = uuid.uuid5(cid, "case")
        self.emit(
            when,
            model(complaint_id=cid, reference=ref, case_id=case_id, by="csc-1", at=when, **fields),
        )

    def sla(self, name: str, model: type, clock: SlaClock, due: datetime, raised: datetime) -> None:
        cid, ref = self.refs[name]
        self.emit(
            raised,
            model(
                complaint_id=cid,
                reference=ref,
                clock=clock,
                started_at=at(1, 0),
                due_at=due,
                owner_department="csc",
                urgency=Urgency.general,
                customer_tier=CustomerTier.general,
                raised_at=raised,
            ),
        )

    def closed(self, name: str, when: datetime, category: ComplaintCategory, reopens: int = 0):  # type: ignore[no-untyped-def]
        self.case(
            name,
            when,
            ComplaintClosed,
            category=category,
            urgency=Urgency.general,
            owner_department=OWNERS[category],
            opened_at=when,
            reopen_count=reopens,
        )

    def proposed(self, name: str, when: datetime) -> None:
        action = ResolutionAction(
            kind=ResolutionActionKind.repair, description="更换喷油器", due_date=date(2027, 4, 1)
        )
        self.case(name, when, ResolutionProposed, plan_version=1, actions=[action])


def scenario() -> list[tuple[datetime, Event]]:
    w = Week()
    hotline, email, web, fax = Channel.hotline, Channel.email, Channel.web, Channel.fax
    general, key, strategic = CustomerTier.general, CustomerTier.key, CustomerTier.strategic
    oem, dealer, end_customer = (
        CustomerSegment.oem,
        CustomerSegment.dealer,
        CustomerSegment.end_customer,
    )
    important, urgent, gen = Urgency.important, Urgency.urgent, Urgency.general

    w.received("A", at(8, 9), hotline, general, oem, "YC6L-280")
    w.triaged("A", at(8, 9, 10), PQ, important, at(8, 17), at(10, 17))
    w.case("A", at(8, 10), FirstResponseRecorded)
    w.proposed("A", at(11, 9))
    supplier = dict(
        rectification_id=uuid.UUID(int=1001),
        kind=RectificationKind.supplier_notice,
        supplier_id=BOSCH[0],
        supplier_name=BOSCH[1],
    )
    w.case(
        "A",
        at(9, 10),
        RectificationNoticeIssued,
        report_id=uuid.UUID(int=2001),
        notice_number="QN-2027-0001",
        requirement="8D",
        due_date=date(2027, 3, 10),
        **supplier,
    )
    w.case("A", at(9, 12), NoticeDispatched, due_date=date(2027, 3, 10), **supplier)
    w.case(
        "A",
        at(15, 10),
        SupplierResponded,
        root_cause_category=RootCauseCategory.material,
        containment="隔离",
        root_cause="材料",
        corrective_action="换料",
        preventive_action="来料检验",
        **supplier,
    )

    w.received("B", at(8, 11), email, key, dealer, "YC6K-420")
    w.triaged("B", at(8, 11, 5), SQ, gen, at(9, 11), at(12, 11), tier=key)
    w.sla("B", SlaBreached, SlaClock.first_response, at(9, 11), at(9, 11))
    w.sla("B", SlaBreached, SlaClock.resolution_plan, at(12, 11), at(12, 11))
    service = dict(
        rectification_id=uuid.UUID(int=1002),
        kind=RectificationKind.service_instruction,
        department="logistics",
    )
    w.case(
        "B",
        at(8, 15),
        RectificationInstructed,
        instruction="调查",
        due_date=date(2027, 3, 20),
        **service,
    )
    w.case(
        "B",
        at(9, 9),
        RectificationDone,
        root_cause_category=RootCauseCategory.process,
        root_cause="流程",
        corrective_action="改流程",
        **service,
    )
    w.case("B", at(9, 16), VerificationFailed, reason="复查未过", **service)
    w.case("B", at(11, 10), VerificationPassed, **service)

    w.received("C", at(9, 15), web, general, end_customer, "YC6L-280")
    w.triaged("C", at(9, 15, 10), ComplaintCategory.delivery, gen, at(11, 15), at(14, 15))
    w.sla("C", SlaWarning, SlaClock.first_response, at(11, 15), at(11, 8))
    w.case("C", at(11, 10), FirstResponseRecorded)

    w.received("D", at(10, 9), fax, strategic, oem, "YCS04-160")
    w.triaged("D", at(10, 9, 5), PQ, urgent, at(12, 9), at(15, 9), tier=strategic)
    w.sla("D", SlaBreached, SlaClock.first_response, at(12, 9), at(12, 9))

    w.received("E", at(9, 8), Channel.letter, general, None, None)
    w.triaged("E", at(9, 8, 30), ComplaintCategory.other, gen, at(15, 8), at(19, 8))

    w.received("F", at(11, 11), web, general, oem, "YC6K-420")

    w.received("G", at(3, 10), hotline, key, dealer, "YC6L-280")
    w.triaged("G", at(3, 10, 5), PQ, important, at(3, 22), at(5, 10), tier=key)
    w.case("G", at(3, 11), FirstResponseRecorded)
    w.proposed("G", at(4, 10))
    w.case("G", at(9, 9), CallbackDone, score=5, satisfied=True)
    w.closed("G", at(9, 10), PQ)
    w.case("G", at(11, 10), ComplaintReopened, reason="问题复发")
    w.case("G", at(12, 9), CallbackDone, score=4, satisfied=True)
    w.closed("G", at(12, 10), PQ, reopens=1)

    w.received("H", at(8, 8), email, general, dealer, "YCS04-160")
    w.triaged("H", at(8, 8, 5), ComplaintCategory.commercial, gen, at(9, 8), at(12, 8))
    w.case("H", at(8, 9), FirstResponseRecorded)
    w.proposed("H", at(9, 10))
    w.case("H", at(11, 15), CallbackDone, score=2, satisfied=False)
    w.closed("H", at(11, 16), ComplaintCategory.commercial)
    internal = dict(
        rectification_id=uuid.UUID(int=1003),
        kind=RectificationKind.internal_notice,
        department="production",
    )
    w.case(
        "H",
        at(11, 9),
        RectificationNoticeIssued,
        report_id=uuid.UUID(int=2003),
        notice_number="QN-2027-0003",
        requirement="整改",
        due_date=date(2027, 3, 25),
        **internal,
    )
    w.case("H", at(12, 9), RectificationWaived, reason="停产型号", **internal)

    w.received("I", at(7, 20), hotline, general, end_customer, "YC6L-280")
    w.triaged("I", at(7, 20, 10), PQ, gen, at(8, 20), at(16, 20))
    w.case("I", at(8, 19), FirstResponseRecorded)

    w.received("K", at(8, 10), Channel.key_account, strategic, oem, "YC6L-280")
    w.triaged("K", at(8, 10, 5), SQ, important, at(8, 12), at(9, 10), tier=strategic)
    w.case("K", at(8, 11), FirstResponseRecorded)
    w.proposed("K", at(8, 16))
    w.closed("K", at(9, 16), SQ)

    w.received("W", at(8, 12), web, general, end_customer, "YC4S-150")
    w.triaged("W", at(8, 12, 5), ComplaintCategory.other, gen, at(9, 12), at(13, 12))
    w.case("W", at(8, 13), FirstResponseRecorded)
    cid, ref = w.refs["W"]
    w.emit(
        at(11, 9),
        ComplaintWithdrawn(
            complaint_id=cid,
            reference=ref,
            reason="已自行解决",
            withdrawn_at=at(11, 9),
            by="customer",
        ),
    )

    w.received("X", at(9, 10), email, key, dealer, "YC6K-420")
    b_id, b_ref = w.refs["B"]
    x_id, x_ref = w.refs["X"]
    w.emit(
        at(9, 10, 5),
        DuplicateLinked(
            complaint_id=x_id,
            reference=x_ref,
            duplicate_of=b_id,
            duplicate_of_reference=b_ref,
            by="rules",
            linked_at=at(9, 10, 5),
        ),
    )
    return sorted(w.events, key=lambda item: (item[0], item[1].id))


EVENTS = scenario()
BEFORE = [event for when, event in EVENTS if when < NOW]
ALL = [event for _, event in EVENTS]


async def apply(db: Database, events: list[Event]) -> None:
    async with db.transaction() as session:
        for event in events:
            if event.type in EVENT_TYPES:
                await apply_event(session, event)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def digests(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, Any]]:
    """{"partial", "closed", "partial_again"}: the week's numbers on one backend."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('definitions') / 'notify.db'}"
    else:
        url = request.getfixturevalue("postgres").create_database(f"d_{uuid.uuid4().hex[:12]}")
    await asyncio.to_thread(upgrade, "tousu_notify", url)
    db = Database(url)
    settings = Settings(
        jwt_secret="definitions-" + "x" * 40,
        database_url=url,
        digest_units_in_service=UNITS,
        digest_scheduler_enabled=False,
    )
    try:
        service = Digests(db, settings)
        await apply(db, BEFORE)
        partial = await service.compute(WEEK, now=NOW)
        await apply(db, [event for when, event in EVENTS if when >= NOW])
        closed = await service.compute(WEEK, now=LATER)
        partial_again = await service.compute(WEEK, now=NOW)
    finally:
        await db.dispose()
    return {"partial": partial, "closed": closed, "partial_again": partial_again}


def both(digests: dict[str, dict[str, Any]], *path: str) -> Iterator[tuple[str, Any]]:
    for name in ("partial", "closed"):
        value: Any = digests[name]
        for part in path:
            value = value[part]
        yield name, value


# -- the period and the instant ------------------------------------------------


def test_a_running_period_is_as_of_the_moment_it_was_computed(digests: dict) -> None:
    partial, closed = digests["partial"]["period"], digests["closed"]["period"]
    assert partial["partial"] is True and partial["as_of"] == NOW.isoformat()
    assert closed["partial"] is False and closed["as_of"] == WEEK.end_utc.isoformat()
    assert partial["start"] == "2027-03-08" and partial["end"] == "2027-03-14"


def test_the_same_instant_gives_the_same_numbers_later(digests: dict) -> None:
    # Computed again after the rest of the week came in, as of Wednesday noon.
    assert digests["partial_again"] == digests["partial"]


def test_both_agree_with_the_reference_on_every_kpi(digests: dict) -> None:
    expected = {
        "partial": reference.digest(BEFORE, "week", "2027-W10", units=UNITS, as_of=NOW),
        "closed": reference.digest(ALL, "week", "2027-W10", units=UNITS),
    }
    for name in ("partial", "closed"):
        assert set(digests[name]) == set(expected[name])
        for section in expected[name]:
            assert digests[name][section] == expected[name][section], (name, section)


# -- volume -------------------------------------------------------------------


def test_received_duplicates_closed_withdrawn_reopened_and_backlog(digests: dict) -> None:
    partial, closed = (value for _, value in both(digests, "volume"))
    # Received so far: A B C D E H K W X (F comes Thursday); G and K closed by noon.
    assert partial == {
        "received": 9,
        "duplicates": 1,
        "closed": 2,
        "withdrawn": 0,
        "reopened": 0,
        "open_backlog_start": 2,  # G and I, from last week
        "open_backlog_end": 8,  # open at noon: A B C D E H W I
    }
    assert closed == {
        "received": 10,
        "duplicates": 1,
        "closed": 3,  # G (once, though closed twice), H, K
        "withdrawn": 1,  # W
        "reopened": 1,  # G
        "open_backlog_start": 2,
        "open_backlog_end": 7,  # A B C D E F I
    }


def test_counts_by_dimension_are_over_the_received_complaints(digests: dict) -> None:
    partial, closed = (value for _, value in both(digests, "by"))
    assert partial["channel"] == {
        "email": 3,
        "web": 2,
        "fax": 1,
        "hotline": 1,
        "key_account": 1,
        "letter": 1,
    }
    assert closed["channel"]["web"] == 3  # F on Thursday
    assert partial["category"]["untriaged"] == 1  # X
    assert closed["category"]["untriaged"] == 2  # X and F
    assert partial["supplier"] == closed["supplier"] == {"博世 Bosch": 1}


# -- timeliness ---------------------------------------------------------------


def test_first_response_clocks_not_yet_due_are_pending_not_missed(digests: dict) -> None:
    partial, closed = (value for _, value in both(digests, "timeliness", "first_response"))
    # Known by noon: A H I K W met, B missed. C (due Thu) and D (due Fri) are
    # neither: pending. E is due next week: not this week's at all.
    assert partial == {"eligible": 6, "met": 5, "missed": 1, "rate": 0.8333, "pending": 2}
    # At the end: C met Thursday, D missed Friday.
    assert closed == {"eligible": 8, "met": 6, "missed": 2, "rate": 0.75, "pending": 0}


def test_resolution_plan_clock_follows_the_same_rule(digests: dict) -> None:
    partial, closed = (value for _, value in both(digests, "timeliness", "resolution_plan"))
    # By noon only H and K proposed; A (due Wed 17:00), B, C and W are pending.
    assert partial == {"eligible": 2, "met": 2, "missed": 0, "rate": 1.0, "pending": 4}
    # A proposed Thursday, after its due time (Wed 17:00): pending at noon, missed
    # by the end, like B and C; W withdrawn before its due time: out.
    assert closed == {"eligible": 5, "met": 2, "missed": 3, "rate": 0.4, "pending": 0}


def test_first_response_by_urgency(digests: dict) -> None:
    partial, closed = (
        value for _, value in both(digests, "timeliness", "first_response_by_urgency")
    )
    assert partial == {
        "general": {"eligible": 4, "met": 3, "missed": 1, "rate": 0.75, "pending": 1},
        "important": {"eligible": 2, "met": 2, "missed": 0, "rate": 1.0, "pending": 0},
        "urgent": {"eligible": 0, "met": 0, "missed": 0, "rate": None, "pending": 1},
    }
    assert closed == {
        "general": {"eligible": 5, "met": 4, "missed": 1, "rate": 0.8, "pending": 0},
        "important": {"eligible": 2, "met": 2, "missed": 0, "rate": 1.0, "pending": 0},
        "urgent": {"eligible": 1, "met": 0, "missed": 1, "rate": 0.0, "pending": 0},
    }


def test_sla_warnings_and_breaches_raised_so_far(digests: dict) -> None:
    partial, closed = (value for _, value in both(digests, "sla"))
    assert partial == {"warnings": {}, "breaches": {"first_response": 1}}
    assert closed == {
        "warnings": {"first_response": 1},
        "breaches": {"first_response": 2, "resolution_plan": 1},
    }


# -- completion, ageing, overdue ------------------------------------------------


def test_completion_is_over_the_complaints_received_so_far(digests: dict) -> None:
    partial, closed = (value for _, value in both(digests, "completion"))
    # Without X (duplicate); W counts until it is withdrawn.
    assert partial == {"received": 8, "closed": 1, "rate": 0.125}  # K
    assert closed == {"received": 8, "closed": 2, "rate": 0.25}  # H, K (F in, W out)


def test_open_complaints_are_aged_to_the_moment_of_computing(digests: dict) -> None:
    partial, closed = (value for _, value in both(digests, "ageing"))
    # At noon: C, D, E under two days; A B H W I two to seven (W exactly 2.0).
    assert partial == {"<2d": 3, "2-7d": 5, "7-14d": 0, "14-30d": 0, ">=30d": 0}
    # At the end: I (Sunday 7th, 20:00) is past seven days.
    assert closed == {"<2d": 0, "2-7d": 6, "7-14d": 1, "14-30d": 0, ">=30d": 0}


def test_overdue_lists_clocks_already_due_with_hours_to_the_moment(digests: dict) -> None:
    partial, closed = (value for _, value in both(digests, "overdue"))
    refs = {name: ref for name, ref in (("B", "TS-2027-000002"), ("C", "TS-2027-000003"))}
    assert partial["count"] == 1
    [item] = partial["items"]
    assert item["reference"] == refs["B"] and item["clocks"] == ["first_response"]
    assert item["overdue_hours"] == 25.0  # Tue 11:00 → Wed 12:00
    assert closed["count"] == 3
    assert [(i["clocks"], i["overdue_hours"]) for i in closed["items"]] == [
        (["first_response", "resolution_plan"], 133.0),  # B, from Tue 11:00
        (["first_response"], 63.0),  # D, from Fri 09:00
        (["resolution_plan"], 9.0),  # C, from Sun 15:00
    ]


# -- resolution time, satisfaction, reopen -------------------------------------


def test_resolution_time_of_complaints_closed_so_far(digests: dict) -> None:
    partial, closed = (value for _, value in both(digests, "resolution_time_hours"))
    # G: Wed 3rd 10:00 → Tue 10:00 = 144 h (later: → Fri 10:00 = 216 h); K 30 h; H 80 h.
    assert partial["all"] == {"count": 2, "median": 87.0, "p90": 144.0}
    assert closed["all"] == {"count": 3, "median": 80.0, "p90": 216.0}
    assert partial["by_customer_tier"] == {
        "key": {"count": 1, "median": 144.0, "p90": 144.0},
        "strategic": {"count": 1, "median": 30.0, "p90": 30.0},
    }


def test_satisfaction_from_callbacks_so_far(digests: dict) -> None:
    partial, closed = (value for _, value in both(digests, "satisfaction"))
    assert (partial["callbacks"], partial["satisfied"], partial["satisfied_share"]) == (1, 1, 1.0)
    assert partial["mean_score"] == 5.0
    assert (closed["callbacks"], closed["satisfied"], closed["satisfied_share"]) == (3, 2, 0.6667)
    assert closed["distribution"] == {"1": 0, "2": 1, "3": 0, "4": 1, "5": 1}
    assert closed["mean_score"] == 3.67


def test_reopen_rate(digests: dict) -> None:
    partial, closed = (value for _, value in both(digests, "reopen"))
    assert partial == {"reopened": 0, "closed": 2, "rate": 0.0}
    assert closed == {"reopened": 1, "closed": 3, "rate": 0.3333}


# -- rectifications -------------------------------------------------------------


def test_rectifications_opened_verified_failed_waived(digests: dict) -> None:
    partial, closed = (value for _, value in both(digests, "rectifications"))
    counts = ("opened", "verified", "failed_verification", "waived")
    assert [partial[name] for name in counts] == [2, 0, 1, 0]
    assert [closed[name] for name in counts] == [3, 1, 1, 1]
    assert partial["by_department"] == {
        "logistics": {"opened": 1, "verified": 0, "failed_verification": 1, "waived": 0},
        "supply": {"opened": 1, "verified": 0, "failed_verification": 0, "waived": 0},
    }
    assert closed["by_department"]["production"] == {
        "opened": 1,
        "verified": 0,
        "failed_verification": 0,
        "waived": 1,
    }
    assert (
        partial["by_supplier"]
        == closed["by_supplier"]
        == {"博世 Bosch": {"opened": 1, "verified": 0, "failed_verification": 0, "waived": 0}}
    )
    assert [c["root_cause"] for c in partial["root_causes"]] == ["process"]
    assert closed["root_causes"] == partial["root_causes"]  # Bosch answered only on the 15th


def test_a_supplier_notice_is_overdue_once_its_due_day_is_over(digests: dict) -> None:
    partial, closed = (
        value for _, value in both(digests, "rectifications", "overdue_supplier_notices")
    )
    # Due Wednesday 10 March: not overdue at Wednesday noon, five days by the end.
    assert partial == {"count": 0, "items": []}
    assert closed["count"] == 1
    [item] = closed["items"]
    assert item["due_date"] == "2027-03-10" and item["days_overdue"] == 5
    assert item["supplier"] == "博世 Bosch" and item["notice_number"] == "QN-2027-0001"


# -- rates per segment, previous period, trend -----------------------------------


def test_complaint_rate_per_thousand_units(digests: dict) -> None:
    partial, closed = (value for _, value in both(digests, "complaint_rate"))
    assert partial["oem"] == {"units_in_service": 5000, "complaints": 3, "per_thousand_units": 0.6}
    assert closed["oem"]["complaints"] == 4 and closed["oem"]["per_thousand_units"] == 0.8
    assert partial["dealer"]["complaints"] == 3 and partial["end_customer"]["complaints"] == 2


def test_previous_period_change_and_trend(digests: dict) -> None:
    for name, numbers in both(digests):
        previous = numbers["previous"]
        assert previous["period"] == "2027-W09", name
        assert (previous["received"], previous["closed"], previous["open_backlog_end"]) == (
            2,
            0,
            2,
        )
        assert previous["first_response_rate"] == 1.0  # G's, last Wednesday
        assert [point["period"] for point in numbers["trend"]][-2:] == ["2027-W09", "2027-W10"]
        assert numbers["trend"][-1]["received"] == numbers["volume"]["received"]
    assert digests["partial"]["change"]["received"] == 7
    assert digests["partial"]["change"]["first_response_rate"] == -0.1667
    assert digests["closed"]["change"]["first_response_rate"] == -0.25
    assert digests["partial"]["trend"][-1]["first_response_rate"] == 0.8333


def test_the_report_says_a_running_period_is_partial() -> None:
    from tousu_notify.adapters import digest_render as render

    running = reference.digest(BEFORE, "week", "2027-W10", units=UNITS, as_of=NOW)
    html = render.to_html(running, generated_at=NOW.isoformat(), revision=0)
    assert f"as of {NOW.isoformat()}" in html and "未到期 pending: 2" in html
    ended = reference.digest(ALL, "week", "2027-W10", units=UNITS)
    html = render.to_html(ended, generated_at=LATER.isoformat(), revision=0)
    assert "本期未结束" not in html and "pending:" not in html
