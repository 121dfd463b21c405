"""The operator's view across the five services: each one's ``/v1/ops`` API.

Intake, routing, rectification, notify — and the console itself, which serves
the same API (``tousu_common.ops``) at its own ``public_url``. Status (ready,
outbox backlog and its oldest age, dead letters by consumer), the dead letters
of one service, one dead letter with its value, and the two things an operator
does with it: re-drive it through its consumer, or discard it saying why.
Managers read; only admin changes (the services decide: a forged post gets
their 403, shown here with nothing changed).
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tousu_console.adapters.services import ApiError
from tousu_console.api.deps import CurrentViewer, Viewer, render

router = APIRouter(include_in_schema=False)

#: In page order; "console" is this console's own API (its public_url).
OPS_SERVICES: dict[str, tuple[str, str]] = {
    "intake": ("受理", "Intake"),
    "routing": ("分派与时限", "Routing and SLA"),
    "rectification": ("处理与整改", "Cases and rectification"),
    "notify": ("通知与报表", "Notifications and digests"),
    "console": ("工作台", "Console"),
}
STATUSES: dict[str, tuple[str, str]] = {
    "dead": ("待处理", "Dead"),
    "redriven": ("已重投", "Re-driven"),
    "discarded": ("已丢弃", "Discarded"),
}
PAGE_SIZE = 50


def _with_console(request: Request, viewer: Viewer) -> Viewer:
    """The services' client, knowing the console's own address too (this module only)."""
    console = request.app.state.console
    viewer.api.base_urls.setdefault("console", console.settings.public_url)
    return viewer


def _service(name: str) -> str:
    if name not in OPS_SERVICES:
        raise HTTPException(404, "no such service")
    return name


async def _status(viewer: Viewer, service: str) -> dict[str, Any]:
    try:
        status = await viewer.get(service, "/v1/ops/status")
    except ApiError as exc:
        return {"service": service, "error": exc}
    dead = sum(counts.get("dead", 0) for counts in status.get("dead_letters", {}).values())
    resolved = sum(
        n
        for counts in status.get("dead_letters", {}).values()
        for state, n in counts.items()
        if state != "dead"
    )
    return {**status, "service": service, "error": None, "dead": dead, "resolved": resolved}


@router.get("/ops", response_class=HTMLResponse)
async def ops(request: Request, viewer: CurrentViewer) -> HTMLResponse:
    viewer = _with_console(request, viewer)
    statuses = await asyncio.gather(*(_status(viewer, name) for name in OPS_SERVICES))
    refused = [s["error"] for s in statuses if s["error"] is not None and s["error"].forbidden]
    return render(
        request,
        "manager/ops.html",
        {"statuses": statuses, "services": OPS_SERVICES, "error": refused[0] if refused else None},
        status_code=403 if refused and len(refused) == len(statuses) else 200,
    )


@router.get("/ops/{service}/dead-letters", response_class=HTMLResponse)
async def dead_letters(
    request: Request,
    viewer: CurrentViewer,
    service: str,
    status: str | None = None,
    offset: str | None = None,
) -> HTMLResponse:
    viewer = _with_console(request, viewer)
    service = _service(service)
    status = status if status in STATUSES else None
    start = int(offset) if offset and offset.isdigit() and len(offset) < 8 else 0
    page = await viewer.get(
        service, "/v1/ops/dead-letters", status=status, limit=PAGE_SIZE, offset=start
    )
    return render(
        request,
        "manager/dead_letters.html",
        {
            "service": service,
            "services": OPS_SERVICES,
            "statuses": STATUSES,
            "status": status,
            "page": page,
            "offset": start,
            "page_size": PAGE_SIZE,
        },
    )


async def _detail_page(
    request: Request,
    viewer: Viewer,
    service: str,
    dead_letter_id: int,
    *,
    error: ApiError | None = None,
    done: str | None = None,
) -> HTMLResponse:
    letter = await viewer.get(service, f"/v1/ops/dead-letters/{dead_letter_id}")
    return render(
        request,
        "manager/dead_letter.html",
        {
            "service": service,
            "services": OPS_SERVICES,
            "statuses": STATUSES,
            "letter": letter,
            "error": error,
            "done": done,
            "may_change": viewer.may("ops.change"),
        },
        status_code=error.status if error else 200,
    )


@router.get("/ops/{service}/dead-letters/{dead_letter_id}", response_class=HTMLResponse)
async def dead_letter(
    request: Request,
    viewer: CurrentViewer,
    service: str,
    dead_letter_id: int,
    done: str | None = None,
) -> HTMLResponse:
    viewer = _with_console(request, viewer)
    return await _detail_page(
        request,
        viewer,
        _service(service),
        dead_letter_id,
        done=done if done in ("redriven", "discarded") else None,
    )


async def _act(
    request: Request, viewer: Viewer, service: str, dead_letter_id: int, action: str, body: Any
) -> Response:
    viewer = _with_console(request, viewer)
    service = _service(service)
    try:
        await viewer.post(service, f"/v1/ops/dead-letters/{dead_letter_id}/{action}", body)
    except ApiError as exc:
        # The service said no (403 for a manager, 409 when already resolved, 422 for an
        # empty reason): the dead letter as it is, with the message.
        return await _detail_page(request, viewer, service, dead_letter_id, error=exc)
    done = "redriven" if action == "redrive" else "discarded"
    target = f"/ops/{service}/dead-letters/{dead_letter_id}?done={done}"
    if request.headers.get("HX-Request"):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


@router.post("/ops/{service}/dead-letters/{dead_letter_id}/redrive")
async def redrive(
    request: Request, viewer: CurrentViewer, service: str, dead_letter_id: int
) -> Response:
    return await _act(request, viewer, service, dead_letter_id, "redrive", None)


@router.post("/ops/{service}/dead-letters/{dead_letter_id}/discard")
async def discard(
    request: Request, viewer: CurrentViewer, service: str, dead_letter_id: int
) -> Response:
    form = await request.form()
    reason = form.get("reason")
    return await _act(
        request,
        viewer,
        service,
        dead_letter_id,
        "discard",
        {"reason": reason if isinstance(reason, str) else ""},
    )
