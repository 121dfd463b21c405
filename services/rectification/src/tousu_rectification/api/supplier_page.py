"""The supplier's 8D response page: public, no login, the link's token is the key.

``GET /supplier/8d/{rectification_id}/{token}`` shows the notice and the 8D form
(Chinese or English: ``?lang=``, else the supplier's language);
``POST`` to the same address answers it. A wrong or expired token, an unknown
id, or something that is not a supplier notice is a plain 404 that says
nothing more — and changes nothing. The form carries a CSRF token (checked
against a SameSite=Strict cookie); fields and files are size-limited; files
are accepted by their content (PDF and common images), not their names.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from tousu_common.errors import TousuError
from tousu_common.events.catalog import RootCauseCategory
from tousu_common.webguard import CsrfGuard
from tousu_rectification.adapters import supplier_links
from tousu_rectification.adapters.evidence import StoredFile, read_uploads, remove
from tousu_rectification.adapters.rectification_repository import RectificationRepository
from tousu_rectification.adapters.templates import render
from tousu_rectification.api.deps import unit_of_work
from tousu_rectification.domain.rectification import (
    EightD,
    Rectification,
    RectificationStatus,
    supplier_actor,
)
from tousu_rectification.handlers import rectifications as commands

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

TEXT_FIELDS = ("containment", "root_cause", "corrective_action", "preventive_action")
MAX_TEXT = 20_000

LABELS = {
    "zh": {
        "title": "供应商整改回复（8D）",
        "notice": "整改通知单",
        "supplier": "供应商",
        "due": "完成期限",
        "containment": "临时围堵措施",
        "root_cause": "根本原因分析",
        "root_cause_category": "原因类别",
        "corrective_action": "永久纠正措施及验证",
        "preventive_action": "预防再发生措施",
        "evidence": "证据附件（PDF/图片）",
        "submit": "提交回复",
        "answered": "已收到您的回复，谢谢。我们的质量部将验证整改效果。",
        "closed": "此整改通知单目前无需回复。",
        "other_language": "English",
        "not_found": "链接无效或已过期。",
        "csrf": "表单已过期，请刷新页面后重新提交",
        "required": "必填",
        "too_long": "内容过长",
    },
    "en": {
        "title": "Supplier rectification response (8D)",
        "notice": "Rectification notice",
        "supplier": "Supplier",
        "due": "Due",
        "containment": "Containment action",
        "root_cause": "Root cause analysis",
        "root_cause_category": "Root cause category",
        "corrective_action": "Permanent corrective action and its verification",
        "preventive_action": "Action to prevent recurrence",
        "evidence": "Evidence (PDF / images)",
        "submit": "Submit response",
        "answered": "Your response has been received, thank you. Our Quality department "
        "will verify the effect.",
        "closed": "This notice does not need a response now.",
        "other_language": "中文",
        "not_found": "This link is invalid or has expired.",
        "csrf": "The form has expired; reload the page and submit again",
        "required": "required",
        "too_long": "too long",
    },
}


def _not_found() -> HTMLResponse:
    body = f"<!DOCTYPE html><meta charset='utf-8'><p>{LABELS['zh']['not_found']}</p>"
    body += f"<p>{LABELS['en']['not_found']}</p>"
    return HTMLResponse(body, status_code=404)


def _today(request: Request) -> Any:
    return datetime.now(UTC).astimezone(ZoneInfo(request.app.state.settings.timezone)).date()


async def _load(request: Request, rectification_id: str, token: str) -> Rectification | None:
    """The supplier notice the link is for, or None (the caller answers 404)."""
    settings = request.app.state.settings
    try:
        rect_id = UUID(rectification_id)
    except ValueError:
        return None
    if len(token) > 100 or not supplier_links.token_matches(settings, rect_id, token):
        return None
    async with request.app.state.db.sessions() as session:
        rect = await RectificationRepository(session).get(rect_id)
    if rect is None or rect.supplier is None:
        return None
    if supplier_links.link_expired(settings, rect.due_date, _today(request)):
        return None
    return rect


async def _language(request: Request, rect: Rectification, asked: str | None) -> str:
    if asked in LABELS:
        return asked
    async with request.app.state.db.sessions() as session:
        supplier = await RectificationRepository(session).supplier(rect.supplier.supplier_id)  # type: ignore[union-attr]
    return supplier.language if supplier and supplier.language in LABELS else "zh"


def _page(
    request: Request,
    rect: Rectification,
    lang: str,
    *,
    status_code: int = 200,
    errors: list[tuple[str, str]] | None = None,
    values: dict[str, str] | None = None,
) -> HTMLResponse:
    settings = request.app.state.settings
    cookie = request.cookies.get(supplier_links.CSRF_COOKIE)
    new_cookie = None
    if not cookie or len(cookie) > 100:
        cookie = new_cookie = CsrfGuard.new_cookie_value()
    csrf = supplier_links.csrf_guard(settings).token(
        cookie, supplier_links.csrf_purpose(rect.rectification_id)
    )
    if rect.status is RectificationStatus.awaiting_supplier:
        state = "form"
    elif rect.responded_at is not None and not rect.settled:
        state = "answered"
    else:
        state = "closed"
    html = render(
        "supplier_8d.html",
        t=LABELS[lang],
        lang=lang,
        company_name=settings.company_name,
        number=rect.number,
        supplier_name=rect.supplier.name if rect.supplier else "",
        due_date=rect.due_date.isoformat(),
        requirement=rect.requirement,
        state=state,
        errors=errors or [],
        values=values or {},
        categories=[c.value for c in RootCauseCategory],
        csrf=csrf,
        action=request.url.path,
    )
    response = HTMLResponse(html, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    if new_cookie is not None:
        response.set_cookie(
            supplier_links.CSRF_COOKIE,
            new_cookie,
            path=request.url.path,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            max_age=supplier_links.CSRF_MAX_AGE_S,
        )
    return response


@router.get("/supplier/8d/{rectification_id}/{token}")
async def supplier_page(request: Request, rectification_id: str, token: str) -> HTMLResponse:
    rect = await _load(request, rectification_id, token)
    if rect is None:
        return _not_found()
    lang = await _language(request, rect, request.query_params.get("lang"))
    return _page(request, rect, lang)


@router.post("/supplier/8d/{rectification_id}/{token}")
async def supplier_answer(request: Request, rectification_id: str, token: str) -> HTMLResponse:
    rect = await _load(request, rectification_id, token)
    if rect is None:
        return _not_found()
    settings = request.app.state.settings
    try:
        # A text field holds up to 20,000 characters: 60 kB as UTF-8, 180 kB URL-encoded.
        form = await request.form(
            max_files=settings.evidence_max_files + 1, max_fields=20, max_part_size=200_000
        )
    except HTTPException as refused:  # too many parts, a part too large, unreadable
        lang = await _language(request, rect, request.query_params.get("lang"))
        return _page(request, rect, lang, status_code=413, errors=[("form", refused.detail)])
    lang = str(form.get("lang") or "")
    lang = lang if lang in LABELS else await _language(request, rect, None)
    t = LABELS[lang]
    values = {name: str(form.get(name) or "") for name in (*TEXT_FIELDS, "root_cause_category")}
    if not supplier_links.csrf_guard(settings).valid(
        request.cookies.get(supplier_links.CSRF_COOKIE),
        str(form.get("csrf") or ""),
        supplier_links.csrf_purpose(rect.rectification_id),
    ):
        return _page(
            request, rect, lang, status_code=403, errors=[("csrf", t["csrf"])], values=values
        )
    errors: list[tuple[str, str]] = []
    for name in TEXT_FIELDS:
        if not values[name].strip():
            errors.append((name, t["required"]))
        elif len(values[name]) > MAX_TEXT:
            errors.append((name, t["too_long"]))
    if values["root_cause_category"] not in {c.value for c in RootCauseCategory}:
        errors.append(("root_cause_category", t["required"]))
    uploads = [f for f in form.getlist("evidence") if isinstance(f, UploadFile)]
    files, file_errors = await read_uploads(
        uploads, max_bytes=settings.evidence_max_bytes, max_files=settings.evidence_max_files
    )
    errors += file_errors
    if errors:
        return _page(request, rect, lang, status_code=422, errors=errors, values=values)
    answer = EightD(
        containment=values["containment"],
        root_cause=values["root_cause"],
        root_cause_category=RootCauseCategory(values["root_cause_category"]),
        corrective_action=values["corrective_action"],
        preventive_action=values["preventive_action"],
    )
    actor = supplier_actor(rect.supplier.supplier_id)  # type: ignore[union-attr]
    stored: list[StoredFile] = []
    now = datetime.now(UTC)
    try:
        async with unit_of_work(request) as uow:
            current = await commands.record_supplier_answer(
                uow,
                rect.rectification_id,
                answer,
                files=files,
                data_dir=settings.data_dir,
                stored=stored,
                actor=actor,
                at=now,
            )
    except TousuError as refused:
        remove(settings.data_dir, rect.rectification_id, stored)
        log.info("supplier answer refused", extra={"reason": refused.code})
        async with request.app.state.db.sessions() as session:
            latest = await RectificationRepository(session).get(rect.rectification_id)
        return _page(request, latest or rect, lang, status_code=409)
    except BaseException:
        remove(settings.data_dir, rect.rectification_id, stored)
        raise
    log.info("supplier answered", extra={"rectification_id": str(rect.rectification_id)})
    return _page(request, current, lang)
