"""A department's open complaints: what routing triaged to it, the nearest deadline
first — the section of "My work" that changes the moment a complaint is triaged or
reassigned to the department (the live feed reloads it)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from tousu_console.adapters.services import ApiError
from tousu_console.api.csc_labels import seconds_left
from tousu_console.api.deps import CurrentViewer, render
from tousu_console.domain.labels import CATEGORIES, URGENCIES

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 20


@router.get("/worklist/complaints", response_class=HTMLResponse)
async def department_complaints(
    request: Request,
    viewer: CurrentViewer,
    complaints_offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> HTMLResponse:
    """Routing's worklist for the person's department (routing scopes it by the
    token's department claim)."""
    try:
        page = await viewer.get(
            "routing", "/v1/worklists/department", limit=PAGE_SIZE, offset=complaints_offset
        )
    except ApiError as error:
        return render(request, "_alert.html", {"error": error})
    items = [{**item, "left": seconds_left(item.get("next_due_at"))} for item in page["items"]]
    return render(
        request,
        "department/complaints.html",
        {
            "items": items,
            "total": page["total"],
            "offset": complaints_offset,
            "size": PAGE_SIZE,
            "urgencies": URGENCIES,
            "categories": CATEGORIES,
        },
    )
