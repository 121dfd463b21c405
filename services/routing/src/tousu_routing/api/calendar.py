"""``/v1/calendar``: the company's own days (plant shutdowns, extra working days)
and State Council notices entered before a release ships them. Every change is a
new, immutable version, like the triage rules; the same role edits and reads it
(``admin``). A change applies to the next clock computation (a complaint
received, a pause or resume, a re-triage, a reopening), and each clock records
the version it was computed with (``calendar_version`` in ``GET /v1/triage/{id}``)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field, ValidationError

from tousu_common.auth import Principal, require_roles
from tousu_common.errors import NOT_FOUND_RESPONSE, Conflict, ErrorBody, InvalidInput, NotFound
from tousu_common.paging import WHOLE_NUMBER, Page
from tousu_common.patterns import IsoDate
from tousu_routing.adapters.orm import CalendarVersionRow
from tousu_routing.adapters.unit_of_work import reading
from tousu_routing.api.deps import DbDep, PagingDep, RoutingDep
from tousu_routing.domain.calendar import required_years
from tousu_routing.domain.company_days import CalendarDocument, CompanyDay, Notice
from tousu_routing.handlers import commands

router = APIRouter(prefix="/v1/calendar", tags=["calendar"])

Admin = Annotated[Principal, require_roles("admin")]
BaseVersion = Annotated[
    int | None,
    Query(
        ge=0,
        description="Optimistic concurrency: refuse (409) unless this is still the latest version.",
    ),
    WHOLE_NUMBER,
]
CONFLICT = {
    409: {
        "model": ErrorBody,
        "description": "Someone saved a newer version first, or (PUT a notice) the body's "
        "year is not the path's",
    }
}
Year = Annotated[int, Path(ge=2000, le=2100, examples=[2027])]


class CalendarView(BaseModel):
    version: int = Field(description="0: no company calendar saved yet")
    created_at: datetime | None
    created_by: str | None
    note: str
    document: CalendarDocument

    @classmethod
    def of(cls, row: CalendarVersionRow | None) -> CalendarView:
        if row is None:
            return cls(
                version=0, created_at=None, created_by=None, note="", document=CalendarDocument()
            )
        return cls(
            version=row.version,
            created_at=row.created_at,
            created_by=row.created_by,
            note=row.note,
            document=CalendarDocument.model_validate(row.document),
        )


class VersionSummary(BaseModel):
    version: int
    created_at: datetime
    created_by: str
    note: str
    days: int
    notices: list[int] = Field(description="Years with a State Council notice in this version")
    clocks: int = Field(description="SLA clocks whose deadline this version computed")


class YearView(BaseModel):
    """One year's working calendar as the next clock computation will use it."""

    year: int
    calendar_version: int
    source: str = Field(description="notice | statutory (estimated) | none")
    origin: str
    holidays: list[date] = Field(description="Public days off on what would be working days")
    makeup_working_days: list[date] = Field(description="Weekend days worked (调休上班)")
    company_holidays: list[date]
    company_working_days: list[date]


class CoverageView(BaseModel):
    today: date
    required_years: list[int]
    uncovered_years: list[int] = Field(
        description="Required years without the State Council's notice: readiness is degraded"
    )


async def _save(
    db: DbDep, principal: Principal, base_version: int | None, note: str, change: Any
) -> CalendarView:
    row = await commands.change_calendar(
        db,
        base_version=base_version,
        change=lambda document: _validated(change(document)),
        by=principal.subject,
        note=note,
    )
    return CalendarView.of(row)


def _validated(document: dict[str, Any]) -> CalendarDocument:
    try:
        return CalendarDocument.model_validate(document)
    except ValidationError as exc:
        raise InvalidInput(
            "the calendar would not be valid",
            fields=[
                {
                    "field": ".".join(str(p) for p in error["loc"]) or "document",
                    "problem": error["msg"],
                }
                for error in exc.errors()
            ],
        ) from exc


@router.get("", response_model=CalendarView, summary="The company calendar in force")
async def get_calendar(principal: Admin, db: DbDep) -> CalendarView:
    async with reading(db) as uow:
        row = await uow.calendars.latest_row()
    return CalendarView.of(row)


@router.put(
    "",
    response_model=CalendarView,
    status_code=201,
    summary="Replace the whole company calendar: a new version",
    responses=CONFLICT,
)
async def replace_calendar(
    document: CalendarDocument,
    principal: Admin,
    db: DbDep,
    base_version: BaseVersion = None,
    note: Annotated[str, Query(max_length=500)] = "whole calendar replaced",
) -> CalendarView:
    new = document.model_dump(mode="json")
    return await _save(db, principal, base_version, note, lambda _: new)


@router.post(
    "/days",
    response_model=CalendarView,
    status_code=201,
    summary="Add a company day (a shutdown day off, or an extra working day): a new version",
    responses=CONFLICT,
)
async def add_day(
    day: CompanyDay, principal: Admin, db: DbDep, base_version: BaseVersion = None
) -> CalendarView:
    def change(document: dict[str, Any]) -> dict[str, Any]:
        if any(existing["date"] == day.date.isoformat() for existing in document["days"]):
            raise Conflict(
                f"{day.date} is already in the calendar; DELETE it first",
                fields=[{"field": "date", "problem": "already listed"}],
            )
        document["days"].append(day.model_dump(mode="json"))
        return document

    note = f"{day.kind.value} {day.date}" + (f": {day.note}" if day.note else "")
    return await _save(db, principal, base_version, note, change)


@router.delete(
    "/days/{day}",
    response_model=CalendarView,
    summary="Remove a company day: a new version",
    responses={**NOT_FOUND_RESPONSE, **CONFLICT},
)
async def remove_day(
    day: IsoDate, principal: Admin, db: DbDep, base_version: BaseVersion = None
) -> CalendarView:
    def change(document: dict[str, Any]) -> dict[str, Any]:
        kept = [d for d in document["days"] if d["date"] != day.isoformat()]
        if len(kept) == len(document["days"]):
            raise NotFound(f"{day} is not in the company calendar")
        document["days"] = kept
        return document

    return await _save(db, principal, base_version, f"{day} removed", change)


@router.put(
    "/notices/{year}",
    response_model=CalendarView,
    status_code=201,
    summary="Enter (or correct) a year's State Council holiday notice: a new version",
    responses=CONFLICT,
)
async def put_notice(
    year: Year, notice: Notice, principal: Admin, db: DbDep, base_version: BaseVersion = None
) -> CalendarView:
    if notice.year != year:
        # A representation of another resource than the one PUT to (RFC 9110 §9.3.4).
        raise Conflict(
            "the notice's year must match the path",
            fields=[{"field": "year", "problem": f"expected {year}"}],
        )

    def change(document: dict[str, Any]) -> dict[str, Any]:
        document["notices"] = [n for n in document["notices"] if n["year"] != year]
        document["notices"].append(notice.model_dump(mode="json"))
        return document

    return await _save(db, principal, base_version, f"notice for {year}: {notice.source}", change)


@router.get(
    "/coverage",
    response_model=CoverageView,
    summary="Which years must have the State Council's notice now, and which lack it",
)
async def coverage(principal: Admin, db: DbDep, routing: RoutingDep) -> CoverageView:
    today = routing.policy.calendar.local_day(routing.time.now())
    async with reading(db) as uow:
        missing = await routing.uncovered_years(uow.calendars, today)
    return CoverageView(today=today, required_years=required_years(today), uncovered_years=missing)


@router.get(
    "/years/{year}",
    response_model=YearView,
    summary="One year's days off and make-up working days, as the next computation uses them",
)
async def get_year(year: Year, principal: Admin, db: DbDep, routing: RoutingDep) -> YearView:
    async with reading(db) as uow:
        version, document = await uow.calendars.latest()
    public = routing.years_with(document, version).get(year)
    calendar = routing.policy_with(document, version).calendar
    return YearView(
        year=year,
        calendar_version=version,
        source=public.source.value if public else "none",
        origin=public.origin if public else "",
        holidays=sorted(
            d for d in (public.holidays if public else ()) if d.isoweekday() in calendar.workdays
        ),
        makeup_working_days=sorted(public.makeup_days if public else ()),
        company_holidays=sorted(d for d in document.holidays if d.year == year),
        company_working_days=sorted(d for d in document.working_days if d.year == year),
    )


@router.get(
    "/versions",
    response_model=Page[VersionSummary],
    summary="Every company calendar version, newest first",
)
async def list_versions(principal: Admin, db: DbDep, paging: PagingDep) -> Page[VersionSummary]:
    async with reading(db) as uow:
        calendars = uow.calendars
        rows, total = await calendars.list(paging.limit, paging.offset)
        usage = await calendars.usage([row.version for row in rows])
    return Page[VersionSummary](
        items=[
            VersionSummary(
                version=row.version,
                created_at=row.created_at,
                created_by=row.created_by,
                note=row.note,
                days=len(row.document.get("days", [])),
                notices=[n["year"] for n in row.document.get("notices", [])],
                clocks=usage.get(row.version, 0),
            )
            for row in rows
        ],
        total=total,
        limit=paging.limit,
        offset=paging.offset,
    )


@router.get(
    "/versions/{version}",
    response_model=CalendarView,
    summary="One version, as it was (versions never change)",
    responses=NOT_FOUND_RESPONSE,
)
async def get_version(
    version: Annotated[int, Path(ge=1, le=2**31 - 1)], principal: Admin, db: DbDep
) -> CalendarView:
    async with reading(db) as uow:
        row = await uow.calendars.get(version)
    if row is None:
        raise NotFound(f"no calendar version {version}")
    return CalendarView.of(row)
