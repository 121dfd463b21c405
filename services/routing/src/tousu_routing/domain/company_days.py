"""The company's own calendar (厂历): plant shutdowns, extra working days, and
State Council notices entered before a release ships them.

Edited by admins over ``/v1/calendar``; like the triage rules every change is a
new, immutable version. A clock records the version its deadline was computed
with (``calendar_version``), so a later change never silently rewrites why a
past deadline fell where it did — it applies to the next computation.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tousu_common.patterns import IsoDate
from tousu_routing.domain.calendar import PublicYear, YearSource


class DayKind(StrEnum):
    holiday = "holiday"  # the company does not work (e.g. a plant shutdown, 停产检修)
    working = "working"  # the company works although the public calendar is off


class CompanyDay(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date: IsoDate
    kind: DayKind
    note: str = Field(default="", max_length=200)


class Notice(BaseModel):
    """A year's State Council holiday notice, as published: days off (weekend days
    inside the holiday may be listed too) and make-up working days (调休上班).
    Every day lies in the notice's year, and no day is both (422 naming the list)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "year": 2027,
                    "source": "an example notice: Spring Festival 2027-02-06 to 2027-02-12",
                    "holidays": [f"2027-02-{day:02d}" for day in range(6, 13)],
                    "makeup_working_days": ["2027-02-14"],
                }
            ]
        },
    )

    year: int = Field(ge=2000, le=2100)
    source: str = Field(min_length=1, max_length=300, description="The notice's title and date")
    holidays: list[IsoDate] = Field(min_length=1, max_length=60)
    makeup_working_days: list[IsoDate] = Field(default_factory=list, max_length=30)

    @model_validator(mode="after")
    def _dates_in_year(self) -> Notice:
        for name in ("holidays", "makeup_working_days"):
            for day in getattr(self, name):
                if day.year != self.year:
                    raise ValueError(f"{name}: {day} is not in {self.year}")
        both = set(self.holidays) & set(self.makeup_working_days)
        if both:
            raise ValueError(f"both a holiday and a make-up working day: {sorted(both)[0]}")
        return self


class CalendarDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: list[CompanyDay] = Field(default_factory=list, max_length=2000)
    notices: list[Notice] = Field(default_factory=list, max_length=100)

    @field_validator("days")
    @classmethod
    def _one_entry_per_day(cls, days: list[CompanyDay]) -> list[CompanyDay]:
        seen: set[date] = set()
        for day in days:
            if day.date in seen:
                raise ValueError(f"{day.date} is listed twice")
            seen.add(day.date)
        return sorted(days, key=lambda d: d.date)

    @field_validator("notices")
    @classmethod
    def _one_notice_per_year(cls, notices: list[Notice]) -> list[Notice]:
        years = [n.year for n in notices]
        if len(set(years)) != len(years):
            raise ValueError("one notice per year")
        return sorted(notices, key=lambda n: n.year)

    @property
    def holidays(self) -> frozenset[date]:
        return frozenset(d.date for d in self.days if d.kind is DayKind.holiday)

    @property
    def working_days(self) -> frozenset[date]:
        return frozenset(d.date for d in self.days if d.kind is DayKind.working)

    def public_years(self, version: int) -> list[PublicYear]:
        return [
            PublicYear(
                year=n.year,
                source=YearSource.notice,
                holidays=frozenset(n.holidays),
                makeup_days=frozenset(n.makeup_working_days),
                origin=f"calendar version {version}: {n.source}",
            )
            for n in self.notices
        ]
