"""The complaint page: one page per complaint, every area's panel on it.

Each panel is its own fragment, loaded by htmx and loaded again when a change
about this complaint arrives (``tousu:complaint-<id>``), so one slow or
refusing service leaves the rest of the page readable. The page itself only
knows the panels' addresses; each area's module serves its own panel.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from tousu_console.api.deps import CurrentViewer, render

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Panel:
    name: str  # served at /complaints/{id}/panels/<name>
    zh: str
    en: str
    wide: bool = False


#: In page order. An area adds its panel here and serves the route.
PANELS: tuple[Panel, ...] = (
    Panel("summary", "投诉", "Complaint"),  # intake's record, customer, SLA clocks
    Panel("intake-actions", "补充与撤销", "Amend or withdraw"),  # hotline area
    Panel("triage", "分派", "Triage"),  # CSC area
    Panel("case", "客户处理", "Customer resolution", wide=True),  # CSC area
    Panel("rectifications", "整改", "Rectification", wide=True),  # departments/Q/S
    Panel("timeline", "处理记录", "Timeline", wide=True),  # every service's history
    Panel("notifications", "已发通知", "Notifications sent"),
)


@router.get("/complaints/{complaint_id}", response_class=HTMLResponse)
async def complaint_page(
    request: Request, complaint_id: UUID, viewer: CurrentViewer
) -> HTMLResponse:
    complaint = await viewer.get("intake", f"/v1/complaints/{complaint_id}")
    return render(
        request,
        "complaints/page.html",
        {"complaint": complaint, "complaint_id": str(complaint_id), "panels": PANELS},
    )
