"""Rectifications (整改): the functional departments', Quality's and Supply's screens.

Everything comes from the rectification service with the person's token:

- ``/rectifications``: my open actions (``GET /v1/worklist``), grouped by what is
  asked of me, with the due date and the time left (or overdue);
- ``/rectifications/{rid}``: one rectification, its history and evidence, its
  document (PDF) and the forms the person's role may use in its current status
  (done, dispatch, the supplier's 8D answer, evidence, verification, waiver);
- ``/quality-reports/{id}``: an External Quality Information Report and, for
  Quality, the form that turns it into a rectification notice;
- "My work" sections ``/worklist/department|quality|supply`` and the complaint
  page's panel ``/complaints/{id}/panels/rectifications``.

What is *offered* follows the service's transition table (``offered``); what is
*allowed* stays the service's decision: a forged post gets its 403, shown here.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import quote
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from tousu_console.adapters.services import ApiError
from tousu_console.api.deps import CurrentViewer, Viewer, render
from tousu_console.api.files import download
from tousu_console.domain.labels import DEPARTMENTS as DEPT_NAMES
from tousu_console.domain.labels import RECIPIENTS, RECTIFICATION_STATUSES

router = APIRouter(include_in_schema=False)

STATUS = RECTIFICATION_STATUSES
KIND: dict[str, tuple[str, str]] = {
    "service_instruction": ("整改指令", "Service instruction"),
    "internal_notice": ("整改通知单（内部）", "Rectification notice (internal)"),
    "supplier_notice": ("整改通知单（供应商）", "Rectification notice (supplier)"),
}
#: What the worklist asks of the person (``action`` of ``/v1/worklist``).
WORK: dict[str, tuple[str, str]] = {
    "mark_done": ("待整改并回复完成", "To carry out and report done"),
    "issue_notices": ("外质量信息报告：待下发整改通知", "Quality reports to turn into notices"),
    "verify": ("待验证", "To verify"),
    "dispatch": ("供应商通知：待发出", "Supplier notices to dispatch"),
    "chase_supplier": ("等待供应商回复：督促到期", "Awaiting the supplier: chase due dates"),
    "issue_quality_report": ("产品质量案件：待出外质量信息报告", "Product cases needing a report"),
    "supervise": ("在办整改（可豁免）", "Open rectifications (may waive)"),
}
#: History lines (``action`` of the rectification's history).
HISTORY: dict[str, tuple[str, str]] = {
    "instruct": ("下达整改指令", "Instructed"),
    "issue_notice": ("下发整改通知", "Notice issued"),
    "mark_done": ("部门回复完成", "Reported done"),
    "dispatch": ("供应部发给供应商", "Dispatched to the supplier"),
    "record_supplier_response": ("供应商 8D 回复", "Supplier's 8D answer"),
    "pass_verification": ("验证通过", "Verification passed"),
    "fail_verification": ("验证不通过", "Verification failed"),
    "waive": ("豁免", "Waived"),
    "attach_evidence": ("附加证据", "Evidence attached"),
    "send_feedback": ("已反馈客户", "Fed back to the customer"),
    "feedback_confirmed": ("客户确认", "Customer confirmed"),
    "feedback_disputed": ("客户有异议", "Customer disputed"),
}
ROOT_CAUSES: dict[str, tuple[str, str]] = {
    "design": ("设计", "Design"),
    "material": ("材料/外购件", "Material / purchased part"),
    "process": ("制造工艺", "Manufacturing process"),
    "workmanship": ("人员/装配", "Workmanship"),
    "equipment": ("设备", "Equipment"),
    "logistics": ("物流", "Logistics"),
    "service": ("服务", "Service"),
    "documentation": ("文件资料", "Documentation"),
    "other": ("其他", "Other"),
}
#: Who a notice or an instruction can go to.
DEPARTMENTS = {code: DEPT_NAMES[code] for code in RECIPIENTS}
OPEN = ("awaiting_dispatch", "in_progress", "awaiting_supplier", "awaiting_verification")
DUE_SOON_DAYS = 3  # the rectification service's default ``due_soon_days``

LABELS = {
    "STATUS": STATUS,
    "KIND": KIND,
    "WORK": WORK,
    "HISTORY": HISTORY,
    "ROOT_CAUSES": ROOT_CAUSES,
    "DEPARTMENTS": DEPARTMENTS,
}


def label(table: dict[str, tuple[str, str]], key: str | None) -> tuple[str, str]:
    return table.get(key or "", (key or "", key or ""))


# -- what the person is offered ------------------------------------------------------


def offered(viewer: Viewer, rect: dict[str, Any]) -> set[str]:
    """The forms the service's transition table lets this person use now (the
    service checks again; this only decides what is shown)."""
    roles = set(viewer.roles)
    admin = "admin" in roles
    kind, status = rect["kind"], rect["status"]
    forms: set[str] = set()
    recipient = admin or (
        bool(roles & {"department", "quality", "supply"})
        and viewer.department is not None
        and viewer.department == rect.get("department")
    )
    if status == "in_progress" and kind != "supplier_notice" and recipient:
        forms.add("done")
    if kind == "supplier_notice" and (admin or "supply" in roles):
        if status == "awaiting_dispatch":
            forms.add("dispatch")
        if status == "awaiting_supplier":
            forms.add("supplier_response")
        if status in ("awaiting_supplier", "awaiting_verification"):
            forms.add("evidence")
    verifier = "csc" if kind == "service_instruction" else "quality"
    if status == "awaiting_verification" and (admin or verifier in roles):
        forms.add("verification")
    if status in OPEN and (admin or "manager" in roles):
        forms.add("waiver")
    return forms


def time_left(due: str | date | None, now: datetime | None = None) -> float | None:
    """Seconds until the end of the due day (23:59:59 in Shanghai), negative when past."""
    if not due:
        return None
    day = date.fromisoformat(due) if isinstance(due, str) else due
    end = datetime.combine(day, time(23, 59, 59), tzinfo=ZoneInfo("Asia/Shanghai"))
    return (end - (now or datetime.now(UTC))).total_seconds()


def urgency(due: str | date | None) -> str:
    """``overdue``, ``soon`` (within the service's due-soon window) or ``ok``."""
    left = time_left(due)
    if left is None:
        return "none"
    if left < 0:
        return "overdue"
    return "soon" if left <= timedelta(days=DUE_SOON_DAYS).total_seconds() else "ok"


def _decorate(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for item in items:
        item["left"] = time_left(item.get("due_date"))
        item["urgency"] = urgency(item.get("due_date"))
        item["href"] = (
            f"/quality-reports/{item['id']}"
            if item.get("item_type") == "quality_report"
            else f"/complaints/{item['complaint_id']}"
            if item.get("item_type") == "case"
            else f"/rectifications/{item['id']}"
        )
    return items


async def _worklist(viewer: Viewer, scope: str = "mine") -> list[dict[str, Any]]:
    answer = await viewer.get("rectification", "/v1/worklist", scope=scope, limit=200)
    return _decorate(list(answer["items"]))


def _groups(items: list[dict[str, Any]], order: tuple[str, ...]) -> list[tuple[str, list[Any]]]:
    groups: dict[str, list[Any]] = {}
    for item in items:
        groups.setdefault(item["action"], []).append(item)
    ranked = [a for a in order if a in groups] + [a for a in groups if a not in order]
    return [(action, groups[action]) for action in ranked]


WORK_ORDER = (
    "mark_done",
    "issue_notices",
    "verify",
    "dispatch",
    "chase_supplier",
    "issue_quality_report",
    "supervise",
)


def _ctx(**extra: Any) -> dict[str, Any]:
    return {**LABELS, "label": label, **extra}


# -- the worklist ---------------------------------------------------------------------


@router.get("/rectifications", response_class=HTMLResponse)
async def rectifications_page(
    request: Request, viewer: CurrentViewer, scope: str = "mine"
) -> HTMLResponse:
    scope = scope if scope in ("mine", "due_soon", "overdue") else "mine"
    items = await _worklist(viewer, scope)
    return render(
        request,
        "rect/list.html",
        _ctx(groups=_groups(items, WORK_ORDER), scope=scope, total=len(items)),
    )


async def _section(
    request: Request,
    viewer: Viewer,
    section: str,
    actions: tuple[str, ...],
    by_urgency: bool = False,
) -> HTMLResponse:
    try:
        items = [i for i in await _worklist(viewer) if i["action"] in actions]
    except ApiError as error:
        return render(request, "_alert.html", {"error": error})
    if by_urgency:
        groups = [
            (key, [i for i in items if i["urgency"] == key])
            for key in ("overdue", "soon", "ok", "none")
        ]
        groups = [(key, rows) for key, rows in groups if rows]
    else:
        groups = _groups(items, actions)
    return render(
        request,
        "rect/section.html",
        _ctx(groups=groups, by_urgency=by_urgency, total=len(items), section=section),
    )


@router.get("/worklist/department", response_class=HTMLResponse)
async def department_section(request: Request, viewer: CurrentViewer) -> HTMLResponse:
    return await _section(request, viewer, "department", ("mark_done",), by_urgency=True)


@router.get("/worklist/quality", response_class=HTMLResponse)
async def quality_section(request: Request, viewer: CurrentViewer) -> HTMLResponse:
    return await _section(request, viewer, "quality", ("issue_notices", "verify", "mark_done"))


@router.get("/worklist/supply", response_class=HTMLResponse)
async def supply_section(request: Request, viewer: CurrentViewer) -> HTMLResponse:
    return await _section(request, viewer, "supply", ("dispatch", "chase_supplier", "mark_done"))


# -- the complaint page's panel -------------------------------------------------------------


@router.get("/complaints/{complaint_id}/panels/rectifications", response_class=HTMLResponse)
async def rectifications_panel(
    request: Request, complaint_id: UUID, viewer: CurrentViewer
) -> HTMLResponse:
    try:
        found = await viewer.get("rectification", f"/v1/cases/{complaint_id}/rectifications")
    except ApiError as error:
        if error.status == 404:
            found = {"quality_reports": [], "rectifications": []}
        else:
            return render(request, "_alert.html", {"error": error})
    rects = _decorate([{**r, "id": r["rectification_id"]} for r in found["rectifications"]])
    return render(
        request,
        "rect/panel.html",
        _ctx(reports=found["quality_reports"], rects=rects),
    )


# -- one rectification ----------------------------------------------------------------------


async def _page(
    request: Request,
    viewer: Viewer,
    rid: UUID,
    *,
    error: ApiError | None = None,
    form: dict[str, Any] | None = None,
) -> HTMLResponse:
    rect = await viewer.get("rectification", f"/v1/rectifications/{rid}")
    rect["left"] = time_left(rect["due_date"])
    rect["urgency"] = urgency(rect["due_date"]) if rect["status"] in OPEN else "none"
    return render(
        request,
        "rect/page.html",
        _ctx(
            rect=rect,
            forms=offered(viewer, rect),
            error=error,
            form=form or {},
            history=list(reversed(rect.get("history") or [])),
        ),
        status_code=error.status if error else 200,
    )


@router.get("/rectifications/{rid}", response_class=HTMLResponse)
async def rectification_page(request: Request, rid: UUID, viewer: CurrentViewer) -> HTMLResponse:
    return await _page(request, viewer, rid)


@router.get("/rectifications/{rid}/changed", response_class=HTMLResponse)
async def rectification_changed(
    request: Request, rid: UUID, viewer: CurrentViewer, version: int = 0
) -> HTMLResponse:
    """Asked by an open page when a change about its complaint arrives: nothing if
    the rectification is still the version shown, else a note to reload (the page
    is not swapped under a person typing into its forms)."""
    try:
        rect = await viewer.get("rectification", f"/v1/rectifications/{rid}")
    except ApiError as error:
        return render(request, "_alert.html", {"error": error})
    return render(request, "rect/changed.html", _ctx(rect=rect, shown=version))


def _text(form: Any, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


async def _act(
    request: Request, viewer: Viewer, rid: UUID, step: str, body: dict[str, Any] | None
) -> Response:
    """Post one transition; back to the page (303), or the page with the service's
    refusal and what was typed (nothing changed)."""
    try:
        await viewer.post("rectification", f"/v1/rectifications/{rid}/{step}", body)
    except ApiError as error:
        return await _page(request, viewer, rid, error=error, form={"step": step, **(body or {})})
    return RedirectResponse(f"/rectifications/{rid}?done={quote(step)}", status_code=303)


@router.post("/rectifications/{rid}/done")
async def post_done(request: Request, rid: UUID, viewer: CurrentViewer) -> Response:
    form = await request.form()
    body = {
        "root_cause_category": _text(form, "root_cause_category"),
        "root_cause": _text(form, "root_cause"),
        "corrective_action": _text(form, "corrective_action"),
    }
    return await _act(request, viewer, rid, "done", body)


@router.post("/rectifications/{rid}/dispatch")
async def post_dispatch(request: Request, rid: UUID, viewer: CurrentViewer) -> Response:
    return await _act(request, viewer, rid, "dispatch", None)


@router.post("/rectifications/{rid}/supplier-response")
async def post_supplier_response(request: Request, rid: UUID, viewer: CurrentViewer) -> Response:
    form = await request.form()
    fields = ("containment", "root_cause", "root_cause_category", "corrective_action")
    body = {name: _text(form, name) for name in (*fields, "preventive_action")}
    return await _act(request, viewer, rid, "supplier-response", body)


@router.post("/rectifications/{rid}/verification")
async def post_verification(request: Request, rid: UUID, viewer: CurrentViewer) -> Response:
    form = await request.form()
    outcome = _text(form, "outcome")
    body: dict[str, Any] = {
        "passed": outcome == "pass" if outcome in ("pass", "fail") else outcome,
        "comment": _text(form, "comment"),
        "reason": _text(form, "reason"),
    }
    return await _act(request, viewer, rid, "verification", body)


@router.post("/rectifications/{rid}/waiver")
async def post_waiver(request: Request, rid: UUID, viewer: CurrentViewer) -> Response:
    form = await request.form()
    return await _act(request, viewer, rid, "waiver", {"reason": _text(form, "reason")})


@router.post("/rectifications/{rid}/evidence")
async def post_evidence(request: Request, rid: UUID, viewer: CurrentViewer) -> Response:
    form = await request.form()
    files = []
    for upload in form.getlist("files"):
        if isinstance(upload, UploadFile) and upload.filename:
            content = await upload.read()
            files.append(
                (
                    "files",
                    (upload.filename, content, upload.content_type or "application/octet-stream"),
                )
            )
    if not files:
        problem = [{"field": "files", "problem": "at least one non-empty file"}]
        error = ApiError(422, "invalid_input", "files: choose at least one file", problem)
        return await _page(request, viewer, rid, error=error, form={"step": "evidence"})
    try:
        await viewer.api.request(
            viewer.token, "POST", "rectification", f"/v1/rectifications/{rid}/evidence", files=files
        )
    except ApiError as error:
        return await _page(request, viewer, rid, error=error, form={"step": "evidence"})
    return RedirectResponse(f"/rectifications/{rid}?done=evidence", status_code=303)


@router.get("/rectifications/{rid}/report.pdf")
async def rectification_pdf(rid: UUID, viewer: CurrentViewer) -> Response:
    return await download(
        viewer, "rectification", f"/v1/rectifications/{rid}/report.pdf", filename=f"{rid}.pdf"
    )


@router.get("/rectifications/{rid}/evidence/{evidence_id}")
async def evidence_file(rid: UUID, evidence_id: UUID, viewer: CurrentViewer) -> Response:
    return await download(
        viewer,
        "rectification",
        f"/v1/rectifications/{rid}/evidence/{evidence_id}",
        filename=str(evidence_id),
    )


# -- a quality report, and the notices Quality issues from it -------------------------------


async def _report_page(
    request: Request,
    viewer: Viewer,
    report_id: UUID,
    *,
    error: ApiError | None = None,
    form: dict[str, Any] | None = None,
) -> HTMLResponse:
    report = await viewer.get("rectification", f"/v1/quality-reports/{report_id}")
    found = await viewer.get("rectification", f"/v1/cases/{report['complaint_id']}/rectifications")
    notices = _decorate(
        [
            {**r, "id": r["rectification_id"]}
            for r in found["rectifications"]
            if r.get("report_id") == str(report_id)
        ]
    )
    suppliers: list[dict[str, Any]] = []
    if viewer.may("notice.issue"):
        try:
            suppliers = (await viewer.get("rectification", "/v1/suppliers", limit=200))["items"]
        except ApiError:
            suppliers = []
    return render(
        request,
        "rect/report.html",
        _ctx(
            report=report,
            notices=notices,
            suppliers=suppliers,
            error=error,
            form=form or {},
            today=datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat(),
        ),
        status_code=error.status if error else 200,
    )


@router.get("/quality-reports/{report_id}", response_class=HTMLResponse)
async def report_page(request: Request, report_id: UUID, viewer: CurrentViewer) -> HTMLResponse:
    return await _report_page(request, viewer, report_id)


@router.post("/quality-reports/{report_id}/notices")
async def post_notice(request: Request, report_id: UUID, viewer: CurrentViewer) -> Response:
    form = await request.form()
    recipient = _text(form, "recipient")
    body: dict[str, Any] = {
        "recipient": recipient,
        "requirement": _text(form, "requirement"),
        "due_date": _text(form, "due_date"),
    }
    if recipient == "supplier":
        body["supplier_id"] = _text(form, "supplier_id")
    else:
        body["department"] = _text(form, "department")
    try:
        notice = await viewer.post(
            "rectification", f"/v1/quality-reports/{report_id}/notices", body
        )
    except ApiError as error:
        return await _report_page(request, viewer, report_id, error=error, form=body)
    return RedirectResponse(
        f"/rectifications/{notice['rectification_id']}?done=notice", status_code=303
    )
