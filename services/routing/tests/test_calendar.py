"""Business-calendar arithmetic: weekends, holidays, make-up days, Shanghai midnight."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tousu_common.events.catalog import CustomerTier, SlaClock, Urgency
from tousu_routing.bootstrap import build_calendar
from tousu_routing.config import Settings
from tousu_routing.domain.calendar import BusinessCalendar, CalendarError
from tousu_routing.domain.sla import Basis, Budget, Pause, SlaPolicy, parse_budget

SHANGHAI = ZoneInfo("Asia/Shanghai")
HOUR = 3600.0


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


CALENDAR = build_calendar(Settings(jwt_secret="s" * 40, environment="test"))
POLICY = SlaPolicy.from_table(CALENDAR)


@pytest.fixture(scope="module")
def calendar() -> BusinessCalendar:
    return CALENDAR


def test_working_time_inside_one_day(calendar: BusinessCalendar) -> None:
    assert calendar.add_working_time(local(2026, 11, 23, 10, 0), 2 * HOUR) == local(
        2026, 11, 23, 12, 0
    )


def test_working_time_runs_over_the_weekend(calendar: BusinessCalendar) -> None:
    # Friday 16:30 + 2 working hours: one hour on Friday, one on Monday.
    friday = local(2026, 11, 27, 16, 30)
    assert calendar.add_working_time(friday, 2 * HOUR) == local(2026, 11, 30, 9, 30)


def test_one_working_day_from_friday_afternoon_is_monday_afternoon(
    calendar: BusinessCalendar,
) -> None:
    assert calendar.add_working_time(
        local(2026, 11, 27, 15, 0), calendar.working_day_seconds
    ) == local(2026, 11, 30, 15, 0)


def test_received_on_a_saturday_starts_counting_monday_morning(
    calendar: BusinessCalendar,
) -> None:
    assert calendar.add_working_time(local(2026, 11, 28, 11, 0), HOUR) == local(2026, 11, 30, 9, 30)


def test_national_day_holiday_is_skipped(calendar: BusinessCalendar) -> None:
    # Wed 30 Sep 17:00 + 1 working hour: 1–7 Oct are holidays, 8 Oct (Thu) is worked.
    assert calendar.add_working_time(local(2026, 9, 30, 17, 0), HOUR) == local(2026, 10, 8, 9, 0)


def test_spring_festival_week_is_skipped(calendar: BusinessCalendar) -> None:
    # Fri 13 Feb 17:00 + 1h → Sat 14 Feb is a make-up working day.
    assert calendar.add_working_time(local(2026, 2, 13, 17, 0), HOUR) == local(2026, 2, 14, 9, 0)
    # Sat 14 Feb 17:00 + 1h → 15–23 Feb off → Tue 24 Feb.
    assert calendar.add_working_time(local(2026, 2, 14, 17, 0), HOUR) == local(2026, 2, 24, 9, 0)


def test_make_up_saturday_is_a_working_day(calendar: BusinessCalendar) -> None:
    # Sat 10 Oct 2026 is worked (调休) to pay for National Day.
    assert calendar.is_working_day(date(2026, 10, 10))
    assert not calendar.is_working_day(date(2026, 10, 17))  # an ordinary Saturday
    friday_late = local(2026, 10, 9, 17, 0)
    assert calendar.add_working_time(friday_late, HOUR) == local(2026, 10, 10, 9, 0)


def test_make_up_sunday_counts_too(calendar: BusinessCalendar) -> None:
    assert calendar.is_working_day(date(2026, 9, 20))
    assert calendar.working_seconds_between(local(2026, 9, 20, 0, 0), local(2026, 9, 21, 0, 0)) == (
        calendar.working_day_seconds
    )


def test_across_midnight_in_shanghai_is_the_next_local_day(calendar: BusinessCalendar) -> None:
    # 23 Nov 2026 20:00 UTC is already Tuesday 04:00 in Shanghai: the next
    # working time starts there at 08:30 on Tuesday, not on Monday.
    start = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)
    assert calendar.local_day(start) == date(2026, 11, 24)
    assert calendar.add_working_time(start, HOUR) == local(2026, 11, 24, 9, 30)
    # Monday 17:00 Shanghai + 1h: half an hour Monday, half Tuesday morning.
    assert calendar.add_working_time(local(2026, 11, 23, 17, 0), HOUR) == local(2026, 11, 24, 9, 0)


def test_working_seconds_between_skips_nights_and_weekends(calendar: BusinessCalendar) -> None:
    friday = local(2026, 11, 27, 17, 0)
    monday = local(2026, 11, 30, 9, 0)
    assert calendar.working_seconds_between(friday, monday) == HOUR
    assert calendar.working_seconds_between(monday, friday) == 0


def test_clock_time_ignores_the_calendar(calendar: BusinessCalendar) -> None:
    policy = SlaPolicy.from_table(calendar)
    saturday_night = local(2026, 11, 28, 23, 0)
    urgent = policy.budget(Urgency.urgent, SlaClock.first_response, CustomerTier.general, False)
    assert urgent == Budget(2 * HOUR, Basis.clock)
    assert policy.due(urgent, saturday_night, []) == local(2026, 11, 29, 1, 0)


def test_sla_table_and_halving_for_key_customers(calendar: BusinessCalendar) -> None:
    policy = SlaPolicy.from_table(calendar)
    day = calendar.working_day_seconds
    assert policy.budget(
        Urgency.general, SlaClock.resolution_plan, CustomerTier.general, False
    ) == Budget(5 * day, Basis.working)
    assert policy.budget(
        Urgency.important, SlaClock.first_response, CustomerTier.key, False
    ) == Budget(day / 2, Basis.working)
    assert policy.budget(
        Urgency.urgent, SlaClock.resolution_plan, CustomerTier.general, True
    ) == Budget(12 * HOUR, Basis.clock)


def test_overrides_and_bad_durations(calendar: BusinessCalendar) -> None:
    policy = SlaPolicy.from_table(calendar, {"urgent": {"first_response": "3s"}})
    assert policy.budgets[(Urgency.urgent, SlaClock.first_response)] == Budget(3, Basis.clock)
    assert parse_budget("4wh", calendar) == Budget(4 * HOUR, Basis.working)
    with pytest.raises(ValueError, match="not a duration"):
        parse_budget("two hours", calendar)
    with pytest.raises(ValueError):
        SlaPolicy.from_table(calendar, {"very_urgent": {"first_response": "1h"}})


def test_settings_refuse_a_calendar_that_cannot_work() -> None:
    with pytest.raises(ValueError, match="working hours"):
        Settings(jwt_secret="s" * 40, working_hours_start="18:00", working_hours_end="09:00")
    with pytest.raises(ValueError, match="timezone"):
        Settings(jwt_secret="s" * 40, timezone="Mars/Olympus_Mons")
    with pytest.raises(ValueError, match="duration"):
        Settings(jwt_secret="s" * 40, sla_durations={"urgent": {"first_response": "soon"}})


def test_configured_hours_holidays_and_make_up_days() -> None:
    calendar = build_calendar(
        Settings(
            jwt_secret="s" * 40,
            working_hours_start="09:00",
            working_hours_end="18:00",
            extra_holidays="2026-12-31",
            extra_makeup_days="2026-12-26",
        )
    )
    assert calendar.day_start == time(9, 0)
    assert not calendar.is_working_day(date(2026, 12, 31))
    assert calendar.is_working_day(date(2026, 12, 26))  # a Saturday


def test_a_calendar_without_working_days_is_refused() -> None:
    with pytest.raises(CalendarError):
        BusinessCalendar(workdays=frozenset())


# -- properties ----------------------------------------------------------------

instants = st.datetimes(
    min_value=datetime(2025, 12, 1), max_value=datetime(2027, 1, 31), timezones=st.just(UTC)
)
budgets = st.builds(
    Budget,
    seconds=st.floats(min_value=1, max_value=10 * 32400, allow_nan=False),
    basis=st.sampled_from(list(Basis)),
)


@settings(max_examples=200, deadline=None)
@given(start=instants, seconds=st.floats(min_value=0, max_value=30 * 32400, allow_nan=False))
def test_a_deadline_is_never_earlier_than_its_start(start: datetime, seconds: float) -> None:
    assert CALENDAR.add_working_time(start, seconds) >= start


@settings(max_examples=200, deadline=None)
@given(start=instants, seconds=st.floats(min_value=1, max_value=5 * 32400, allow_nan=False))
def test_added_working_time_is_exactly_the_working_time_between(
    start: datetime, seconds: float
) -> None:
    end = CALENDAR.add_working_time(start, seconds)
    assert abs(CALENDAR.working_seconds_between(start, end) - seconds) < 1e-3


pauses = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=20 * 86400), st.floats(min_value=0, max_value=5 * 86400)
    ),
    max_size=4,
)


@settings(max_examples=200, deadline=None)
@given(start=instants, budget=budgets, gaps=pauses)
def test_pausing_never_shortens_a_clock(
    start: datetime, budget: Budget, gaps: list[tuple[float, float]]
) -> None:
    policy = POLICY
    unpaused = policy.due(budget, start, [])
    assert unpaused is not None and unpaused >= start
    # Pauses in order, each after the previous one ended.
    cursor, waits = start, []
    for offset, length in gaps:
        begin = cursor + timedelta(seconds=offset)
        end = begin + timedelta(seconds=length)
        waits.append(Pause(begin, end))
        cursor = end
    paused = policy.due(budget, start, waits)
    assert paused is not None and paused >= unpaused
    warn = policy.warn(budget, start, waits)
    assert warn is not None and start <= warn <= paused
    # A pause still open means no deadline yet (the clock is stopped in time).
    if waits:
        still_waiting = [*waits[:-1], Pause(waits[-1].start)]
        due = policy.due(budget, start, still_waiting)
        assert due is None or due <= waits[-1].start
