"""The CSC's case screens: the complaint page's case panel (rectification's case —
first response, plans, the customer's decision, actions, callback, close and
reopen — with the forms legal in the case's status for the person's role), the
CSC's instructions to departments and External Quality Information Reports, the
report's PDF through the console, and the CSC's section of "My work".

The console only *offers* what the state machine (rectification's
``domain/status.py``) and the roles allow; rectification decides, and its
refusal (403, 409 with the unmet close conditions, 422 naming the field) is
shown in the panel."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from tousu_console.adapters.services import ApiError
from tousu_console.api.complaints import act_in_panel
from tousu_console.api.csc_labels import (
    ACTION_KINDS,
    CHANNELS,
    DEPARTMENTS,
    RECIPIENTS,
    text,
)
from tousu_console.api.deps import CurrentViewer, Viewer, render
from tousu_console.api.files import download

router = APIRouter(include_in_schema=False)

#: Statuses in which a case has ended (rectification's ENDED).
ENDED = frozenset({"closed", "withdrawn"})
#: Roles that act for the case's owner department when their token names it
#: (rectification's OWNER_STAFF, besides csc).
OWNER_ROLES = frozenset({"department", "quality", "supply", "manager"})
MONEY_KINDS = frozenset({"compensation", "refund"})
#: Rows of actions the plan form offers (empty rows are left out).
PLAN_ROWS = 4
PAGE = 25


def owner_staff(viewer: Viewer, owner_department: str) -> bool:
    """rectification's OWNER_STAFF: csc, or a department/quality/supply/manager role
    with the case's owner department in the token (admin: everything)."""
    roles = set(viewer.roles)
    if "admin" in roles or "csc" in roles:
        return True
    return bool(roles & OWNER_ROLES) and viewer.department == owner_department


def offers(viewer: Viewer, case: dict[str, Any]) -> dict[str, Any]:
    """What this person may do to the case now: rectification's TABLE, by status and role."""
    status = case["status"]
    is_open = status not in ENDED
    owner = owner_staff(viewer, case["owner_department"])
    current = next(
        (p for p in case.get("plans", []) if p["plan_version"] == case.get("plan_version")), None
    )
    undone = [a for a in (current or {}).get("actions", []) if not a.get("done_at")]
    return {
        "first_response": is_open and owner and not case.get("first_response_at"),
        "wait": is_open and owner and status != "satisfied" and not case["waiting_on_customer"],
        "wait_end": is_open and owner and case["waiting_on_customer"],
        "plan": owner and status in ("awaiting_resolution", "resolution_rejected"),
        "decision": status == "resolution_proposed" and viewer.may("case.decide"),
        "actions_done": undone if status == "resolution_accepted" and owner else [],
        "callback": status == "resolution_implemented" and viewer.may("case.callback"),
        "close": status == "satisfied" and viewer.may("case.close"),
        "reopen": status == "closed" and viewer.may("case.reopen"),
        "instruct": is_open and viewer.may("case.instruct"),
        "quality_report": is_open and viewer.may("case.quality_report"),
    }


async def _case_panel(
    request: Request,
    viewer: Viewer,
    complaint_id: UUID,
    *,
    error: ApiError | None = None,
    done: str | None = None,
    sent: Mapping[str, Any] | None = None,
) -> HTMLResponse:
    base = f"/v1/cases/{complaint_id}"
    case: dict[str, Any] | None = None
    rects: dict[str, Any] = {"quality_reports": [], "rectifications": []}
    missing: ApiError | None = None
    try:
        case, rects = await asyncio.gather(
            viewer.get("rectification", base), viewer.get("rectification", f"{base}/rectifications")
        )
    except ApiError as exc:
        # Not there yet (404), or not for this person: said inside the panel, so the
        # rest of the complaint page stays readable.
        if exc.status != 404:
            error = error or exc
        missing = exc
    offered = offers(viewer, case) if case else {}
    return render(
        request,
        "csc/case_panel.html",
        {
            "complaint_id": str(complaint_id),
            "case": case,
            "rects": rects,
            "missing": missing,
            "error": error,
            "done": done,
            # a refused form comes back filled in as it was sent, and open
            "sent": {k: v for k, v in (sent or {}).items() if k != "csrf"} if error else {},
            "failed": done if error else None,
            "offer": offered,
            "any_form": any(bool(v) for v in offered.values()),
            "plan_rows": range(PLAN_ROWS),
            "action_kinds": ACTION_KINDS,
            "channels": CHANNELS,
            "departments": DEPARTMENTS,
            "recipients": RECIPIENTS,
        },
    )


@router.get("/complaints/{complaint_id}/panels/case", response_class=HTMLResponse)
async def case_panel(request: Request, complaint_id: UUID, viewer: CurrentViewer) -> HTMLResponse:
    return await _case_panel(request, viewer, complaint_id)


async def _after(
    request: Request,
    viewer: Viewer,
    complaint_id: UUID,
    change: Callable[[], Awaitable[Any]],
    done: str,
    sent: Mapping[str, Any],
) -> Response:
    async def panel(error: ApiError | None) -> Response:
        if error is None:
            return await _case_panel(request, viewer, complaint_id, done=done)
        return await _case_panel(request, viewer, complaint_id, error=error, done=done, sent=sent)

    return await act_in_panel(request, complaint_id, change, panel)


def _post(viewer: Viewer, path: str, body: Any = None) -> Callable[[], Awaitable[Any]]:
    return lambda: viewer.post("rectification", path, body)


def _plan(form: Any) -> dict[str, Any]:
    """The plan form's rows as rectification's ``ProposalIn``: a row counts when
    anything but its kind was filled in (the first row always, so that an empty
    form gets the API's answer naming the missing fields)."""
    actions: list[dict[str, Any]] = []
    for row in range(PLAN_ROWS):
        field = f"action-{row}-"
        kind = text(form, field + "kind") or "repair"
        description = text(form, field + "description")
        due = text(form, field + "due_date")
        amount = text(form, field + "amount")
        if row and not (description or due or amount):
            continue
        action: dict[str, Any] = {"kind": kind, "description": description, "due_date": due}
        if kind in MONEY_KINDS or amount:
            action["amount"] = amount
            action["currency"] = (text(form, field + "currency") or "").upper() or None
        actions.append(action)
    return {"investigation": text(form, "investigation") or "", "actions": actions}


@router.post("/complaints/{complaint_id}/panels/case/{step:path}")
async def case_action(
    request: Request, complaint_id: UUID, step: str, viewer: CurrentViewer
) -> Response:
    """One form of the case panel, to the rectification operation of the same name."""
    form = await request.form()
    base = f"/v1/cases/{complaint_id}"
    change: Callable[[], Awaitable[Any]]
    if step == "first-response":
        channel = text(form, "channel")
        change = _post(viewer, f"{base}/first-response", {"channel": channel} if channel else None)
    elif step == "customer-wait":
        change = _post(viewer, f"{base}/customer-wait", {"reason": text(form, "reason")})
    elif step == "customer-wait/end":
        change = _post(viewer, f"{base}/customer-wait/end")
    elif step == "resolution":
        change = _post(viewer, f"{base}/resolution", _plan(form))
    elif step == "resolution/decision":
        body = {
            "decision": text(form, "decision"),
            "plan_version": text(form, "plan_version"),
            "via": text(form, "via") or "hotline",
            "comment": text(form, "comment"),
        }
        change = _post(viewer, f"{base}/resolution/decision", body)
    elif step.startswith("actions/") and step.endswith("/done"):
        number = step.removeprefix("actions/").removesuffix("/done")
        if not number.isdigit():
            raise ApiError(404, "not_found", f"no action {number}")
        change = _post(viewer, f"{base}/actions/{number}/done", {"note": text(form, "note")})
    elif step == "callback":
        body = {"score": text(form, "score"), "comment": text(form, "comment") or ""}
        change = _post(viewer, f"{base}/callback", body)
    elif step == "close":
        change = _post(viewer, f"{base}/close")
    elif step == "reopen":
        change = _post(viewer, f"{base}/reopen", {"reason": text(form, "reason")})
    elif step == "instructions":
        body = {
            "department": text(form, "department"),
            "instruction": text(form, "instruction"),
            "due_date": text(form, "due_date"),
        }
        change = _post(viewer, f"{base}/instructions", body)
    elif step == "quality-reports":
        body = {
            "product_model": text(form, "product_model"),
            "serial_or_batch": text(form, "serial_or_batch"),
            "failure_description": text(form, "failure_description"),
            "quantity_affected": text(form, "quantity_affected"),
        }
        change = _post(viewer, f"{base}/quality-reports", body)
    else:
        raise ApiError(404, "not_found", f"the case has no action {step!r}")
    return await _after(request, viewer, complaint_id, change, step, form)


# -- the quality report as a document, through the console --------------------------


@router.get("/quality-reports/{report_id}/report.pdf")
async def quality_report_pdf(report_id: UUID, viewer: CurrentViewer) -> Response:
    return await download(viewer, "rectification", f"/v1/quality-reports/{report_id}/report.pdf")


@router.get("/quality-reports/{report_id}/report.html")
async def quality_report_html(report_id: UUID, viewer: CurrentViewer) -> Response:
    return await download(viewer, "rectification", f"/v1/quality-reports/{report_id}/report.html")


# -- My work: the CSC's open cases ---------------------------------------------------


@router.get("/worklist/csc", response_class=HTMLResponse)
async def csc_worklist(
    request: Request,
    viewer: CurrentViewer,
    csc_offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    csc_due: Annotated[str, Query(max_length=20)] = "all",
    csc_department: Annotated[str | None, Query(max_length=50)] = None,
) -> HTMLResponse:
    """Open cases, the soonest due first: every department's (the CSC owns the
    customer resolution), or one department's."""
    if csc_due not in ("all", "overdue", "due_soon"):
        csc_due = "all"
    if csc_department not in DEPARTMENTS:
        csc_department = None
    cases = await viewer.get(
        "rectification",
        "/v1/cases",
        due=csc_due,
        limit=PAGE,
        offset=csc_offset,
        department=csc_department,
        all_departments="false" if csc_department else "true",
    )
    return render(
        request,
        "csc/worklist.html",
        {
            "cases": cases,
            "offset": csc_offset,
            "page": PAGE,
            "due": csc_due,
            "department": csc_department,
            "departments": DEPARTMENTS,
        },
    )
