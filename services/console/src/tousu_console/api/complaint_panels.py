"""The complaint page's common panels: summary (intake's record, SLA clocks, the
report and notice PDFs), one timeline from the four services, notifications sent;
and the downloads, streamed from the owning service with the person's token.

A panel asks several services at once. One that refuses (403) or fails leaves
its part out with a note; the rest of the panel is still shown.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from tousu_console.adapters.services import ApiError
from tousu_console.api.deps import CurrentViewer, Viewer, render
from tousu_console.api.files import download
from tousu_console.domain import timeline

router = APIRouter(include_in_schema=False)

T = TypeVar("T")

#: The services by the names people know them by, for the notes about a part left out.
SERVICE_NAMES = {
    "intake": ("受理", "Intake"),
    "routing": ("分派", "Routing"),
    "rectification": ("整改", "Rectification"),
    "notify": ("通知", "Notifications"),
}

#: Under this share of its budget left, a running clock is "due soon".
SOON_SHARE = 0.25

NOTICE_KINDS = ("internal_notice", "supplier_notice")


@dataclass(frozen=True)
class Missing:
    """A part of a panel a service did not give: whose, and why."""

    service: str
    error: ApiError

    @property
    def zh(self) -> str:
        return SERVICE_NAMES[self.service][0]

    @property
    def en(self) -> str:
        return SERVICE_NAMES[self.service][1]

    @property
    def not_yet(self) -> bool:
        return self.error.status == 404


async def attempt(service: str, call: Awaitable[T], missing: list[Missing]) -> T | None:
    """The answer, or None with a note in ``missing`` if the service said no."""
    try:
        return await call
    except ApiError as error:
        missing.append(Missing(service, error))
        return None


# -- header ------------------------------------------------------------------------


async def header_context(viewer: Viewer, complaint_id: UUID, complaint: dict[str, Any]) -> dict:
    """Reference, status (the case's when there is one, else intake's), owner department."""
    missing: list[Missing] = []
    triage, case = await asyncio.gather(
        attempt("routing", viewer.get("routing", f"/v1/triage/{complaint_id}"), missing),
        attempt("rectification", viewer.get("rectification", f"/v1/cases/{complaint_id}"), missing),
    )
    status = (case or {}).get("status") or complaint.get("status")
    department = (case or {}).get("owner_department") or (triage or {}).get("owner_department")
    return {
        "complaint": complaint,
        "complaint_id": str(complaint_id),
        "status": status,
        "status_tone": status_tone(status),
        "department": department,
        "urgency": (triage or {}).get("urgency"),
        "header_missing": [m for m in missing if not m.not_yet],
    }


def status_tone(status: str | None) -> str:
    if status in ("closed", "satisfied"):
        return "ok"
    if status in ("withdrawn",):
        return ""
    if status in ("needs_transcription", "resolution_rejected"):
        return "soon"
    return "open"


@router.get("/complaints/{complaint_id}/header", response_class=HTMLResponse)
async def header(request: Request, complaint_id: UUID, viewer: CurrentViewer) -> HTMLResponse:
    complaint = await viewer.get("intake", f"/v1/complaints/{complaint_id}")
    context = await header_context(viewer, complaint_id, complaint)
    return render(request, "complaints/_header.html", context)


# -- summary -----------------------------------------------------------------------


def clock_rows(triage: dict[str, Any] | None, now: datetime) -> list[dict[str, Any]]:
    """Each SLA clock: its deadline, the seconds left (negative: overdue) while it
    runs, and a badge tone."""
    rows = []
    for clock in (triage or {}).get("clocks") or []:
        due = timeline.moment(clock.get("due_at"))
        outcome = clock.get("outcome") or ""
        running = outcome in ("running", "overdue")
        left = (due - now).total_seconds() if due and running else None
        budget = float(clock.get("budget_seconds") or 0)
        if outcome == "overdue" or (left is not None and left < 0):
            tone = "overdue"
        elif left is not None and budget and left < budget * SOON_SHARE:
            tone = "soon"
        elif outcome in ("met", "running"):
            tone = "ok"
        elif outcome == "met_late":
            tone = "overdue"
        else:
            tone = ""
        name = timeline.clock_name(clock)
        rows.append(
            {
                "zh": name[0],
                "en": name[1],
                "due_at": clock.get("due_at"),
                "left": left,
                "outcome": outcome,
                "state": clock.get("state"),
                "stopped_at": clock.get("stopped_at"),
                "tone": tone,
            }
        )
    return rows


@router.get("/complaints/{complaint_id}/panels/summary", response_class=HTMLResponse)
async def summary(request: Request, complaint_id: UUID, viewer: CurrentViewer) -> HTMLResponse:
    missing: list[Missing] = []
    complaint, triage, documents = await asyncio.gather(
        attempt("intake", viewer.get("intake", f"/v1/complaints/{complaint_id}"), missing),
        attempt("routing", viewer.get("routing", f"/v1/triage/{complaint_id}"), missing),
        attempt(
            "rectification",
            viewer.get("rectification", f"/v1/cases/{complaint_id}/rectifications"),
            missing,
        ),
    )
    documents = documents or {}
    reports = documents.get("quality_reports") or []
    notices = [r for r in documents.get("rectifications") or [] if r.get("kind") in NOTICE_KINDS]
    return render(
        request,
        "complaints/summary.html",
        {
            "complaint": complaint,
            "complaint_id": str(complaint_id),
            "triage": triage,
            "clocks": clock_rows(triage, datetime.now(UTC)),
            "reports": reports,
            "notices": notices,
            "missing": missing,
            "routing_refused": any(m.service == "routing" and not m.not_yet for m in missing),
        },
    )


# -- timeline ----------------------------------------------------------------------


@router.get("/complaints/{complaint_id}/panels/timeline", response_class=HTMLResponse)
async def timeline_panel(
    request: Request, complaint_id: UUID, viewer: CurrentViewer
) -> HTMLResponse:
    missing: list[Missing] = []
    complaint, history, triage, case, documents, notifications = await asyncio.gather(
        attempt("intake", viewer.get("intake", f"/v1/complaints/{complaint_id}"), missing),
        attempt("routing", viewer.get("routing", f"/v1/triage/{complaint_id}/history"), missing),
        attempt("routing", viewer.get("routing", f"/v1/triage/{complaint_id}"), missing),
        attempt("rectification", viewer.get("rectification", f"/v1/cases/{complaint_id}"), missing),
        attempt(
            "rectification",
            viewer.get("rectification", f"/v1/cases/{complaint_id}/rectifications"),
            missing,
        ),
        attempt(
            "notify",
            viewer.get("notify", "/v1/notifications", complaint_id=str(complaint_id)),
            missing,
        ),
    )
    rect_ids = [r["rectification_id"] for r in (documents or {}).get("rectifications") or []]
    rects = await asyncio.gather(
        *(
            attempt(
                "rectification", viewer.get("rectification", f"/v1/rectifications/{rid}"), missing
            )
            for rid in rect_ids
        )
    )
    entries = timeline.merge(
        timeline.from_intake(complaint or {}),
        timeline.from_routing(history or [], triage),
        timeline.from_case(case or {}),
        timeline.from_quality_reports((documents or {}).get("quality_reports") or []),
        *(timeline.from_rectification(r) for r in rects if r),
        timeline.from_notifications(notifications or []),
    )
    return render(
        request,
        "complaints/timeline.html",
        {"entries": entries, "missing": _one_note_per_service(missing)},
    )


def _one_note_per_service(missing: list[Missing]) -> list[Missing]:
    seen: dict[str, Missing] = {}
    for item in missing:
        kept = seen.get(item.service)
        # a refusal says more than "not there yet"
        if kept is None or (kept.not_yet and not item.not_yet):
            seen[item.service] = item
    return list(seen.values())


# -- notifications -------------------------------------------------------------------


@router.get("/complaints/{complaint_id}/panels/notifications", response_class=HTMLResponse)
async def notifications_panel(
    request: Request, complaint_id: UUID, viewer: CurrentViewer
) -> HTMLResponse:
    missing: list[Missing] = []
    notifications = await attempt(
        "notify",
        viewer.get("notify", "/v1/notifications", complaint_id=str(complaint_id)),
        missing,
    )
    return render(
        request,
        "complaints/notifications.html",
        {"notifications": notifications or [], "missing": missing},
    )


# -- downloads, streamed from the owning service -------------------------------------


@router.get("/complaints/{complaint_id}/attachments/{attachment_id}")
async def attachment(
    complaint_id: UUID, attachment_id: UUID, viewer: CurrentViewer
) -> StreamingResponse:
    return await download(
        viewer, "intake", f"/v1/complaints/{complaint_id}/attachments/{attachment_id}"
    )


@router.get("/complaints/{complaint_id}/quality-reports/{report_id}/report.pdf")
async def quality_report_pdf(
    complaint_id: UUID, report_id: UUID, viewer: CurrentViewer
) -> StreamingResponse:
    return await download(viewer, "rectification", f"/v1/quality-reports/{report_id}/report.pdf")


@router.get("/complaints/{complaint_id}/rectifications/{rectification_id}/report.pdf")
async def notice_pdf(
    complaint_id: UUID, rectification_id: UUID, viewer: CurrentViewer
) -> StreamingResponse:
    return await download(
        viewer, "rectification", f"/v1/rectifications/{rectification_id}/report.pdf"
    )
