"""ISO weeks and calendar months in the deployment's timezone.

A period is the half-open interval [start, end) of local midnights, turned into
UTC instants for the queries: week ``2026-W47`` in Asia/Shanghai is Monday
2026-11-16 00:00 +08:00 up to Monday 2026-11-23 00:00 +08:00.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tousu_common.domain_errors import InvalidInput, NotFound

KINDS = ("week", "month")
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True)
class Period:
    kind: str  # week | month
    start: date  # first local day
    end: date  # first local day *after* the period
    tz: str

    @property
    def label(self) -> str:
        if self.kind == "week":
            year, week, _ = self.start.isocalendar()
            return f"{year}-W{week:02d}"
        return f"{self.start.year}-{self.start.month:02d}"

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)

    @property
    def start_utc(self) -> datetime:
        return _local_midnight(self.start, self.tz)

    @property
    def end_utc(self) -> datetime:
        return _local_midnight(self.end, self.tz)

    def previous(self) -> Period:
        return self.containing(self.kind, self.start - timedelta(days=1), self.tz)

    def next(self) -> Period:
        return self.containing(self.kind, self.end, self.tz)

    def recent(self, count: int) -> list[Period]:
        """The ``count`` periods ending with this one, oldest first."""
        periods = [self]
        while len(periods) < count:
            periods.append(periods[-1].previous())
        return periods[::-1]

    @classmethod
    def containing(cls, kind: str, day: date, tz: str) -> Period:
        if kind == "week":
            start = day - timedelta(days=day.weekday())
            return cls("week", start, start + timedelta(days=7), tz)
        start = day.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
        return cls("month", start, end, tz)

    @classmethod
    def parse(cls, kind: str, label: str, tz: str) -> Period:
        """``week``/``2026-W47`` or ``month``/``2026-11``; InvalidInput naming the field."""
        if kind not in KINDS:
            raise InvalidInput(
                "unknown digest kind",
                fields=[{"field": "kind", "problem": "must be 'week' or 'month'"}],
            )
        pattern, other = (_WEEK, _MONTH) if kind == "week" else (_MONTH, _WEEK)
        match = pattern.match(label)
        problem = "must look like 2026-W47" if kind == "week" else "must look like 2026-11"
        if not match and other.match(label):
            # Well-formed, of the other kind: the path names no digest (the document's
            # pattern takes both forms, it cannot tie the form to the kind).
            raise NotFound(f"no {kind} digest {label}: {label} is not a {kind}")
        if not match:
            raise InvalidInput("bad period", fields=[{"field": "period", "problem": problem}])
        year, number = int(match.group(1)), int(match.group(2))
        try:
            if year < 2000 or year > 2100:
                raise ValueError("year out of range")
            if kind == "week":
                start = date.fromisocalendar(year, number, 1)
            else:
                start = date(year, number, 1)
        except ValueError as exc:
            if kind == "week" and 2000 <= year <= 2100 and 1 <= number <= 53:
                raise NotFound(f"{year} has no week {number}") from exc  # W53, most years
            raise InvalidInput(
                "bad period", fields=[{"field": "period", "problem": f"{problem} ({exc})"}]
            ) from exc
        return cls.containing(kind, start, tz)


def _local_midnight(day: date, tz: str) -> datetime:
    return datetime.combine(day, time(0), ZoneInfo(tz)).astimezone(UTC)


def local_date(instant: datetime, tz: str) -> date:
    return instant.astimezone(ZoneInfo(tz)).date()
