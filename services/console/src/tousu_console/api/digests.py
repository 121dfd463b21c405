"""The weekly and monthly digests: notify's KPIs of a period, and its reports.

The page reads ``GET /v1/digests/{kind}/{period}`` (stored if generated, else
computed now; a running period is *partial*) and shows the KPI table; the
HTML report with its charts is embedded through a console route, and the CSV
and PDF downloads are notify's answers streamed through the console with the
person's token (its ``Content-Disposition`` kept). Periods are ISO weeks
(``2026-W47``) and calendar months (``2026-11``) in Asia/Shanghai, as notify
counts them; the page opens on the last period that has ended.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from tousu_console.adapters.services import ApiError
from tousu_console.api.deps import CurrentViewer, render
from tousu_console.api.files import download
from tousu_console.api.manager import DEPARTMENTS

router = APIRouter(include_in_schema=False)

KINDS = ("week", "month")
_WEEK = re.compile(r"^(20[0-9]{2}|2100)-W(0[1-9]|[1-4][0-9]|5[0-3])$")
_MONTH = re.compile(r"^(20[0-9]{2}|2100)-(0[1-9]|1[0-2])$")
#: A PDF is printed by notify's headless Chromium: give it longer than a page call.
REPORT_TIMEOUT_S = 120.0
#: What notify's report may do inside the console's page: draw, nothing more.
REPORT_CSP = (
    "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "font-src data:; frame-ancestors 'self'"
)


@dataclass(frozen=True)
class Period:
    """An ISO week or a calendar month: [start, end) of local days."""

    kind: str
    start: date
    end: date
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

    def _utc(self, day: date) -> datetime:
        return datetime.combine(day, time(0), ZoneInfo(self.tz)).astimezone(UTC)

    def started(self, now: datetime) -> bool:
        return self._utc(self.start) <= now

    def ended(self, now: datetime) -> bool:
        return self._utc(self.end) <= now

    def previous(self) -> Period:
        return containing(self.kind, self.start - timedelta(days=1), self.tz)

    def next(self) -> Period:
        return containing(self.kind, self.end, self.tz)


def containing(kind: str, day: date, tz: str) -> Period:
    if kind == "week":
        start = day - timedelta(days=day.weekday())
        return Period("week", start, start + timedelta(days=7), tz)
    start = day.replace(day=1)
    return Period("month", start, (start + timedelta(days=32)).replace(day=1), tz)


def last_ended(kind: str, now: datetime, tz: str) -> Period:
    """The latest period of ``kind`` that has ended by ``now`` (local days)."""
    return containing(kind, now.astimezone(ZoneInfo(tz)).date(), tz).previous()


def parse_period(kind: str, label: str, tz: str) -> Period | None:
    """``week``/``2026-W47`` or ``month``/``2026-11``; None if it is not one."""
    if kind == "week" and (match := _WEEK.match(label)):
        try:
            start = date.fromisocalendar(int(match.group(1)), int(match.group(2)), 1)
        except ValueError:  # a week 53 the year does not have
            return None
        return containing("week", start, tz)
    if kind == "month" and (match := _MONTH.match(label)):
        return containing("month", date(int(match.group(1)), int(match.group(2)), 1), tz)
    return None


# -- the KPI table -----------------------------------------------------------------


@dataclass(frozen=True)
class Kpi:
    key: str
    zh: str
    en: str
    value: Any
    unit: str  # n | pct | h | score
    previous: Any = None
    change: Any = None


def _get(numbers: dict[str, Any], path: str) -> Any:
    value: Any = numbers
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


#: (summary key for previous/change or "", path in the numbers, zh, en, unit)
HEADLINE = (
    ("received", "volume.received", "新增投诉", "Complaints received", "n"),
    ("closed", "volume.closed", "已关闭", "Closed", "n"),
    ("open_backlog_end", "volume.open_backlog_end", "期末未结", "Open at the end", "n"),
    (
        "first_response_rate",
        "timeliness.first_response.rate",
        "首次响应及时率",
        "First response on time",
        "pct",
    ),
    ("", "timeliness.resolution_plan.rate", "解决方案及时率", "Resolution plan on time", "pct"),
    ("completion_rate", "completion.rate", "处理完成率", "Completion rate", "pct"),
    ("satisfied_share", "satisfaction.satisfied_share", "满意率", "Satisfied customers", "pct"),
    ("", "satisfaction.mean_score", "平均回访评分", "Mean callback score", "score"),
    ("reopen_rate", "reopen.rate", "重开率", "Reopened", "pct"),
    ("", "overdue.count", "期末超期", "Overdue at the end", "n"),
    ("", "resolution_time_hours.all.median", "处理时长中位数", "Resolution time, median", "h"),
    ("", "resolution_time_hours.all.p90", "处理时长 P90", "Resolution time, p90", "h"),
    ("", "volume.duplicates", "重复投诉", "Duplicates", "n"),
    ("", "volume.withdrawn", "撤销", "Withdrawn", "n"),
    ("rectifications_opened", "rectifications.opened", "新开整改", "Rectifications opened", "n"),
    ("", "rectifications.verified", "整改验证通过", "Rectifications verified", "n"),
)


def kpis(numbers: dict[str, Any]) -> list[Kpi]:
    previous = numbers.get("previous") or {}
    change = numbers.get("change") or {}
    return [
        Kpi(
            key=path,
            zh=zh,
            en=en,
            value=_get(numbers, path),
            unit=unit,
            previous=previous.get(summary) if summary else None,
            change=change.get(summary) if summary else None,
        )
        for summary, path, zh, en, unit in HEADLINE
    ]


def fmt(value: Any, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "pct":
        return f"{float(value):.1%}"
    if unit == "h":
        return f"{float(value):,.1f} h"
    if unit == "score":
        return f"{float(value):.2f}"
    return f"{value:,}" if isinstance(value, int) else f"{float(value):,.2f}"


def fmt_change(value: Any, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "pct":
        return f"{float(value) * 100:+.1f} pt"
    return f"{value:+,}" if isinstance(value, int) else f"{float(value):+,.2f}"


# -- routes ----------------------------------------------------------------------


@router.get("/digests", response_class=HTMLResponse)
async def digests(
    request: Request, viewer: CurrentViewer, kind: str = "week", period: str | None = None
) -> HTMLResponse:
    tz = request.app.state.console.settings.timezone
    now = datetime.now(UTC)
    kind = kind if kind in KINDS else "week"
    problem: str | None = None
    chosen = parse_period(kind, period, tz) if period else None
    if period and chosen is None:
        problem = viewer.t(
            f"“{period}”不是有效的{'周' if kind == 'week' else '月'}（例如 "
            f"{'2027-W05' if kind == 'week' else '2027-01'}）",
            f"“{period}” is not a {kind} (for example "
            f"{'2027-W05' if kind == 'week' else '2027-01'})",
        )
    if chosen is not None and not chosen.started(now):
        problem = viewer.t(f"{chosen.label} 尚未开始", f"{chosen.label} has not started yet")
        chosen = None
    chosen = chosen or last_ended(kind, now, tz)
    digest: dict[str, Any] | None = None
    error: ApiError | None = None
    try:
        digest = await viewer.get("notify", f"/v1/digests/{chosen.kind}/{chosen.label}")
    except ApiError as exc:
        error = exc
    numbers = (digest or {}).get("numbers") or {}
    following = chosen.next()
    return render(
        request,
        "manager/digests.html",
        {
            "kind": chosen.kind,
            "period": chosen,
            "previous": chosen.previous(),
            "following": following if following.started(now) else None,
            "ended": chosen.ended(now),
            "problem": problem,
            "error": error,
            "digest": digest,
            "kpis": kpis(numbers) if numbers else [],
            "by_department": _get(numbers, "by.owner_department") or {},
            "breaches": _get(numbers, "sla.breaches") or {},
            "departments": {**DEPARTMENTS, "untriaged": ("未分派", "Not yet triaged")},
            "fmt": fmt,
            "fmt_change": fmt_change,
        },
        status_code=error.status if error else (400 if problem and period else 200),
    )


def _checked(kind: str, period: str, tz: str) -> Period:
    chosen = parse_period(kind, period, tz) if kind in KINDS else None
    if chosen is None:
        raise ApiError(
            400,
            "invalid_input",
            "bad period",
            [{"field": "period", "problem": "must look like 2026-W47 (week) or 2026-11 (month)"}],
        )
    return chosen


@router.get("/digests/{kind}/{period}.csv")
async def digest_csv(request: Request, viewer: CurrentViewer, kind: str, period: str) -> Response:
    chosen = _checked(kind, period, request.app.state.console.settings.timezone)
    return await download(
        viewer,
        "notify",
        f"/v1/digests/{chosen.kind}/{chosen.label}.csv",
        keep=("content-type", "content-disposition"),
        timeout=REPORT_TIMEOUT_S,
    )


@router.get("/digests/{kind}/{period}.pdf")
async def digest_pdf(request: Request, viewer: CurrentViewer, kind: str, period: str) -> Response:
    chosen = _checked(kind, period, request.app.state.console.settings.timezone)
    return await download(
        viewer,
        "notify",
        f"/v1/digests/{chosen.kind}/{chosen.label}.pdf",
        keep=("content-type", "content-disposition"),
        timeout=REPORT_TIMEOUT_S,
    )


@router.get("/digests/{kind}/{period}.html")
async def digest_report(
    request: Request, viewer: CurrentViewer, kind: str, period: str
) -> Response:
    """Notify's HTML report with its charts, for the page's iframe: sandboxed, no scripts."""
    chosen = _checked(kind, period, request.app.state.console.settings.timezone)
    response = await download(
        viewer,
        "notify",
        f"/v1/digests/{chosen.kind}/{chosen.label}.html",
        keep=("content-type",),
        timeout=REPORT_TIMEOUT_S,
    )
    response.headers["Content-Security-Policy"] = REPORT_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
