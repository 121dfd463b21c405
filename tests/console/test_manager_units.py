"""The manager screens' own rules, without a stack: which period the digests open
on (Asia/Shanghai, not UTC), what a period label may be, and how long and how far
an overdue complaint has gone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from tousu_console.api.digests import fmt, fmt_change, kpis, last_ended, parse_period
from tousu_console.api.manager import overdue_row

TZ = "Asia/Shanghai"


def test_the_digests_open_on_the_last_period_ended_in_shanghai_not_in_utc() -> None:
    # Sunday 2027-01-10 20:00 UTC is already Monday 04:00 in Shanghai: W01 has ended
    sunday_night_utc = datetime(2027, 1, 10, 20, 0, tzinfo=UTC)
    assert last_ended("week", sunday_night_utc, TZ).label == "2027-W01"
    # ... while at 15:00 UTC (23:00 there) the week still runs: the last ended is 2026-W53
    assert last_ended("week", datetime(2027, 1, 10, 15, 0, tzinfo=UTC), TZ).label == "2026-W53"
    # a month: 2027-03-31 17:00 UTC is 1 April in Shanghai
    assert last_ended("month", datetime(2027, 3, 31, 17, 0, tzinfo=UTC), TZ).label == "2027-03"
    assert last_ended("month", datetime(2027, 3, 31, 15, 0, tzinfo=UTC), TZ).label == "2027-02"


def test_period_labels_are_weeks_or_months_of_their_kind_only() -> None:
    week = parse_period("week", "2027-W05", TZ)
    assert week is not None
    assert (week.start, week.last_day) == (date(2027, 2, 1), date(2027, 2, 7))
    assert week.previous().label == "2027-W04" and week.next().label == "2027-W06"
    month = parse_period("month", "2028-02", TZ)
    assert month is not None and month.last_day == date(2028, 2, 29)  # a leap year
    assert month.next().label == "2028-03" and month.previous().label == "2028-01"
    assert parse_period("week", "2027-02", TZ) is None  # a month is not a week
    assert parse_period("month", "2027-W05", TZ) is None
    assert parse_period("week", "2027-W53", TZ) is None  # 2027 has 52 weeks
    assert parse_period("week", "2026-W53", TZ) is not None
    for bad in ("2027-13", "27-01", "2027-1", "../x", "2027-W00", ""):
        assert parse_period("month", bad, TZ) is None and parse_period("week", bad, TZ) is None
    # a period starts at local midnight: W05 has started at 2027-01-31 16:00 UTC
    assert week.started(datetime(2027, 1, 31, 16, 0, tzinfo=UTC))
    assert not week.started(datetime(2027, 1, 31, 15, 59, tzinfo=UTC))
    assert week.ended(datetime(2027, 2, 7, 16, 0, tzinfo=UTC))


def test_an_overdue_row_says_how_long_since_the_first_breach_and_which_clocks() -> None:
    now = datetime(2027, 5, 4, 10, 0, tzinfo=UTC)
    item = {
        "complaint_id": "0b6f5d7e-8c2e-4a55-9d55-1f2a3b4c5d6e",
        "reference": "TS-2027-000042",
        "title": "漏油",
        "owner_department": "technical",
        "urgency": "urgent",
        "status": "triaged",
        "key_account": True,
        "received_at": "2027-05-04T06:00:00+00:00",
        "first_response_due": (now - timedelta(hours=3)).isoformat(),
        "resolution_plan_due": (now + timedelta(hours=5)).isoformat(),
        "breached": True,
    }
    row = overdue_row(item, now)
    assert row.overdue_seconds == 3 * 3600
    assert row.breached_clocks == ("first_response",) and row.level == 1
    both = overdue_row(
        {**item, "resolution_plan_due": (now - timedelta(minutes=5)).isoformat()}, now
    )
    assert both.level == 2 and both.overdue_seconds == 3 * 3600  # since the earliest
    # breached by routing although the due instant moved (a pause): still shown as breached
    moved = overdue_row({**item, "first_response_due": None, "resolution_plan_due": None}, now)
    assert moved.overdue_seconds is None and moved.level == 1
    untriaged = overdue_row({**item, "owner_department": None}, now)
    assert untriaged.department == "csc"  # the triage desk's


def test_the_kpi_table_reads_notify_numbers_and_compares_with_the_previous_period() -> None:
    numbers = {
        "volume": {"received": 12, "closed": 7, "open_backlog_end": 5},
        "timeliness": {"first_response": {"rate": 0.75}, "resolution_plan": {"rate": None}},
        "previous": {"received": 10, "first_response_rate": 0.8},
        "change": {"received": 2, "first_response_rate": -0.05},
    }
    table = {k.key: k for k in kpis(numbers)}
    received = table["volume.received"]
    assert (received.value, received.previous, received.change) == (12, 10, 2)
    rate = table["timeliness.first_response.rate"]
    assert fmt(rate.value, "pct") == "75.0%" and fmt_change(rate.change, "pct") == "-5.0 pt"
    assert fmt(table["timeliness.resolution_plan.rate"].value, "pct") == "—"
    assert fmt(table["satisfaction.mean_score"].value, "score") == "—"  # not in the numbers
    assert fmt_change(received.change, "n") == "+2" and fmt(1234, "n") == "1,234"
