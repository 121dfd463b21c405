"""An independent, deliberately plain reference for every digest KPI, computed
straight from the raw events (no database, nothing from ``tousu_notify``).

It follows the definitions in ``services/notify/README.md`` ("Digests")
literally: for each complaint, gather what its events say; for a period, ask
each complaint the questions the definitions ask — as of the period's end, or
as of ``as_of`` for a period still running (a partial digest).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tousu_common.events import Event


class Complaint:
    def __init__(self) -> None:
        self.received: Any = None
        self.triages: list[Any] = []
        self.reassigns: list[Any] = []
        self.linked: list[datetime] = []
        self.unlinked: list[datetime] = []
        self.sla: list[tuple[str, str, datetime, datetime]] = []  # kind, clock, raised, due
        self.responses: list[datetime] = []
        self.proposals: list[datetime] = []
        self.withdrawals: list[datetime] = []
        self.closes: list[Any] = []
        self.reopens: list[datetime] = []
        self.callbacks: list[tuple[datetime, int]] = []


class Rect:
    def __init__(self) -> None:
        self.events: list[Event] = []


def build(events: list[Event]) -> tuple[dict[Any, Complaint], dict[Any, Rect]]:
    complaints: dict[Any, Complaint] = defaultdict(Complaint)
    rects: dict[Any, Rect] = defaultdict(Rect)
    for e in events:
        d = e.data
        c = complaints[d.complaint_id]
        t = e.type
        if t == "complaint.received":
            c.received = d
        elif t == "complaint.triaged":
            c.triages.append(d)
        elif t == "complaint.reassigned":
            c.reassigns.append(d)
        elif t == "complaint.duplicate_linked":
            c.linked.append(d.linked_at)
        elif t == "complaint.duplicate_unlinked":
            c.unlinked.append(d.unlinked_at)
        elif t in ("sla.warning", "sla.breached"):
            c.sla.append((t, d.clock.value, d.raised_at, d.due_at))
        elif t == "case.first_response_recorded":
            c.responses.append(d.at)
        elif t == "resolution.proposed":
            c.proposals.append(d.at)
        elif t == "complaint.withdrawn":
            c.withdrawals.append(d.withdrawn_at)
        elif t == "complaint.closed":
            c.closes.append(d)
        elif t == "complaint.reopened":
            c.reopens.append(d.at)
        elif t == "callback.done":
            c.callbacks.append((d.at, d.score))
        elif t.startswith("rectification."):
            rects[d.rectification_id].events.append(e)
    return complaints, rects


# -- what one complaint says --------------------------------------------------


def received_at(c: Complaint) -> datetime | None:
    return c.received.received_at if c.received else None


def latest_triage(c: Complaint) -> Any:
    return max(c.triages, key=lambda d: d.triaged_at) if c.triages else None


def category(c: Complaint) -> str | None:
    tr = latest_triage(c)
    if tr:
        return tr.category.value
    return c.closes[0].category.value if c.closes else None


def urgency(c: Complaint) -> str | None:
    tr = latest_triage(c)
    return tr.urgency.value if tr else None


def owner(c: Complaint) -> str | None:
    changes = [(d.triaged_at, d.owner_department) for d in c.triages]
    changes += [(d.reassigned_at, d.to_department) for d in c.reassigns]
    return max(changes)[1] if changes else None


def tier(c: Complaint) -> str | None:
    if c.received:
        return c.received.customer_tier.value
    return c.triages[0].customer_tier.value if c.triages else None


def is_duplicate(c: Complaint) -> bool:
    if not c.linked:
        return False
    return not c.unlinked or max(c.unlinked) < max(c.linked)


def due(c: Complaint, clock: str) -> datetime | None:
    restated = [(raised, due_at) for _, k, raised, due_at in c.sla if k == clock]
    if restated:
        return max(restated)[1]
    tr = latest_triage(c)
    if tr is None:
        return None
    return tr.first_response_due if clock == "first_response" else tr.resolution_plan_due


def clock_outcome(c: Complaint, clock: str) -> tuple[datetime, bool] | None:
    """(when the outcome became known, met?)"""
    d = due(c, clock)
    if d is None:
        return None
    done = c.responses if clock == "first_response" else c.proposals
    first = min(done) if done else None
    if first is not None and first <= d:
        return first, True
    return d, False


def withdrawn_at(c: Complaint) -> datetime | None:
    return min(c.withdrawals) if c.withdrawals else None


def state_at(c: Complaint, t: datetime) -> str:
    w = withdrawn_at(c)
    if w is not None and w < t:
        return "withdrawn"
    history = [(d.at, "closed") for d in c.closes] + [(at, "open") for at in c.reopens]
    history = [h for h in history if h[0] < t]
    if not history:
        return "open"
    return max(history)[1]


def is_open_at(c: Complaint, t: datetime) -> bool:
    r = received_at(c)
    return r is not None and r < t and not is_duplicate(c) and state_at(c, t) == "open"


# -- periods ------------------------------------------------------------------


def bounds(kind: str, label: str, tz: str) -> tuple[date, date]:
    if kind == "month":
        y, m = map(int, label.split("-"))
        start = date(y, m, 1)
        end = date(y + (m == 12), m % 12 + 1, 1)
    else:
        y, w = label.split("-W")
        start = date.fromisocalendar(int(y), int(w), 1)
        end = start + timedelta(days=7)
    return start, end


def previous_label(kind: str, label: str, tz: str) -> str:
    start, _ = bounds(kind, label, tz)
    day = start - timedelta(days=1)
    if kind == "month":
        return f"{day.year}-{day.month:02d}"
    y, w, _ = day.isocalendar()
    return f"{y}-W{w:02d}"


def utc(day: date, tz: str) -> datetime:
    return datetime.combine(day, time(0), ZoneInfo(tz)).astimezone(UTC)


def r4(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def ordered(counter: Counter) -> dict[str, int]:
    return dict(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


def pct_summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0, "median": None, "p90": None}
    s = sorted(values)
    return {
        "count": len(s),
        "median": round(statistics.median(s), 2),
        "p90": round(s[math.ceil(len(s) * 0.9) - 1], 2),
    }


def rect_facts(r: Rect) -> dict[str, Any]:
    f: dict[str, Any] = {"failures": [], "roots": []}
    for e in r.events:
        d = e.data
        f["kind"] = d.kind.value
        f["department"] = d.department or f.get("department")
        f["supplier"] = d.supplier_name or f.get("supplier")
        f["reference"] = d.reference
        if e.type in ("rectification.instructed", "rectification.notice_issued"):
            f["issued"] = min(f.get("issued", d.at), d.at)
            f.setdefault("issued_due", d.due_date)
            if e.type == "rectification.notice_issued":
                f["notice_number"] = d.notice_number
        elif e.type == "rectification.notice_dispatched":
            f["dispatched_due"] = d.due_date
        elif e.type == "rectification.supplier_responded":
            f["responded"] = min(f.get("responded", d.at), d.at)
            f["roots"].append((d.at, d.root_cause_category.value))
        elif e.type == "rectification.done":
            f["roots"].append((d.at, d.root_cause_category.value))
        elif e.type == "rectification.verification_passed":
            f["verified"] = max(f.get("verified", d.at), d.at)
        elif e.type == "rectification.verification_failed":
            f["failures"].append(d.at)
        elif e.type == "rectification.waived":
            f["waived"] = min(f.get("waived", d.at), d.at)
    f["due"] = f.get("dispatched_due") or f.get("issued_due")
    return f


def digest(
    events: list[Event],
    kind: str,
    label: str,
    *,
    tz: str = "Asia/Shanghai",
    units: dict[str, int] | None = None,
    trend_periods: int = 8,
    as_of: datetime | None = None,
) -> dict[str, Any]:
    complaints, rects = build(events)
    numbers = period_numbers(complaints, rects, kind, label, tz, units or {}, as_of=as_of)
    prev = period_numbers(complaints, rects, kind, previous_label(kind, label, tz), tz, units or {})
    current, previous = summary(numbers), summary(prev)
    numbers["previous"] = previous
    numbers["change"] = {
        k: None if current[k] is None or previous[k] is None else round(current[k] - previous[k], 4)
        for k in current
        if k != "period"
    }
    labels = [label]
    while len(labels) < trend_periods:
        labels.append(previous_label(kind, labels[-1], tz))
    numbers["trend"] = []
    for lab in reversed(labels):
        n = numbers if lab == label else period_numbers(complaints, rects, kind, lab, tz, {})
        numbers["trend"].append(
            {
                "period": lab,
                "received": n["volume"]["received"],
                "closed": n["volume"]["closed"],
                "first_response_rate": n["timeliness"]["first_response"]["rate"],
            }
        )
    return numbers


def summary(n: dict[str, Any]) -> dict[str, Any]:
    return {
        "period": n["period"]["label"],
        "received": n["volume"]["received"],
        "closed": n["volume"]["closed"],
        "open_backlog_end": n["volume"]["open_backlog_end"],
        "first_response_rate": n["timeliness"]["first_response"]["rate"],
        "completion_rate": n["completion"]["rate"],
        "satisfied_share": n["satisfaction"]["satisfied_share"],
        "reopen_rate": n["reopen"]["rate"],
        "rectifications_opened": n["rectifications"]["opened"],
    }


def period_numbers(
    complaints: dict[Any, Complaint],
    rects: dict[Any, Rect],
    kind: str,
    label: str,
    tz: str,
    units: dict[str, int],
    as_of: datetime | None = None,
) -> dict[str, Any]:
    first_day, last_day = bounds(kind, label, tz)
    start, period_end = utc(first_day, tz), utc(last_day, tz)
    # Everything below is as of `end`: the period's end, or the moment a running
    # period's digest is computed; `end_day` is that instant's local date.
    end = period_end if as_of is None else min(max(as_of, start), period_end)
    end_day = end.astimezone(ZoneInfo(tz)).date()

    def inside(t: datetime | None) -> bool:
        return t is not None and start <= t < end

    cohort = [(cid, c) for cid, c in complaints.items() if inside(received_at(c))]

    # closed in the period (latest close in it), not withdrawn by the end
    closed = {}
    for cid, c in complaints.items():
        times = [d.at for d in c.closes if inside(d.at)]
        w = withdrawn_at(c)
        if times and not (w is not None and w < end):
            closed[cid] = max(times)

    facts = {cid: rect_facts(r) for cid, r in rects.items()}
    supplier_pairs = set()
    cohort_ids = {cid for cid, _ in cohort}
    for rid, r in rects.items():
        f = facts[rid]
        cid = r.events[0].data.complaint_id
        if (
            cid in cohort_ids
            and f["kind"] == "supplier_notice"
            and f.get("issued")
            and f["issued"] < end
        ):
            supplier_pairs.add((cid, f["supplier"]))

    by = {
        "channel": ordered(Counter(c.received.channel.value for _, c in cohort)),
        "category": ordered(Counter(category(c) or "untriaged" for _, c in cohort)),
        "urgency": ordered(Counter(urgency(c) or "untriaged" for _, c in cohort)),
        "customer_tier": ordered(Counter(tier(c) or "unknown" for _, c in cohort)),
        "customer_segment": ordered(
            Counter(
                c.received.customer_segment.value if c.received.customer_segment else "unknown"
                for _, c in cohort
            )
        ),
        "owner_department": ordered(Counter(owner(c) or "untriaged" for _, c in cohort)),
        "product_model": ordered(Counter(c.received.product_model or "unknown" for _, c in cohort)),
        "supplier": ordered(Counter(s for _, s in supplier_pairs)),
    }

    def clock(name: str, by_urgency: bool = False) -> Any:
        results: list[tuple[bool | None, str]] = []
        for c in complaints.values():
            o = clock_outcome(c, name)
            if o is None or is_duplicate(c):
                continue
            w = withdrawn_at(c)
            if inside(o[0]):
                if w is not None and w <= o[0]:
                    continue
                results.append((o[1], urgency(c) or "untriaged"))
            elif o[0] >= end and due(c, name) < period_end and not (w is not None and w < end):
                # due later in the running period and not met yet: pending
                results.append((None, urgency(c) or "untriaged"))

        def summarise(rs: list[tuple[bool | None, str]]) -> dict[str, Any]:
            met = sum(1 for ok, _ in rs if ok is True)
            missed = sum(1 for ok, _ in rs if ok is False)
            return {
                "eligible": met + missed,
                "met": met,
                "missed": missed,
                "rate": r4(met, met + missed),
                "pending": len(rs) - met - missed,
            }

        if not by_urgency:
            return summarise(results)
        return {
            u: summarise([r for r in results if r[1] == u]) for u in sorted({r[1] for r in results})
        }

    open_end = [c for c in complaints.values() if is_open_at(c, end)]
    ageing = {"<2d": 0, "2-7d": 0, "7-14d": 0, "14-30d": 0, ">=30d": 0}
    overdue = []
    for c in open_end:
        days = (end - received_at(c)).total_seconds() / 86400
        key = (
            "<2d"
            if days < 2
            else "2-7d"
            if days < 7
            else "7-14d"
            if days < 14
            else "14-30d"
            if days < 30
            else ">=30d"
        )
        ageing[key] += 1
        late = []
        for name, done in (("first_response", c.responses), ("resolution_plan", c.proposals)):
            d = due(c, name)
            if d is not None and d < end and not any(t < end for t in done):
                late.append((name, d))
        if late:
            overdue.append(
                {
                    "reference": c.received.reference,
                    "category": category(c) or "untriaged",
                    "urgency": urgency(c) or "untriaged",
                    "customer_tier": tier(c) or "unknown",
                    "owner_department": owner(c) or "unknown",
                    "received_at": received_at(c).isoformat(),
                    "clocks": [n for n, _ in late],
                    "overdue_hours": round(
                        (end - min(d for _, d in late)).total_seconds() / 3600, 2
                    ),
                }
            )
    overdue.sort(key=lambda x: (-x["overdue_hours"], x["reference"]))

    hours_all, by_cat, by_tier = [], defaultdict(list), defaultdict(list)
    for cid, at in closed.items():
        c = complaints[cid]
        if received_at(c) is None:
            continue
        h = round((at - received_at(c)).total_seconds() / 3600, 2)
        hours_all.append(h)
        by_cat[category(c) or "untriaged"].append(h)
        by_tier[tier(c) or "unknown"].append(h)

    scores = [s for c in complaints.values() for at, s in c.callbacks if inside(at)]
    satisfied = sum(1 for s in scores if s >= 4)
    reopened = sum(1 for c in complaints.values() if any(inside(t) for t in c.reopens))

    work = [
        c
        for _, c in cohort
        if not is_duplicate(c) and not (withdrawn_at(c) and withdrawn_at(c) < end)
    ]
    done = sum(1 for c in work if state_at(c, end) == "closed")

    def dept(f: dict[str, Any]) -> str:
        return f.get("department") or ("supply" if f["kind"] == "supplier_notice" else "unknown")

    opened = [f for f in facts.values() if inside(f.get("issued"))]
    verified = [f for f in facts.values() if inside(f.get("verified"))]
    waived = [f for f in facts.values() if inside(f.get("waived"))]
    failed = [f for f in facts.values() for at in f["failures"] if inside(at)]
    tables: dict[str, dict[str, dict[str, int]]] = {"dept": {}, "supplier": {}}
    for name, fs in (
        ("opened", opened),
        ("verified", verified),
        ("failed_verification", failed),
        ("waived", waived),
    ):
        for f in fs:
            for table, key in (("dept", dept(f)), ("supplier", f.get("supplier") or "unknown")):
                if table == "supplier" and f["kind"] != "supplier_notice":
                    continue
                row = tables[table].setdefault(
                    key, {"opened": 0, "verified": 0, "failed_verification": 0, "waived": 0}
                )
                row[name] += 1
    overdue_notices = []
    for f in facts.values():
        if f["kind"] != "supplier_notice" or not f.get("issued") or f["issued"] >= end:
            continue
        if f.get("due") is None or f["due"] >= end_day:
            continue
        if any(f.get(k) is not None and f[k] < end for k in ("responded", "verified", "waived")):
            continue
        overdue_notices.append(
            {
                "reference": f["reference"],
                "notice_number": f.get("notice_number"),
                "supplier": f["supplier"],
                "due_date": str(f["due"]),
                "days_overdue": (end_day - f["due"]).days,
            }
        )
    overdue_notices.sort(key=lambda x: (-x["days_overdue"], x["reference"]))
    roots = Counter()
    for f in facts.values():
        if f["roots"]:
            first = min(at for at, _ in f["roots"])
            if inside(first):
                roots[max(f["roots"])[1]] += 1
    total = sum(roots.values())
    pareto, running = [], 0
    for cause, count in ordered(roots).items():
        running += count
        pareto.append(
            {
                "root_cause": cause,
                "count": count,
                "share": r4(count, total),
                "cumulative_share": r4(running, total),
            }
        )

    segments = Counter(
        c.received.customer_segment.value if c.received.customer_segment else None
        for _, c in cohort
    )
    return {
        "period": {
            "kind": kind,
            "label": label,
            "start": first_day.isoformat(),
            "end": (last_day - timedelta(days=1)).isoformat(),
            "timezone": tz,
            "start_utc": start.isoformat(),
            "end_utc": period_end.isoformat(),
            "as_of": end.isoformat(),
            "partial": end < period_end,
        },
        "volume": {
            "received": len(cohort),
            "duplicates": sum(1 for _, c in cohort if is_duplicate(c)),
            "closed": len(closed),
            "withdrawn": sum(1 for c in complaints.values() if inside(withdrawn_at(c))),
            "reopened": reopened,
            "open_backlog_start": sum(1 for c in complaints.values() if is_open_at(c, start)),
            "open_backlog_end": len(open_end),
        },
        "by": by,
        "timeliness": {
            "first_response": clock("first_response"),
            "resolution_plan": clock("resolution_plan"),
            "first_response_by_urgency": clock("first_response", by_urgency=True),
        },
        "sla": {
            "warnings": dict(
                sorted(
                    Counter(
                        k
                        for c in complaints.values()
                        for t, k, raised, _ in c.sla
                        if t == "sla.warning" and inside(raised)
                    ).items()
                )
            ),
            "breaches": dict(
                sorted(
                    Counter(
                        k
                        for c in complaints.values()
                        for t, k, raised, _ in c.sla
                        if t == "sla.breached" and inside(raised)
                    ).items()
                )
            ),
        },
        "completion": {"received": len(work), "closed": done, "rate": r4(done, len(work))},
        "ageing": ageing,
        "overdue": {"count": len(overdue), "items": overdue[:100]},
        "resolution_time_hours": {
            "all": pct_summary(hours_all),
            "by_category": {k: pct_summary(v) for k, v in sorted(by_cat.items())},
            "by_customer_tier": {k: pct_summary(v) for k, v in sorted(by_tier.items())},
        },
        "satisfaction": {
            "callbacks": len(scores),
            "distribution": {str(s): scores.count(s) for s in range(1, 6)},
            "satisfied": satisfied,
            "satisfied_share": r4(satisfied, len(scores)),
            "mean_score": round(sum(scores) / len(scores), 2) if scores else None,
        },
        "reopen": {"reopened": reopened, "closed": len(closed), "rate": r4(reopened, len(closed))},
        "rectifications": {
            "opened": len(opened),
            "verified": len(verified),
            "failed_verification": len(failed),
            "waived": len(waived),
            "by_department": dict(sorted(tables["dept"].items())),
            "by_supplier": dict(sorted(tables["supplier"].items())),
            "overdue_supplier_notices": {"count": len(overdue_notices), "items": overdue_notices},
            "root_causes": pareto,
        },
        "complaint_rate": {
            seg: {
                "units_in_service": u,
                "complaints": segments.get(seg, 0),
                "per_thousand_units": round(segments.get(seg, 0) * 1000 / u, 4),
            }
            for seg, u in sorted(units.items())
            if u > 0
        },
    }
