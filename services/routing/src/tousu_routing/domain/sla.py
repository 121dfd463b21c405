"""SLA clocks (SPEC §3): how long each clock may run and when it is due.

A clock runs from the complaint's ``received_at``; it *pauses* while the case
waits on the customer and *stops* when its matching event arrives (first
response recorded; resolution proposed). Its budget is either clock time
(24×7: urgent complaints) or working time on the business calendar
(important and general: "1 working day" is one working day's hours).

Everything here is pure: the due instant is recomputed from the start, the
budget and the list of pauses, so a change of urgency (a person's re-triage)
or of calendar is applied consistently, and a restart forgets nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from tousu_common.events.catalog import CustomerTier, SlaClock, Urgency
from tousu_routing.domain.calendar import BusinessCalendar


class Basis(StrEnum):
    clock = "clock"  # wall-clock time, 24×7
    working = "working"  # working hours on the business calendar


@dataclass(frozen=True)
class Budget:
    """How much time a clock has: ``seconds`` of ``basis`` time."""

    seconds: float
    basis: Basis

    def scaled(self, factor: float) -> Budget:
        return Budget(self.seconds * factor, self.basis)


_BUDGET = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|wh|wd)\s*$")


def parse_budget(text: str, calendar: BusinessCalendar) -> Budget:
    """``"2h"`` (clock hours), ``"24h"``, ``"90m"``, ``"3s"``, ``"1d"`` (24 clock hours),
    ``"4wh"`` (working hours), ``"1wd"`` (working days, one day's working hours)."""
    match = _BUDGET.match(text)
    if not match:
        raise ValueError(
            f"not a duration: {text!r} (use e.g. 2h, 90m, 3s, 1d for clock time, "
            "4wh or 1wd for working time)"
        )
    amount, unit = float(match.group(1)), match.group(2)
    if amount <= 0:
        raise ValueError(f"duration must be positive: {text!r}")
    if unit == "wd":
        return Budget(amount * calendar.working_day_seconds, Basis.working)
    if unit == "wh":
        return Budget(amount * 3600, Basis.working)
    return Budget(amount * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit], Basis.clock)


#: SPEC §3 defaults: urgency → clock → budget.
DEFAULT_DURATIONS: dict[str, dict[str, str]] = {
    "urgent": {"first_response": "2h", "resolution_plan": "24h"},
    "important": {"first_response": "1wd", "resolution_plan": "3wd"},
    "general": {"first_response": "2wd", "resolution_plan": "5wd"},
}


@dataclass(frozen=True)
class SlaPolicy:
    """The SLA table plus the shortening for strategic and key customers."""

    calendar: BusinessCalendar
    budgets: Mapping[tuple[Urgency, SlaClock], Budget]
    key_account_factor: float = 0.5
    warning_fraction: float = 0.8
    #: The company calendar version (``/v1/calendar``) this policy's calendar has;
    #: 0 = none. A clock records the version its deadline was computed with.
    calendar_version: int = 0

    @classmethod
    def from_table(
        cls,
        calendar: BusinessCalendar,
        table: Mapping[str, Mapping[str, str]] | None = None,
        *,
        key_account_factor: float = 0.5,
        warning_fraction: float = 0.8,
        calendar_version: int = 0,
    ) -> SlaPolicy:
        merged = {u: dict(c) for u, c in DEFAULT_DURATIONS.items()}
        for urgency, clocks in (table or {}).items():
            Urgency(urgency)  # ValueError on an unknown urgency
            for clock, text in clocks.items():
                SlaClock(clock)
                merged[urgency][clock] = text
        budgets = {
            (Urgency(u), SlaClock(c)): parse_budget(text, calendar)
            for u, clocks in merged.items()
            for c, text in clocks.items()
        }
        if not 0 < key_account_factor <= 1:
            raise ValueError("key_account_factor must be in (0, 1]")
        if not 0 < warning_fraction < 1:
            raise ValueError("warning_fraction must be in (0, 1)")
        return cls(calendar, budgets, key_account_factor, warning_fraction, calendar_version)

    def budget(
        self, urgency: Urgency, clock: SlaClock, tier: CustomerTier, key_account: bool
    ) -> Budget:
        budget = self.budgets[(urgency, clock)]
        shortened = key_account or tier in (CustomerTier.strategic, CustomerTier.key)
        return budget.scaled(self.key_account_factor) if shortened else budget

    # -- clock arithmetic ------------------------------------------------------

    def elapsed(self, basis: Basis, start: datetime, end: datetime) -> float:
        if end <= start:
            return 0.0
        if basis is Basis.clock:
            return (end - start).total_seconds()
        return self.calendar.working_seconds_between(start, end)

    def add(self, basis: Basis, start: datetime, seconds: float) -> datetime:
        if basis is Basis.clock:
            return start + timedelta(seconds=max(seconds, 0))
        return self.calendar.add_working_time(start, seconds)

    def consumed(
        self, budget: Budget, started_at: datetime, pauses: Sequence[Pause], now: datetime
    ) -> float:
        """Budget used up by ``now``: elapsed time minus what fell in pauses."""
        used = 0.0
        cursor = started_at
        for pause in pauses:
            used += self.elapsed(budget.basis, cursor, min(pause.start, now))
            if pause.end is None or pause.end >= now:
                return used
            cursor = max(cursor, pause.end)
        return used + self.elapsed(budget.basis, cursor, now)

    def point(
        self, budget: Budget, started_at: datetime, pauses: Sequence[Pause], fraction: float
    ) -> datetime | None:
        """When ``fraction`` of the budget will be used up, or None while paused
        (a paused clock has no due instant until it resumes)."""
        target = budget.seconds * fraction
        used = 0.0
        cursor = started_at
        for pause in pauses:
            run = self.elapsed(budget.basis, cursor, pause.start)
            if used + run >= target:
                return self.add(budget.basis, cursor, target - used)
            used += run
            if pause.end is None:
                return None
            cursor = max(cursor, pause.end)
        return self.add(budget.basis, cursor, target - used)

    def due(self, budget: Budget, started_at: datetime, pauses: Sequence[Pause]) -> datetime | None:
        return self.point(budget, started_at, pauses, 1.0)

    def warn(
        self, budget: Budget, started_at: datetime, pauses: Sequence[Pause]
    ) -> datetime | None:
        return self.point(budget, started_at, pauses, self.warning_fraction)


@dataclass(frozen=True)
class Pause:
    """A wait on the customer: from ``start`` until ``end`` (None: still waiting)."""

    start: datetime
    end: datetime | None = None
