"""Wires settings into the domain's policy objects and the service's dependencies.

The only place that reads files named by settings; handlers, the scheduler
and the API get what they need from :class:`Routing`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from tousu_routing.adapters.public_holidays import public_years
from tousu_routing.domain.calendar import (
    BusinessCalendar,
    PublicYear,
    compose,
    parse_date_list,
    parse_hhmm,
    uncovered_years,
)
from tousu_routing.domain.company_days import CalendarDocument
from tousu_routing.domain.rules import RuleSetDocument, default_document, parse_document
from tousu_routing.domain.sla import SlaPolicy

if TYPE_CHECKING:
    from tousu_routing.config import Settings


class CalendarVersions(Protocol):
    """Where the latest company calendar comes from (``adapters.repository``)."""

    async def latest(self) -> tuple[int, CalendarDocument]: ...


class TimeSource(Protocol):
    def now(self) -> datetime: ...


class SystemTime:
    def now(self) -> datetime:
        return datetime.now(UTC)


def build_public_years(settings: Settings) -> dict[int, PublicYear]:
    files = [Path(p.strip()) for p in settings.calendar_files.split(",") if p.strip()]
    return public_years(files=files, use_package=settings.public_holidays_package)


def build_calendar(
    settings: Settings,
    years: dict[int, PublicYear] | None = None,
    document: CalendarDocument | None = None,
) -> BusinessCalendar:
    """The business calendar from settings and the public holidays, before any
    company days (those come from the database: :meth:`Routing.policy_for`)."""
    try:
        workdays = frozenset(int(day) for day in settings.working_days.split(",") if day.strip())
    except ValueError as exc:
        raise ValueError(
            f"working_days: not a list of ISO weekdays: {settings.working_days!r}"
        ) from exc
    if not workdays <= set(range(1, 8)):
        raise ValueError("working_days: ISO weekdays are 1 (Monday) to 7 (Sunday)")
    base = BusinessCalendar(
        timezone=settings.timezone,
        day_start=parse_hhmm(settings.working_hours_start),
        day_end=parse_hhmm(settings.working_hours_end),
        workdays=workdays,
    )
    public = build_public_years(settings) if years is None else years
    return compose(
        base,
        public.values(),
        company_holidays=parse_date_list(settings.extra_holidays)
        | (document.holidays if document else frozenset()),
        company_working_days=parse_date_list(settings.extra_makeup_days)
        | (document.working_days if document else frozenset()),
    )


def build_policy(
    settings: Settings,
    calendar: BusinessCalendar | None = None,
    *,
    calendar_version: int = 0,
) -> SlaPolicy:
    return SlaPolicy.from_table(
        calendar or build_calendar(settings),
        settings.sla_durations,
        key_account_factor=settings.sla_key_account_factor,
        warning_fraction=settings.sla_warning_fraction,
        calendar_version=calendar_version,
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
    #: Policies by calendar version and document object (held in the entry, so its
    #: id is not reused while the entry lives): see :meth:`policy_with`.
    _policies: dict[tuple[int, int], tuple[CalendarDocument, SlaPolicy]] = field(
        default_factory=dict, repr=False
    )

    @cached_property
    def public_years(self) -> dict[int, PublicYear]:
        return build_public_years(self.settings)

    @cached_property
    def policy(self) -> SlaPolicy:
        """The policy without any company days (calendar version 0)."""
        return build_policy(self.settings, build_calendar(self.settings, self.public_years))

    def years_with(self, document: CalendarDocument, version: int) -> dict[int, PublicYear]:
        """Public years, a notice an admin entered winning over the shipped data."""
        years = dict(self.public_years)
        years.update((y.year, y) for y in document.public_years(version))
        return years

    def policy_with(self, document: CalendarDocument, version: int) -> SlaPolicy:
        """The policy in force with calendar ``version`` (cached: versions never change).

        Cached by the document *object*: the calendar repository hands out one
        object per database and version, so its identity stands for its content
        and no document is serialised per event to look its policy up (a document
        built elsewhere only misses the cache)."""
        if version == 0:
            return self.policy
        key = (version, id(document))
        cached = self._policies.get(key)
        if cached is not None and cached[0] is document:
            return cached[1]
        years = self.years_with(document, version)
        calendar = build_calendar(self.settings, years, document)
        policy = build_policy(self.settings, calendar, calendar_version=version)
        if len(self._policies) > 32:
            self._policies.clear()
        self._policies[key] = (document, policy)
        return policy

    async def policy_for(self, calendars: CalendarVersions) -> SlaPolicy:
        """The policy with the latest company calendar: what a new clock computation uses."""
        version, document = await calendars.latest()
        return self.policy_with(document, version)

    async def uncovered_years(self, calendars: CalendarVersions, today: date) -> list[int]:
        """Required years (this one; from 1 December the next one too) without the
        State Council's notice, counting notices entered over the API."""
        version, document = await calendars.latest()
        return uncovered_years(self.years_with(document, version), today)

    @cached_property
    def seed(self) -> RuleSetDocument:
        return seed_rules(self.settings)

    @property
    def duplicate_window(self) -> timedelta:
        return timedelta(days=self.settings.duplicate_window_days)
