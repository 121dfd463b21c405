"""Load many complaints straight into the four services' databases, consistently.

The pipeline files ~30 complaints/s on this machine (bench_pipeline.py), so
100,000 complaints through it would take about an hour. This module writes the
services' own tables directly instead, with each service's ORM metadata
(``tousu_<svc>.adapters.orm``) after ``tousu migrate <svc>``, in batches
(executemany) written every 10,000 complaints (100,000 take ~30 s and ~270 MB),
as if the pipeline had processed every complaint:

- intake: customers (phone contacts, products), complaints (with ``phone_key``,
  ``customer_id``, status received / closed / withdrawn) and the reference
  counters (so a complaint filed afterwards gets the next free number);
- routing: its complaint facts, one triage, one rules decision in the history,
  and both SLA clocks (stopped, running, or breached with the breach recorded so
  the scheduler has nothing to catch up on);
- rectification: one case per complaint in a status that matches intake's (open
  cases in the open statuses, plans with one action where the status needs one),
  its history and the complaint facts;
- notify: the acknowledgement of every complaint, already sent (the
  ``source_event_id`` is routing's ``received_event_id``: one event, one id) and
  its complaint facts.

Only a benchmark and its test may import the services' packages like this;
product code reads other services through their APIs. Deterministic for a seed.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tousu_intake.adapters import orm as intake_orm
from tousu_notify.adapters import orm as notify_orm
from tousu_rectification.adapters import orm as rect_orm
from tousu_routing.adapters import orm as routing_orm

BATCH = 5000
#: complaints generated before they are written (bounds the seed's memory)
CHUNK = 10_000

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = (
    "建国",
    "伟",
    "芳",
    "秀英",
    "敏",
    "静",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "涛",
    "明",
    "超",
    "秀兰",
    "霞",
    "平",
    "刚",
    "桂英",
    "志强",
    "海燕",
    "国华",
    "红梅",
    "文博",
)
CITIES = (
    "潍坊",
    "济南",
    "青岛",
    "重庆",
    "成都",
    "西安",
    "郑州",
    "武汉",
    "长沙",
    "合肥",
    "杭州",
    "徐州",
)
TRADES = ("物流", "运输", "工程机械", "客运", "农机", "港口", "矿业", "重卡", "汽车服务")
MODELS = ("YC6L-280", "WP10-336", "WP12-400", "ISG-12", "D6114", "YC4S-150", "WP7-270")

#: (category, department, title, description): what triage decides for such a text.
KINDS: tuple[tuple[str, str, str, str], ...] = (
    ("product_quality", "quality", "发动机漏油", "车辆停在路边，发动机漏油严重，请尽快派人处理。"),
    (
        "product_quality",
        "quality",
        "发动机异响",
        "行驶中发动机有异响，怠速时更明显，客户担心出问题。",
    ),
    (
        "product_quality",
        "technical",
        "电控系统故障灯常亮",
        "仪表盘故障灯常亮，车辆限扭，服务站查不出原因。",
    ),
    ("product_quality", "production", "新车装配缺陷", "新车交付时发现管路装配松动，存在安全隐患。"),
    ("product_quality", "design", "散热设计不合理", "夏季高温时水温经常过高，怀疑散热设计不足。"),
    (
        "product_quality",
        "supply",
        "配件质量问题",
        "更换的喷油器使用一个月又坏了，怀疑配件质量问题。",
    ),
    ("delivery", "logistics", "配件发货延迟", "订购的滤清器迟迟不到，交货延迟两周，影响车队保养。"),
    ("commercial", "sales", "发票金额不对", "上月维修的发票金额不对，要求重新开票并退款差额。"),
    (
        "service_quality",
        "after_sales",
        "申请三包",
        "新车在质保期内，客户申请三包保修，希望尽快处理。",
    ),
    ("service_quality", "csc", "服务站态度差", "维修站师傅态度差，推诿不修，客户非常不满。"),
    ("other", "csc", "咨询保养周期", "客户询问保养周期和费用，对上次回答不满意。"),
)
KIND_WEIGHTS = (20, 12, 6, 4, 3, 5, 14, 10, 12, 10, 4)
CHANNELS = ("hotline", "email", "web", "key_account", "fax", "visit")
CHANNEL_WEIGHTS = (62, 14, 12, 6, 4, 2)
URGENCIES = ("urgent", "important", "general")
URGENCY_WEIGHTS = (10, 30, 60)
#: resolution-plan budget by urgency (wall clock), first response 24 h.
PLAN_BUDGET_H = {"urgent": 24, "important": 72, "general": 168}
OPEN_CASE_STATUSES = (
    "awaiting_resolution",
    "resolution_proposed",
    "resolution_rejected",
    "resolution_accepted",
    "resolution_implemented",
    "satisfied",
)
OPEN_CASE_WEIGHTS = (50, 15, 3, 17, 10, 5)
PLANNED = {
    "resolution_proposed",
    "resolution_rejected",
    "resolution_accepted",
    "resolution_implemented",
    "satisfied",
    "closed",
}


@dataclass
class Customer:
    id: UUID
    name: str
    phone_key: str  # digits with country code, as intake keeps it
    phone: str  # as a person would type it
    tier: str
    segment: str
    key_account: bool
    serials: list[tuple[str, str]]  # (model, serial)


@dataclass
class Seeded:
    """What was written, for the benchmark to pick realistic requests from."""

    complaint_ids: list[UUID] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    departments: list[str] = field(default_factory=list)
    open_flags: list[bool] = field(default_factory=list)
    customers: list[Customer] = field(default_factory=list)
    rows: Counter = field(default_factory=Counter)  # table (service.table) → rows written
    seconds: float = 0.0

    def reference_of(self, complaint_id: UUID) -> str:
        return self.references[self.complaint_ids.index(complaint_id)]


def _uuid(rng: random.Random) -> UUID:
    return UUID(int=rng.getrandbits(128), version=4)


def _customers(rng: random.Random, count: int) -> list[Customer]:
    result = []
    phones: set[str] = set()
    for n in range(count):
        company = rng.random() < 0.35
        if company:
            name = f"{rng.choice(CITIES)}{rng.choice(SURNAMES)}氏{rng.choice(TRADES)}有限公司"
            segment = rng.choice(("oem", "dealer", "end_customer"))
        else:
            name = rng.choice(SURNAMES) + rng.choice(GIVEN)
            segment = "end_customer"
        while True:
            mobile = f"1{rng.choice('3578')}{rng.randrange(10**9):09d}"
            if mobile not in phones:
                phones.add(mobile)
                break
        tier = (
            "strategic"
            if company and rng.random() < 0.1
            else ("key" if company and rng.random() < 0.3 else "general")
        )
        serials = [
            (rng.choice(MODELS), f"SN{n:05d}{k}{rng.randrange(10**5):05d}")
            for k in range(1 + (rng.random() < 0.4) + (company and rng.random() < 0.5) * 3)
        ]
        result.append(
            Customer(
                id=_uuid(rng),
                name=name,
                phone_key="86" + mobile,
                phone=f"+86 {mobile[:3]} {mobile[3:7]} {mobile[7:]}",
                tier=tier,
                segment=segment,
                key_account=tier != "general",
                serials=serials,
            )
        )
    return result


async def _insert(engine: AsyncEngine, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), BATCH):
        async with engine.begin() as conn:
            await conn.execute(table.insert(), rows[start : start + BATCH])


def sqlite_urls(var_dir: Any) -> dict[str, str]:
    """The SQLite databases a ``Stack(var_dir=...)`` uses by default."""
    return {
        s: f"sqlite+aiosqlite:///{var_dir / (s + '.db')}"
        for s in ("intake", "routing", "rectification", "notify")
    }


async def seed(
    urls: dict[str, str],
    complaints: int,
    *,
    customers: int | None = None,
    now: datetime | None = None,
    rng_seed: int = 1505,
    open_share: float = 0.08,
) -> Seeded:
    """Write ``complaints`` complaints (over ``customers`` customers, default one per
    five complaints) into the migrated databases at ``urls`` (service → URL)."""
    began = time.perf_counter()
    rng = random.Random(rng_seed)
    now = now or datetime.now(UTC)
    people = _customers(rng, customers or max(1, complaints // 5))
    # A few customers call very often (fleets, dealers): Pareto weights.
    weights = [rng.paretovariate(1.2) for _ in people]
    chosen = rng.choices(range(len(people)), weights=weights, k=complaints)

    rows: dict[str, list[dict[str, Any]]] = {
        k: []
        for k in (
            "i.customers",
            "i.contacts",
            "i.products",
            "i.complaints",
            "r.complaints",
            "r.triages",
            "r.records",
            "r.clocks",
            "c.cases",
            "c.history",
            "c.plans",
            "c.actions",
            "c.facts",
            "n.deliveries",
            "n.facts",
        )
    }
    for c in people:
        stamp = now - timedelta(days=400)
        rows["i.customers"].append(
            {
                "id": c.id,
                "external_code": None,
                "name": c.name,
                "segment": c.segment,
                "tier": c.tier,
                "language": "zh",
                "provisional": False,
                "created_at": stamp,
                "updated_at": stamp,
            }
        )
        rows["i.contacts"].append(
            {"customer_id": c.id, "kind": "phone", "value": c.phone_key, "display": c.phone}
        )
        for model, serial in c.serials:
            rows["i.products"].append(
                {"customer_id": c.id, "model": model, "serial_number": serial}
            )

    seeded = Seeded(customers=people)
    engines = {service: create_async_engine(url) for service, url in urls.items()}
    try:
        return await _fill(
            engines, seeded, rows, people, chosen, complaints, rng, now, open_share, began
        )
    finally:
        for engine in engines.values():
            await engine.dispose()


async def _fill(
    engines: dict[str, AsyncEngine],
    seeded: Seeded,
    rows: dict[str, list[dict[str, Any]]],
    people: list[Customer],
    chosen: list[int],
    complaints: int,
    rng: random.Random,
    now: datetime,
    open_share: float,
    began: float,
) -> Seeded:
    for engine in engines.values():
        if engine.dialect.name == "sqlite":
            async with engine.begin() as conn:  # bulk load: no fsync per batch
                await conn.exec_driver_sql("PRAGMA synchronous=OFF")
    tables: dict[str, list[tuple[str, Any]]] = {
        "intake": [
            ("i.customers", intake_orm.CustomerRow),
            ("i.contacts", intake_orm.CustomerContactRow),
            ("i.products", intake_orm.CustomerProductRow),
            ("i.complaints", intake_orm.ComplaintRow),
        ],
        "routing": [
            ("r.complaints", routing_orm.ComplaintRow),
            ("r.triages", routing_orm.TriageRow),
            ("r.records", routing_orm.TriageRecordRow),
            ("r.clocks", routing_orm.SlaClockRow),
        ],
        "rectification": [
            ("c.cases", rect_orm.CaseRow),
            ("c.history", rect_orm.CaseHistoryRow),
            ("c.plans", rect_orm.ResolutionPlanRow),
            ("c.actions", rect_orm.ResolutionActionRow),
            ("c.facts", rect_orm.ComplaintFactsRow),
        ],
        "notify": [
            ("n.deliveries", notify_orm.DeliveryRow),
            ("n.facts", notify_orm.ComplaintFactsRow),
        ],
    }

    async def flush() -> None:
        """Write what was generated so far, so memory stays bounded by a chunk."""
        for service, pairs in tables.items():
            for key, model in pairs:
                await _insert(engines[service], model.__table__, rows[key])
                seeded.rows[f"{service}.{model.__tablename__}"] += len(rows[key])
                rows[key].clear()

    await flush()  # the customers
    # Received times: evenly over the past year, oldest first; the open ones are
    # the most recent (a complaint takes days to weeks to close).
    span = timedelta(days=365).total_seconds()
    times = sorted(now - timedelta(seconds=rng.random() * span) for _ in range(complaints))
    open_from = int(complaints * (1 - open_share))
    serial_of_year: Counter = Counter()
    for n in range(complaints):
        if len(rows["i.complaints"]) >= CHUNK:
            await flush()
        who = people[chosen[n]]
        received = times[n]
        year = received.year
        serial_of_year[year] += 1
        reference = f"TS-{year}-{serial_of_year[year]:06d}"
        complaint_id = _uuid(rng)
        event_id = str(_uuid(rng))
        kind = rng.choices(KINDS, weights=KIND_WEIGHTS)[0]
        category, department, title, description = kind
        channel = rng.choices(CHANNELS, weights=CHANNEL_WEIGHTS)[0]
        urgency = rng.choices(URGENCIES, weights=URGENCY_WEIGHTS)[0]
        model, serial = rng.choice(who.serials)
        is_open = n >= open_from
        withdrawn = not is_open and rng.random() < 0.04
        intake_status = "received" if is_open else ("withdrawn" if withdrawn else "closed")
        triaged_at = received + timedelta(seconds=rng.uniform(0.1, 2))
        opened_at = triaged_at + timedelta(seconds=rng.uniform(0.1, 2))

        seeded.complaint_ids.append(complaint_id)
        seeded.references.append(reference)
        seeded.departments.append(department)
        seeded.open_flags.append(is_open)

        rows["i.complaints"].append(
            {
                "id": complaint_id,
                "reference": reference,
                "channel": channel,
                "status": intake_status,
                "title": title,
                "description": description,
                "customer_name": who.name,
                "customer_phone": who.phone,
                "customer_email": None,
                "product_model": model,
                "serial_number": serial,
                "language": "zh",
                "received_at": received,
                "received_by": f"agent{n % 40:02d}",
                "customer_id": who.id,
                "customer_fax": None,
                "phone_key": who.phone_key,
                "customer_tier": who.tier,
                "customer_segment": who.segment,
                "key_account": who.key_account,
                "provisional_customer": False,
                "ocr_confidence": None,
                "tracking_token_hash": None,
            }
        )
        rows["r.complaints"].append(
            {
                "complaint_id": complaint_id,
                "reference": reference,
                "channel": channel,
                "received_at": received,
                "title": title,
                "description": description,
                "product_model": model,
                "serial_number": serial,
                "customer_id": who.id,
                "customer_tier": who.tier,
                "customer_segment": who.segment,
                "key_account": who.key_account,
                "attachment_count": 0,
                "status": "triaged",
                "open": is_open,
                "duplicate_of": None,
                "provisional_urgency": urgency,
                "received_event_id": event_id,
                "updated_at": opened_at,
            }
        )
        triage = {
            "category": category,
            "urgency": urgency,
            "owner_department": department,
            "quality_report_needed": False,
            "rule_id": f"default-{category}",
            "ruleset_version": "1",
            "decided_by": "rules",
        }
        rows["r.triages"].append(
            {
                "complaint_id": complaint_id,
                "reference": reference,
                **triage,
                "triaged_at": triaged_at,
                "received_event_id": event_id,
            }
        )
        rows["r.records"].append(
            {
                "complaint_id": complaint_id,
                "kind": "rules",
                **triage,
                "reason": None,
                "recorded_at": triaged_at,
            }
        )

        # The case, and what the clocks did.
        if is_open:
            case_status = rng.choices(OPEN_CASE_STATUSES, weights=OPEN_CASE_WEIGHTS)[0]
        else:
            case_status = "withdrawn" if withdrawn else "closed"
        first_due = received + timedelta(hours=24)
        plan_due = received + timedelta(hours=PLAN_BUDGET_H[urgency])
        answered = not (case_status == "awaiting_resolution" and rng.random() < 0.3)
        first_at = min(received + timedelta(hours=rng.uniform(0.2, 30)), now) if answered else None
        planned = case_status in PLANNED
        proposed_at = (
            min(received + timedelta(hours=rng.uniform(2, PLAN_BUDGET_H[urgency] * 1.3)), now)
            if planned
            else None
        )
        closed_at = (
            min(received + timedelta(days=rng.uniform(2, 25)), now)
            if case_status in ("closed", "withdrawn")
            else None
        )
        clocks = []
        for clock, budget_h, due, stop in (
            ("first_response", 24, first_due, first_at or closed_at),
            ("resolution_plan", PLAN_BUDGET_H[urgency], plan_due, proposed_at or closed_at),
        ):
            budget = budget_h * 3600.0
            warn = due - timedelta(seconds=budget * 0.25)
            state, stopped, warned, breached, check = "running", None, None, None, None
            if stop is not None:
                state, stopped = ("cancelled" if withdrawn else "stopped"), stop
                warned = warn if stop >= warn else None
                breached = due if stop >= due else None
            elif due <= now:  # breached already; the scheduler recorded it
                warned, breached = warn, due
            elif warn <= now:
                warned, check = warn, due
            else:
                check = warn
            clocks.append(
                {
                    "complaint_id": complaint_id,
                    "clock": clock,
                    "reference": reference,
                    "urgency": urgency,
                    "customer_tier": who.tier,
                    "key_account": who.key_account,
                    "owner_department": department,
                    "basis": "clock",
                    "budget_seconds": budget,
                    "started_at": received,
                    "pauses": [],
                    "state": state,
                    "stopped_at": stopped,
                    "due_at": due,
                    "warn_at": warn,
                    "warning_sent_at": warned,
                    "breached_at": breached,
                    "next_check_at": check,
                    "updated_at": opened_at,
                    "calendar_version": 0,
                    "previous_runs": [],
                }
            )
        rows["r.clocks"].extend(clocks)

        case_id = _uuid(rng)
        implemented = case_status in ("resolution_implemented", "satisfied", "closed")
        accepted = implemented or case_status == "resolution_accepted"
        action_due = (proposed_at or received).date() + timedelta(days=rng.randint(3, 20))
        next_due_at, next_due_what = None, None
        if case_status in ("awaiting_resolution", "resolution_rejected"):
            candidates = [(plan_due, "resolution_plan")]
            if first_at is None:
                candidates.append((first_due, "first_response"))
            next_due_at, next_due_what = min(candidates)
        elif case_status == "resolution_accepted":
            next_due_at = datetime(
                action_due.year, action_due.month, action_due.day, 15, 59, 59, tzinfo=UTC
            )  # 23:59:59 Asia/Shanghai
            next_due_what = "action:1"
        elif case_status == "resolution_proposed":
            next_due_what = "customer_decision"
        elif case_status == "resolution_implemented":
            next_due_what = "callback"
        rows["c.cases"].append(
            {
                "case_id": case_id,
                "complaint_id": complaint_id,
                "reference": reference,
                "status": case_status,
                "owner_department": department,
                "category": category,
                "urgency": urgency,
                "opened_at": opened_at,
                "version": 1,
                "customer_tier": who.tier,
                "channel": channel,
                "first_response_due": first_due,
                "resolution_plan_due": plan_due,
                "first_response_at": first_at,
                "resolution_proposed_at": proposed_at,
                "resolution_accepted_at": proposed_at if accepted else None,
                "implemented_at": proposed_at if implemented else None,
                "callback_at": closed_at if case_status == "closed" else None,
                "satisfaction_score": rng.randint(3, 5) if case_status == "closed" else None,
                "closed_at": closed_at,
                "plan_version": 1 if planned else 0,
                "waiting_since": None,
                "wait_reason": None,
                "open_rectifications": 0,
                "rectifications_total": 0,
                "rectifications_waived": 0,
                "reopen_count": 0,
                "next_due_at": next_due_at,
                "next_due_what": next_due_what,
            }
        )
        rows["c.history"].append(
            {
                "case_id": case_id,
                "status": "awaiting_resolution",
                "at": opened_at,
                "actor": "system",
                "action": "open",
                "from_status": None,
                "detail": None,
            }
        )
        if case_status != "awaiting_resolution":
            rows["c.history"].append(
                {
                    "case_id": case_id,
                    "status": case_status,
                    "at": closed_at or proposed_at or opened_at,
                    "actor": f"{department}-staff",
                    "action": "close" if case_status == "closed" else None,
                    "from_status": "awaiting_resolution",
                    "detail": None,
                }
            )
        if planned:
            rejected = case_status == "resolution_rejected"
            decided = accepted or rejected
            rows["c.plans"].append(
                {
                    "case_id": case_id,
                    "plan_version": 1,
                    "investigation": "检查后确认原因，制定处理方案。",
                    "proposed_at": proposed_at,
                    "proposed_by": f"{department}-staff",
                    "decision": ("reject" if rejected else "accept") if decided else None,
                    "decided_at": proposed_at if decided else None,
                    "decided_by": "agent00" if decided else None,
                    "decision_via": "hotline" if decided else None,
                    "decision_comment": None,
                }
            )
            rows["c.actions"].append(
                {
                    "case_id": case_id,
                    "plan_version": 1,
                    "position": 1,
                    "kind": "repair",
                    "description": "更换损坏零件并试车",
                    "due_date": action_due,
                    "amount": None,
                    "currency": None,
                    "done_at": proposed_at if implemented else None,
                    "done_by": f"{department}-staff" if implemented else None,
                    "note": None,
                }
            )
        rows["c.facts"].append(
            {
                "complaint_id": complaint_id,
                "reference": reference,
                "received_at": received,
                "channel": channel,
                "customer_tier": who.tier,
                "feedback_requested": False,
                "withdrawn_at": closed_at if withdrawn else None,
                "feedback_requested_at": None,
                "feedback_requested_via": None,
            }
        )
        sent = received + timedelta(seconds=rng.uniform(0.3, 3))
        rows["n.deliveries"].append(
            {
                "id": _uuid(rng),
                "source_event_id": event_id,
                "event_type": "complaint.received",
                "complaint_id": complaint_id,
                "reference": reference,
                "template": "acknowledgement",
                "channel": "sms",
                "recipient_kind": "customer",
                "recipient_key": "customer",
                "subscription_id": None,
                "language": "zh",
                "context": {"reference": reference},
                "message_id": None,
                "masked_recipient": who.phone[:7] + "****" + who.phone[-4:],
                "status": "sent",
                "attempts": 1,
                "last_error": None,
                "response_status": None,
                "next_attempt_at": None,
                "claimed_at": sent,
                "sent_at": sent,
                "created_at": received,
                "updated_at": sent,
            }
        )
        rows["n.facts"].append(
            {
                "complaint_id": complaint_id,
                "reference": reference,
                "language": "zh",
                "owner_department": department,
                "urgency": urgency,
                "customer_tier": who.tier,
                "updated_at": opened_at,
            }
        )
    await flush()
    counters = [{"year": y, "last_value": v} for y, v in serial_of_year.items()]
    async with engines["intake"].begin() as conn:
        await conn.execute(intake_orm.ReferenceCounter.__table__.delete())
        await conn.execute(intake_orm.ReferenceCounter.__table__.insert(), counters)
    for engine in engines.values():
        if engine.dialect.name != "sqlite":
            # autovacuum would have analysed these tables long ago; SQLite's
            # services never run ANALYZE, so neither does the seed there.
            async with engine.begin() as conn:
                await conn.exec_driver_sql("ANALYZE")
    seeded.seconds = time.perf_counter() - began
    return seeded
