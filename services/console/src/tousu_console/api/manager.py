"""The manager's board: open complaints with a breached SLA clock, by department.

Everything comes from routing's ``GET /v1/worklists/overdue`` with the person's
token: the counts per department are one small call per department (``limit=1``,
its ``total``), the rows are that list's pages, most overdue first (routing
orders by the nearest due instant). "My work" shows the top of the same board.

A clock that breached escalated the complaint to the owner department's manager
(routing's ``complaint.escalated``); the escalation level shown is how many of
its clocks are past due (1: one, 2: first response and resolution plan both).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from tousu_console.adapters.services import ApiError
from tousu_console.api.deps import CurrentViewer, Viewer, render
from tousu_console.domain.labels import CLOCKS, DEPARTMENTS, URGENCIES

router = APIRouter(include_in_schema=False)

#: Who sees every department's list (routing's CROSS_DEPARTMENT_ROLES; admin holds all).
CROSS_DEPARTMENT = frozenset({"csc", "manager", "agent", "admin"})
PAGE_SIZE = 20
PAGE_SIZES = range(1, 101)
GROUP_ROWS = 10
MY_WORK_ROWS = 10


@dataclass(frozen=True)
class OverdueRow:
    complaint_id: str
    reference: str
    title: str
    department: str
    urgency: str
    status: str
    key_account: bool
    received_at: str
    overdue_seconds: float | None  # since the earliest due instant that has passed
    breached_clocks: tuple[str, ...]  # which clocks are past due

    @property
    def level(self) -> int:
        return len(self.breached_clocks)


def overdue_row(item: dict[str, Any], now: datetime) -> OverdueRow:
    """A work item of routing's list, with how long and which clocks are overdue."""
    past: list[tuple[str, datetime]] = []
    for clock in CLOCKS:
        value = item.get(f"{clock}_due")
        if value:
            due = datetime.fromisoformat(value)
            due = due if due.tzinfo else due.replace(tzinfo=UTC)
            if due <= now:
                past.append((clock, due))
    earliest = min((due for _, due in past), default=None)
    return OverdueRow(
        complaint_id=str(item["complaint_id"]),
        reference=str(item.get("reference") or ""),
        title=str(item.get("title") or ""),
        department=str(item.get("owner_department") or "csc"),
        urgency=str(item.get("urgency") or ""),
        status=str(item.get("status") or ""),
        key_account=bool(item.get("key_account")),
        received_at=str(item.get("received_at") or ""),
        overdue_seconds=(now - earliest).total_seconds() if earliest else None,
        # routing counts a clock breached once raised, even before its due instant
        # is past again (a restatement): then it is breached without a known age
        breached_clocks=tuple(c for c, _ in past)
        or (("first_response",) if item.get("breached") else ()),
    )


def _clean(value: str | None, allowed: dict[str, Any]) -> str | None:
    return value if value in allowed else None


def _offset(value: str | None) -> int:
    return int(value) if value and value.isdigit() and len(value) < 9 else 0


def sees_every_department(viewer: Viewer) -> bool:
    return bool(set(viewer.roles) & CROSS_DEPARTMENT)


async def overdue_page(
    viewer: Viewer, *, department: str | None, urgency: str | None, limit: int, offset: int = 0
) -> dict[str, Any]:
    return await viewer.get(
        "routing",
        "/v1/worklists/overdue",
        department=department,
        urgency=urgency,
        limit=limit,
        offset=offset,
    )


async def counts_by_department(viewer: Viewer, urgency: str | None) -> dict[str, int]:
    """Overdue complaints per department (those with none left out), most first."""
    names = list(DEPARTMENTS)
    pages = await asyncio.gather(
        *(overdue_page(viewer, department=d, urgency=urgency, limit=1) for d in names)
    )
    counted = {name: int(page["total"]) for name, page in zip(names, pages, strict=True)}
    return dict(sorted(((n, c) for n, c in counted.items() if c), key=lambda i: (-i[1], i[0])))


@router.get("/overdue", response_class=HTMLResponse)
async def overdue(
    request: Request,
    viewer: CurrentViewer,
    department: str | None = None,
    urgency: str | None = None,
    offset: str | None = None,
    size: str | None = None,
) -> HTMLResponse:
    now = datetime.now(UTC)
    requested = _offset(size)
    page_size = requested if requested in PAGE_SIZES else PAGE_SIZE
    department = _clean(department, DEPARTMENTS)
    urgency = _clean(urgency, URGENCIES)
    if not sees_every_department(viewer):
        department = viewer.department  # routing shows others only their own
    groups: list[dict[str, Any]] = []
    error: ApiError | None = None
    total = 0
    counts: dict[str, int] = {}
    start = _offset(offset)
    try:
        if department is None:
            counts = await counts_by_department(viewer, urgency)
            total = sum(counts.values())
            pages = await asyncio.gather(
                *(
                    overdue_page(viewer, department=d, urgency=urgency, limit=GROUP_ROWS)
                    for d in counts
                )
            )
            for name, page in zip(counts, pages, strict=True):
                groups.append(
                    {
                        "department": name,
                        "total": page["total"],
                        "rows": [overdue_row(item, now) for item in page["items"]],
                        "more": page["total"] > len(page["items"]),
                    }
                )
        else:
            page = await overdue_page(
                viewer, department=department, urgency=urgency, limit=page_size, offset=start
            )
            total = int(page["total"])
            counts = {department: total}
            groups.append(
                {
                    "department": department,
                    "total": total,
                    "rows": [overdue_row(item, now) for item in page["items"]],
                    "more": False,
                }
            )
    except ApiError as exc:
        error = exc
    return render(
        request,
        "manager/overdue.html",
        {
            "error": error,
            "groups": groups,
            "counts": counts,
            "total": total,
            "department": department,
            "urgency": urgency,
            "offset": start,
            "page_size": page_size,
            "custom_size": page_size != PAGE_SIZE,
            "departments": DEPARTMENTS,
            "urgencies": URGENCIES,
            "clocks": CLOCKS,
            "all_departments": sees_every_department(viewer),
        },
        # a page shows the service's refusal with its status; an htmx refresh swaps it in
        status_code=error.status if error and not request.headers.get("HX-Request") else 200,
    )


@router.get("/worklist/manager", response_class=HTMLResponse)
async def my_work(request: Request, viewer: CurrentViewer) -> HTMLResponse:
    """ "My work", the manager's section: counts per department, the 10 most overdue."""
    now = datetime.now(UTC)
    error: ApiError | None = None
    counts: dict[str, int] = {}
    rows: list[OverdueRow] = []
    total = 0
    try:
        counts, top = await asyncio.gather(
            counts_by_department(viewer, None),
            overdue_page(viewer, department=None, urgency=None, limit=MY_WORK_ROWS),
        )
        rows = [overdue_row(item, now) for item in top["items"]]
        total = int(top["total"])
    except ApiError as exc:
        error = exc
    return render(
        request,
        "manager/my_work.html",
        {
            "error": error,
            "counts": counts,
            "rows": rows,
            "total": total,
            "departments": DEPARTMENTS,
            "urgencies": URGENCIES,
            "clocks": CLOCKS,
        },
    )
