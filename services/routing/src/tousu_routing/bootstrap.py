"""Wires settings into the domain's policy objects and the service's dependencies.

The only place that reads files named by settings; handlers, the scheduler
and the API get what they need from :class:`Routing`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from tousu_routing.domain.calendar import (
    BusinessCalendar,
    load_days,
    parse_date_list,
    parse_hhmm,
)
from tousu_routing.domain.rules import RuleSetDocument, default_document, parse_document
from tousu_routing.domain.sla import SlaPolicy

if TYPE_CHECKING:
    from tousu_routing.config import Settings

DEFAULT_CALENDAR = "cn-2026.yaml"


class TimeSource(Protocol):
    def now(self) -> datetime: ...


class SystemTime:
    def now(self) -> datetime:
        return datetime.now(UTC)


def build_calendar(settings: Settings) -> BusinessCalendar:
    holidays: set = set()
    makeup: set = set()
    files = [part.strip() for part in settings.calendar_files.split(",") if part.strip()]
    if files:
        for name in files:
            days_off, days_on = load_days(Path(name))
            holidays |= days_off
            makeup |= days_on
    else:
        resource = resources.files("tousu_routing.data").joinpath(DEFAULT_CALENDAR)
        with resources.as_file(resource) as path:
            days_off, days_on = load_days(path)
        holidays |= days_off
        makeup |= days_on
    try:
        workdays = frozenset(int(day) for day in settings.working_days.split(",") if day.strip())
    except ValueError as exc:
        raise ValueError(
            f"working_days: not a list of ISO weekdays: {settings.working_days!r}"
        ) from exc
    if not workdays <= set(range(1, 8)):
        raise ValueError("working_days: ISO weekdays are 1 (Monday) to 7 (Sunday)")
    return BusinessCalendar(
        timezone=settings.timezone,
        day_start=parse_hhmm(settings.working_hours_start),
        day_end=parse_hhmm(settings.working_hours_end),
        workdays=workdays,
        holidays=frozenset(holidays) | parse_date_list(settings.extra_holidays),
        makeup_days=frozenset(makeup) | parse_date_list(settings.extra_makeup_days),
    )


def build_policy(settings: Settings) -> SlaPolicy:
    return SlaPolicy.from_table(
        build_calendar(settings),
        settings.sla_durations,
        key_account_factor=settings.sla_key_account_factor,
        warning_fraction=settings.sla_warning_fraction,
    )


def seed_rules(settings: Settings) -> RuleSetDocument:
    if settings.rules_file is None:
        return default_document()
    document = parse_document(settings.rules_file.read_text(encoding="utf-8"))
    if not document.label:
        document = document.model_copy(update={"label": settings.rules_file.name})
    return document


@dataclass
class Routing:
    """What routing's handlers, scheduler and API share."""

    settings: Settings
    time: TimeSource

    @cached_property
    def policy(self) -> SlaPolicy:
        return build_policy(self.settings)

    @cached_property
    def seed(self) -> RuleSetDocument:
        return seed_rules(self.settings)

    @property
    def duplicate_window(self) -> timedelta:
        return timedelta(days=self.settings.duplicate_window_days)
