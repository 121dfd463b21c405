"""The complaint page: one page per complaint, every area's panel on it.

Each panel is its own fragment, loaded by htmx and loaded again when a change
about this complaint arrives (``tousu:complaint-<id>``), so one slow or
refusing service leaves the rest of the page readable. The page itself only
knows the panels' addresses; each area's module serves its own panel.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tousu_console.adapters.services import ApiError
from tousu_console.api.complaint_panels import header_context
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
    Panel("notifications", "已发通知", "Notifications sent", wide=True),
)


#: A complaint reference as intake writes it (``TS-2027-000123``), any case.
REFERENCE = re.compile(r"^[A-Za-z]{1,10}-\d{4}-\d{6,9}$")


def not_found(request: Request, asked: str, message: str | None = None) -> HTMLResponse:
    return render(
        request,
        "complaints/not_found.html",
        {"asked": asked, "message": message},
        status_code=404,
    )


@router.get("/complaints/{complaint_key}", response_class=HTMLResponse)
async def complaint_page(request: Request, complaint_key: str, viewer: CurrentViewer) -> Response:
    """The page of one complaint, by id; a reference in the address goes to its page."""
    key = complaint_key.strip()
    if REFERENCE.match(key):
        found = await viewer.get("intake", "/v1/complaints", reference=key.upper(), limit=1)
        items = found.get("items") or []
        if not items:
            return not_found(request, key)
        return RedirectResponse(f"/complaints/{items[0]['id']}", status_code=303)
    try:
        complaint_id = UUID(key)
    except ValueError:
        return not_found(request, key)
    try:
        complaint = await viewer.get("intake", f"/v1/complaints/{complaint_id}")
    except ApiError as error:
        if error.status == 404:
            return not_found(request, key, error.message)
        raise
    context = await header_context(viewer, complaint_id, complaint)
    return render(request, "complaints/page.html", {**context, "panels": PANELS})


async def act_in_panel(
    request: Request,
    complaint_id: UUID,
    change: Callable[[], Awaitable[Any]],
    panel: Callable[[ApiError | None], Awaitable[Response]],
) -> Response:
    """A panel's form post: make the change, then for htmx the panel again (with the
    service's refusal in it, as a 200: htmx swaps 2xx answers only); for a plain post
    the complaint page, or the refusal as a page with the service's status."""
    htmx = bool(request.headers.get("HX-Request"))
    try:
        await change()
    except ApiError as error:
        if not htmx:
            raise
        return await panel(error)
    if not htmx:
        return RedirectResponse(f"/complaints/{complaint_id}", status_code=303)
    return await panel(None)
