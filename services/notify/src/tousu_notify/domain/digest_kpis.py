"""The KPIs of SPEC §4 as pure functions of the rows a period's queries return.

No I/O and no clock here: the same rows always give the same numbers, which is
what makes a regenerated digest identical. Every figure is as of
``data.as_of``: the period's end once it has ended, the moment of computing
while it runs (a *partial* digest). Definitions (the README, section
"Digests", has the table for ended and running periods):

- *received*: complaints whose ``received_at`` falls in the period (duplicates
  included, and counted separately); the dimension counts are over these.
- *closed*: complaints with a ``complaint.closed`` in the period (once each),
  not withdrawn by the period end. *open backlog*: received before the
  instant, not a duplicate, neither withdrawn nor closed (nor reopened since).
- *response timeliness*: a first-response clock's outcome is known at
  min(first response, due): met when the first response came at or before the
  due time. The denominator is every non-duplicate complaint whose outcome
  became known in the period before ``as_of`` (and that was not withdrawn
  before it). A clock due later in a running period and not yet met is
  *pending*: neither met nor missed, outside the rate, counted apart.
- *completion rate*: of the complaints received in the period (without
  duplicates and those withdrawn by ``as_of``), the share closed at ``as_of``.
- *resolution time*: received → (latest) close in the period, hours;
  median = middle value (mean of the two middle ones), p90 = nearest rank.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from tousu_notify.domain.digest_data import Headline, OpenRow, PeriodData, RectRow, Summary
from tousu_notify.domain.digest_periods import local_date

UNKNOWN = "unknown"
UNTRIAGED = "untriaged"
AGEING_BUCKETS = ((2, "<2d"), (7, "2-7d"), (14, "7-14d"), (30, "14-30d"), (math.inf, ">=30d"))
OVERDUE_LIST_LIMIT = 100
SATISFIED_FROM = 4
DIMENSIONS = (
    "channel",
    "category",
    "urgency",
    "customer_tier",
    "customer_segment",
    "owner_department",
    "product_model",
    "supplier",
)


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def hours(seconds: float) -> float:
    return round(seconds / 3600, 2)


def percentile_summary(values: Iterable[float]) -> dict[str, Any]:
    ordered = sorted(values)
    if not ordered:
        return {"count": 0, "median": None, "p90": None}
    p90 = ordered[math.ceil(0.9 * len(ordered)) - 1]
    return {
        "count": len(ordered),
        "median": round(statistics.median(ordered), 2),
        "p90": round(p90, 2),
    }


def counts(values: Iterable[str | None], missing: str = UNKNOWN) -> dict[str, int]:
    """Counts by value, largest first, then by name (a stable order for CSV and charts)."""
    counter = Counter(value if value is not None else missing for value in values)
    return dict(sorted(counter.items(), key=lambda item: (-item[1], item[0])))


def _clock(outcomes: list[tuple[bool | None, str | None]]) -> dict[str, Any]:
    met = sum(1 for ok, _ in outcomes if ok is True)
    missed = sum(1 for ok, _ in outcomes if ok is False)
    return {
        "eligible": met + missed,
        "met": met,
        "missed": missed,
        "rate": rate(met, met + missed),
        "pending": len(outcomes) - met - missed,
    }


def _rect_department(row: RectRow) -> str:
    if row.department:
        return row.department
    return "supply" if row.kind == "supplier_notice" else UNKNOWN


def _rect_table(data: PeriodData, key: Any, only_suppliers: bool) -> dict[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = {}
    for name, rows in (
        ("opened", data.rect_opened),
        ("verified", data.rect_verified),
        ("failed_verification", data.rect_failed),
        ("waived", data.rect_waived),
    ):
        for row in rows:
            if only_suppliers and row.kind != "supplier_notice":
                continue
            entry = table.setdefault(
                key(row) or UNKNOWN,
                {"opened": 0, "verified": 0, "failed_verification": 0, "waived": 0},
            )
            entry[name] += 1
    return dict(sorted(table.items()))


def _overdue_item(row: OpenRow, end: datetime) -> dict[str, Any] | None:
    clocks = []
    if (
        row.fr_due is not None
        and row.fr_due < end
        and (row.first_response_at is None or row.first_response_at >= end)
    ):
        clocks.append(("first_response", row.fr_due))
    if (
        row.rp_due is not None
        and row.rp_due < end
        and (row.resolution_proposed_at is None or row.resolution_proposed_at >= end)
    ):
        clocks.append(("resolution_plan", row.rp_due))
    if not clocks:
        return None
    earliest_due = min(due for _, due in clocks)
    return {
        "reference": row.reference,
        "category": row.category or UNTRIAGED,
        "urgency": row.urgency or UNTRIAGED,
        "customer_tier": row.customer_tier or UNKNOWN,
        "owner_department": row.owner_department or UNKNOWN,
        "received_at": row.received_at.isoformat(),
        "clocks": [name for name, _ in clocks],
        "overdue_hours": hours((end - earliest_due).total_seconds()),
    }


def headline_numbers(headline: Headline) -> dict[str, Any]:
    return {
        "period": headline.period,
        "received": headline.received,
        "closed": headline.closed,
        "first_response_rate": rate(headline.fr_met, headline.fr_eligible),
    }


def compute(
    data: PeriodData,
    *,
    previous: Mapping[str, Any],
    trend: list[Headline],
    units_in_service: Mapping[str, int],
) -> dict[str, Any]:
    """Every KPI of the period. ``previous`` is the previous period's
    :func:`summary`; ``trend`` the recent periods' headlines, oldest first."""
    period = data.period
    end = data.as_of  # the period's end, or the moment of computing while it runs
    cohort = data.cohort
    work = [row for row in cohort if not row.is_duplicate and not row.withdrawn_by_end]

    by: dict[str, dict[str, int]] = {
        "channel": counts(row.channel for row in cohort),
        "category": counts((row.category for row in cohort), UNTRIAGED),
        "urgency": counts((row.urgency for row in cohort), UNTRIAGED),
        "customer_tier": counts(row.customer_tier for row in cohort),
        "customer_segment": counts(row.customer_segment for row in cohort),
        "owner_department": counts((row.owner_department for row in cohort), UNTRIAGED),
        "product_model": counts(row.product_model for row in cohort),
        "supplier": counts(supplier for _, supplier in data.cohort_suppliers),
    }

    ageing = {label: 0 for _, label in AGEING_BUCKETS}
    overdue = []
    for row in data.open_at_end:
        age_days = (end - row.received_at).total_seconds() / 86400
        ageing[next(label for limit, label in AGEING_BUCKETS if age_days < limit)] += 1
        item = _overdue_item(row, end)
        if item is not None:
            overdue.append(item)
    overdue.sort(key=lambda item: (-item["overdue_hours"], item["reference"] or ""))

    resolution: dict[str, Any] = {"all": None, "by_category": {}, "by_customer_tier": {}}
    timed = [row for row in data.closed if row.received_at is not None]
    resolution["all"] = percentile_summary(
        hours((row.closed_at - row.received_at).total_seconds())
        for row in timed  # type: ignore[operator]
    )
    for field, attribute, missing in (
        ("by_category", "category", UNTRIAGED),
        ("by_customer_tier", "customer_tier", UNKNOWN),
    ):
        groups: dict[str, list[float]] = {}
        for row in timed:
            seconds = (row.closed_at - row.received_at).total_seconds()  # type: ignore[operator]
            groups.setdefault(getattr(row, attribute) or missing, []).append(hours(seconds))
        resolution[field] = {name: percentile_summary(groups[name]) for name in sorted(groups)}

    scores = Counter(data.callbacks)
    satisfied = sum(n for score, n in scores.items() if score >= SATISFIED_FROM)
    callbacks = len(data.callbacks)

    sla: dict[str, dict[str, int]] = {"warnings": {}, "breaches": {}}
    for kind, clock in sorted(data.sla_events):
        bucket = sla["warnings" if kind == "sla_warning" else "breaches"]
        bucket[clock] = bucket.get(clock, 0) + 1

    by_urgency: dict[str, list[tuple[bool | None, str | None]]] = {}
    for outcome in data.first_response:
        by_urgency.setdefault(outcome[1] or UNTRIAGED, []).append(outcome)

    causes = counts(data.root_causes)
    pareto, running = [], 0
    total_causes = len(data.root_causes)
    for cause, n in causes.items():
        running += n
        pareto.append(
            {
                "root_cause": cause,
                "count": n,
                "share": rate(n, total_causes),
                "cumulative_share": rate(running, total_causes),
            }
        )

    segment_counts = Counter(row.customer_segment for row in cohort)
    complaint_rate = {
        segment: {
            "units_in_service": units,
            "complaints": segment_counts.get(segment, 0),
            "per_thousand_units": round(segment_counts.get(segment, 0) * 1000 / units, 4),
        }
        for segment, units in sorted(units_in_service.items())
        if units > 0
    }

    closed_ids = {row.complaint_id for row in data.closed}
    as_of_day = local_date(end, period.tz)
    numbers: dict[str, Any] = {
        "period": {
            "kind": period.kind,
            "label": period.label,
            "start": period.start.isoformat(),
            "end": period.last_day.isoformat(),
            "timezone": period.tz,
            "start_utc": period.start_utc.isoformat(),
            "end_utc": period.end_utc.isoformat(),
            "as_of": end.isoformat(),
            "partial": end < period.end_utc,
        },
        "volume": {
            "received": len(cohort),
            "duplicates": sum(1 for row in cohort if row.is_duplicate),
            "closed": len(closed_ids),
            "withdrawn": data.withdrawn,
            "reopened": data.reopened,
            "open_backlog_start": data.open_at_start,
            "open_backlog_end": len(data.open_at_end),
        },
        "by": by,
        "timeliness": {
            "first_response": _clock(data.first_response),
            "resolution_plan": _clock(data.resolution_plan),
            "first_response_by_urgency": {
                name: _clock(by_urgency[name]) for name in sorted(by_urgency)
            },
        },
        "sla": sla,
        "completion": {
            "received": len(work),
            "closed": sum(1 for row in work if row.closed_by_end),
            "rate": rate(sum(1 for row in work if row.closed_by_end), len(work)),
        },
        "ageing": ageing,
        "overdue": {"count": len(overdue), "items": overdue[:OVERDUE_LIST_LIMIT]},
        "resolution_time_hours": resolution,
        "satisfaction": {
            "callbacks": callbacks,
            "distribution": {str(score): scores.get(score, 0) for score in range(1, 6)},
            "satisfied": satisfied,
            "satisfied_share": rate(satisfied, callbacks),
            "mean_score": round(sum(data.callbacks) / callbacks, 2) if callbacks else None,
        },
        "reopen": {
            "reopened": data.reopened,
            "closed": len(closed_ids),
            "rate": rate(data.reopened, len(closed_ids)),
        },
        "rectifications": {
            "opened": len(data.rect_opened),
            "verified": len(data.rect_verified),
            "failed_verification": len(data.rect_failed),
            "waived": len(data.rect_waived),
            "by_department": _rect_table(data, _rect_department, only_suppliers=False),
            "by_supplier": _rect_table(data, lambda row: row.supplier, only_suppliers=True),
            "overdue_supplier_notices": {
                "count": len(data.overdue_notices),
                "items": sorted(
                    (
                        {
                            "reference": row.reference,
                            "notice_number": row.notice_number,
                            "supplier": row.supplier,
                            "due_date": str(row.due_date),
                            "days_overdue": (as_of_day - row.due_date).days,  # type: ignore[operator]
                        }
                        for row in data.overdue_notices
                    ),
                    key=lambda item: (-item["days_overdue"], item["reference"] or ""),
                ),
            },
            "root_causes": pareto,
        },
        "complaint_rate": complaint_rate,
    }
    current = summary(numbers)
    numbers["previous"] = dict(previous)
    numbers["change"] = {
        name: (
            None
            if current[name] is None or previous.get(name) is None
            else round(current[name] - previous[name], 4)
        )
        for name in current
        if name != "period"
    }
    numbers["trend"] = [headline_numbers(headline) for headline in trend]
    return numbers


def summary(numbers: Mapping[str, Any]) -> dict[str, Any]:
    """The headline figures compared with the previous period."""
    return {
        "period": numbers["period"]["label"],
        "received": numbers["volume"]["received"],
        "closed": numbers["volume"]["closed"],
        "open_backlog_end": numbers["volume"]["open_backlog_end"],
        "first_response_rate": numbers["timeliness"]["first_response"]["rate"],
        "completion_rate": numbers["completion"]["rate"],
        "satisfied_share": numbers["satisfaction"]["satisfied_share"],
        "reopen_rate": numbers["reopen"]["rate"],
        "rectifications_opened": numbers["rectifications"]["opened"],
    }


def summary_from_counts(counted: Summary) -> dict[str, Any]:
    """:func:`summary` of a period from its SQL counts (the previous period)."""
    headline = counted.headline
    return {
        "period": headline.period,
        "received": headline.received,
        "closed": headline.closed,
        "open_backlog_end": counted.open_backlog_end,
        "first_response_rate": rate(headline.fr_met, headline.fr_eligible),
        "completion_rate": rate(counted.work_closed, counted.work),
        "satisfied_share": rate(counted.satisfied, counted.callbacks),
        "reopen_rate": rate(counted.reopened, headline.closed),
        "rectifications_opened": counted.rectifications_opened,
    }
