"""Business calendar (工作日历): working hours, weekends, holidays and make-up days.

Pure arithmetic, no I/O and no clock: every function takes the instants it
works on. Instants are timezone-aware and compared in UTC; the calendar's own
timezone decides which local day and which local working hours an instant
falls in (Asia/Shanghai by default, so 01:00 UTC is already 09:00 the same
day there and 20:00 UTC is 04:00 the *next* day).

A *make-up working day* (调休上班) is a Saturday or Sunday that is worked to
pay for a bridged holiday; a *holiday* is a normally working weekday that is
not. Both come from configuration (see ``data/cn-2026.yaml``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

#: Looking further than this for working time means the calendar has none.
MAX_DAYS_SEARCHED = 3 * 366


class CalendarError(ValueError):
    """The calendar configuration cannot work (no working time, bad hours)."""


@dataclass(frozen=True)
class BusinessCalendar:
    timezone: str = "Asia/Shanghai"
    day_start: time = time(8, 30)
    day_end: time = time(17, 30)
    #: ISO weekdays that are normally worked (Monday = 1 … Sunday = 7).
    workdays: frozenset[int] = frozenset({1, 2, 3, 4, 5})
    holidays: frozenset[date] = field(default_factory=frozenset)
    makeup_days: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.day_end <= self.day_start:
            raise CalendarError("working hours must end after they start")
        if not self.workdays and not self.makeup_days:
            raise CalendarError("the calendar has no working days")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise CalendarError(f"unknown timezone {self.timezone!r}") from exc

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def working_day_seconds(self) -> float:
        """Length of one working day: what "1 working day" of an SLA means."""
        start = datetime.combine(date(2000, 1, 3), self.day_start)
        end = datetime.combine(date(2000, 1, 3), self.day_end)
        return (end - start).total_seconds()

    def is_working_day(self, day: date) -> bool:
        if day in self.makeup_days:
            return True
        if day in self.holidays:
            return False
        return day.isoweekday() in self.workdays

    def local_day(self, instant: datetime) -> date:
        return _aware(instant).astimezone(self.zone).date()

    def window(self, day: date) -> tuple[datetime, datetime] | None:
        """The working hours of ``day`` as UTC instants, or None for a day off."""
        if not self.is_working_day(day):
            return None
        zone = self.zone
        start = datetime.combine(day, self.day_start, tzinfo=zone).astimezone(UTC)
        end = datetime.combine(day, self.day_end, tzinfo=zone).astimezone(UTC)
        return start, end

    def _windows_from(self, day: date) -> Iterator[tuple[datetime, datetime]]:
        for offset in range(MAX_DAYS_SEARCHED):
            window = self.window(day + timedelta(days=offset))
            if window is not None:
                yield window
        raise CalendarError(f"no working time within {MAX_DAYS_SEARCHED} days of {day}")

    def add_working_time(self, start: datetime, seconds: float) -> datetime:
        """The instant ``seconds`` of working time after ``start``.

        Time outside working hours does not count: 2 working hours from
        Friday 16:30 end on Monday 09:30. Zero seconds is ``start`` itself.
        """
        start = _aware(start).astimezone(UTC)
        if seconds <= 0:
            return start
        remaining = timedelta(seconds=seconds)
        for window_start, window_end in self._windows_from(self.local_day(start)):
            begin = max(start, window_start)
            if begin >= window_end:
                continue
            available = window_end - begin
            if remaining <= available:
                return begin + remaining
            remaining -= available
        raise AssertionError("unreachable")  # pragma: no cover - _windows_from raises

    def working_seconds_between(self, start: datetime, end: datetime) -> float:
        """Working time between two instants (0 if ``end`` is not after ``start``)."""
        start = _aware(start).astimezone(UTC)
        end = _aware(end).astimezone(UTC)
        if end <= start:
            return 0.0
        total = 0.0
        day = self.local_day(start)
        last = self.local_day(end)
        while day <= last:
            window = self.window(day)
            if window is not None:
                begin, finish = max(start, window[0]), min(end, window[1])
                if finish > begin:
                    total += (finish - begin).total_seconds()
            day += timedelta(days=1)
        return total

    def with_days(
        self, holidays: Iterable[date] = (), makeup_days: Iterable[date] = ()
    ) -> BusinessCalendar:
        """A copy with more holidays and make-up days (a day listed as both is worked)."""
        return BusinessCalendar(
            timezone=self.timezone,
            day_start=self.day_start,
            day_end=self.day_end,
            workdays=self.workdays,
            holidays=self.holidays | frozenset(holidays),
            makeup_days=self.makeup_days | frozenset(makeup_days),
        )


def _aware(instant: datetime) -> datetime:
    if instant.tzinfo is None:
        raise ValueError("naive datetime: pass a timezone-aware value")
    return instant


def parse_hhmm(value: str) -> time:
    try:
        hours, minutes = value.strip().split(":")
        return time(int(hours), int(minutes))
    except ValueError as exc:
        raise CalendarError(f"not a HH:MM time: {value!r}") from exc


def load_days(path: Path) -> tuple[frozenset[date], frozenset[date]]:
    """Holidays and make-up working days from a YAML file::

    holidays: [2026-01-01, 2026-01-02]
    makeup_working_days: [2026-01-04]
    """
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(document, dict):
        raise CalendarError(f"{path}: expected a mapping with 'holidays' and 'makeup_working_days'")
    return _dates(document.get("holidays"), path), _dates(document.get("makeup_working_days"), path)


def _dates(values: object, path: Path) -> frozenset[date]:
    if values is None:
        return frozenset()
    if not isinstance(values, list):
        raise CalendarError(f"{path}: expected a list of dates")
    days = set()
    for value in values:
        if isinstance(value, date):
            days.add(value)
        else:
            try:
                days.add(date.fromisoformat(str(value)))
            except ValueError as exc:
                raise CalendarError(f"{path}: not a date: {value!r}") from exc
    return frozenset(days)


def parse_date_list(value: str) -> frozenset[date]:
    """``"2026-12-31, 2027-01-01"`` → dates (for settings given in the environment)."""
    try:
        return frozenset(date.fromisoformat(part.strip()) for part in value.split(",") if part)
    except ValueError as exc:
        raise CalendarError(f"not a list of YYYY-MM-DD dates: {value!r}") from exc


# -- which years the calendar knows ---------------------------------------------


class YearSource(StrEnum):
    """How much is known of one year's public holidays.

    ``notice``: the State Council's notice (国务院办公厅关于部分节假日安排的通知) —
    holidays *and* make-up working days (调休上班) — is in the data.
    ``statutory``: only the days the law fixes (全国年节及纪念日放假办法, with a weekday
    off in lieu of one falling on a weekend) are known; the notice's bridge days and
    make-up working days are not, so due dates around the holidays may be wrong.
    """

    notice = "notice"
    statutory = "statutory"


@dataclass(frozen=True)
class PublicYear:
    """One year's public days off and make-up working days, and where they come from."""

    year: int
    source: YearSource
    holidays: frozenset[date]
    makeup_days: frozenset[date]
    origin: str  # e.g. "data/cn-2026.yaml", "holidays 0.109", "calendar version 3"


#: From this day of December on, next year's holidays must be known too.
NEXT_YEAR_NEEDED_FROM = (12, 1)


def required_years(today: date) -> list[int]:
    """The years whose holidays must be known on ``today``: this one, and from
    1 December next year's too (due dates late in December run into January)."""
    years = [today.year]
    if (today.month, today.day) >= NEXT_YEAR_NEEDED_FROM:
        years.append(today.year + 1)
    return years


def uncovered_years(years: dict[int, PublicYear], today: date) -> list[int]:
    """Required years without the State Council's notice (statutory days only, or nothing)."""
    return [
        year
        for year in required_years(today)
        if year not in years or years[year].source is not YearSource.notice
    ]


def compose(
    base: BusinessCalendar,
    public: Iterable[PublicYear],
    company_holidays: Iterable[date] = (),
    company_working_days: Iterable[date] = (),
) -> BusinessCalendar:
    """The calendar in force: public days of every year, then the company's own days
    on top (a plant shutdown is off even on a make-up Saturday; a company working
    day is worked even on a public holiday)."""
    off = set(base.holidays)
    on = set(base.makeup_days)
    for year in public:
        off |= year.holidays
        on |= year.makeup_days
    company_off, company_on = frozenset(company_holidays), frozenset(company_working_days)
    return BusinessCalendar(
        timezone=base.timezone,
        day_start=base.day_start,
        day_end=base.day_end,
        workdays=base.workdays,
        holidays=frozenset((off - company_on) | company_off),
        makeup_days=frozenset((on - company_off) | company_on),
    )
