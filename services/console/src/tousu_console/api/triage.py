"""The CSC's triage desk: routing's manual triage queue, and the complaint page's
triage panel (how routing classified the complaint, its SLA clocks and history)
with the CSC's and managers' corrections: override, reassign, link and unlink
duplicates. Every change goes to routing with the person's token."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from tousu_console.adapters.services import ApiError
from tousu_console.api.complaints import act_in_panel
from tousu_console.api.csc_labels import (
    CATEGORIES,
    DEPARTMENTS,
    ROUTING_STATUSES,
    URGENCIES,
    text,
)
from tousu_console.api.deps import CurrentViewer, Viewer, render

router = APIRouter(include_in_schema=False)

PAGE = 25


@router.get("/triage", response_class=HTMLResponse)
async def triage_queue(
    request: Request,
    viewer: CurrentViewer,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    status: Annotated[str | None, Query(max_length=40)] = None,
) -> HTMLResponse:
    """Complaints no rule could place, oldest deadline first (routing decides the order)."""
    if status not in ROUTING_STATUSES:
        status = None
    queue = await viewer.get(
        "routing", "/v1/worklists/triage-queue", limit=PAGE, offset=offset, status=status
    )
    return render(
        request,
        "csc/triage_queue.html",
        {
            "queue": queue,
            "offset": offset,
            "page": PAGE,
            "status": status,
            "statuses": ("manual_triage", "awaiting_transcription"),
        },
    )


async def _triage_panel(
    request: Request, viewer: Viewer, complaint_id: UUID, *, error: ApiError | None = None
) -> HTMLResponse:
    base = f"/v1/triage/{complaint_id}"
    triage: dict[str, Any] | None = None
    history: list[dict[str, Any]] = []
    missing: ApiError | None = None
    try:
        triage, history = await asyncio.gather(
            viewer.get("routing", base), viewer.get("routing", f"{base}/history")
        )
    except ApiError as exc:
        # Not there yet (404), or not for this person (403): said inside the panel, so
        # the rest of the complaint page stays readable.
        if exc.status != 404:
            error = error or exc
        missing = exc
    original: dict[str, Any] | None = None
    if triage and triage.get("duplicate_of"):
        try:
            original = await viewer.get("routing", f"/v1/triage/{triage['duplicate_of']}")
        except ApiError:
            original = None
    return render(
        request,
        "csc/triage_panel.html",
        {
            "complaint_id": str(complaint_id),
            "triage": triage,
            "history": history,
            "missing": missing,
            "original": original,
            "error": error,
            "may_change": viewer.may("triage.override"),
            "may_reassign": viewer.may("triage.reassign"),
            "may_link": viewer.may("duplicate.link"),
            "departments": DEPARTMENTS,
            "categories": CATEGORIES,
            "urgencies": URGENCIES,
        },
    )


@router.get("/complaints/{complaint_id}/panels/triage", response_class=HTMLResponse)
async def triage_panel(request: Request, complaint_id: UUID, viewer: CurrentViewer) -> HTMLResponse:
    return await _triage_panel(request, viewer, complaint_id)


async def _after(
    request: Request,
    viewer: Viewer,
    complaint_id: UUID,
    change: Callable[[], Awaitable[Any]],
) -> Response:
    async def panel(error: ApiError | None) -> Response:
        return await _triage_panel(request, viewer, complaint_id, error=error)

    return await act_in_panel(request, complaint_id, change, panel)


@router.post("/complaints/{complaint_id}/panels/triage/override")
async def override_triage(request: Request, complaint_id: UUID, viewer: CurrentViewer) -> Response:
    form = await request.form()
    body = {
        "category": text(form, "category"),
        "urgency": text(form, "urgency"),
        "owner_department": text(form, "owner_department"),
        "quality_report_needed": form.get("quality_report_needed") in ("on", "true", "1"),
        "reason": text(form, "reason"),
    }
    return await _after(
        request,
        viewer,
        complaint_id,
        lambda: viewer.put("routing", f"/v1/triage/{complaint_id}", body),
    )


@router.post("/complaints/{complaint_id}/panels/triage/reassign")
async def reassign(request: Request, complaint_id: UUID, viewer: CurrentViewer) -> Response:
    form = await request.form()
    body = {"department": text(form, "department"), "reason": text(form, "reason")}
    return await _after(
        request,
        viewer,
        complaint_id,
        lambda: viewer.post("routing", f"/v1/triage/{complaint_id}/reassign", body),
    )


@router.post("/complaints/{complaint_id}/panels/triage/unlink")
async def unlink_duplicate(request: Request, complaint_id: UUID, viewer: CurrentViewer) -> Response:
    return await _after(
        request,
        viewer,
        complaint_id,
        lambda: viewer.delete("routing", f"/v1/duplicates/{complaint_id}"),
    )


async def _resolve_complaint(viewer: Viewer, typed: str | None) -> str:
    """A complaint id from what the person typed: an id as it is, a reference
    (TS-…) through intake's search. Unknown: a 422 naming the field."""
    if not typed:
        raise ApiError(
            422,
            "invalid_input",
            "give the original complaint's reference or id",
            [{"field": "original", "problem": "required"}],
        )
    try:
        return str(UUID(typed))
    except ValueError:
        pass
    found = await viewer.get("intake", "/v1/complaints", reference=typed, limit=20)
    for item in found.get("items", []):
        if str(item.get("reference", "")).casefold() == typed.casefold():
            return str(item["id"])
    raise ApiError(
        422,
        "invalid_input",
        f"no complaint with reference {typed}",
        [{"field": "original", "problem": "no such complaint"}],
    )


@router.post("/complaints/{complaint_id}/panels/triage/link")
async def link_duplicate(request: Request, complaint_id: UUID, viewer: CurrentViewer) -> Response:
    form = await request.form()

    async def link() -> Any:
        original = await _resolve_complaint(viewer, text(form, "original"))
        body = {"original_id": original, "reason": text(form, "reason")}
        return await viewer.post("routing", f"/v1/duplicates/{complaint_id}", body)

    return await _after(request, viewer, complaint_id, link)
