"""Public pages (no login): the complaint form and the tracking page.

``GET/POST /complaint`` files a complaint on the web channel;
``GET /track/{reference}?token=…`` shows its status and history in plain
words, lets the customer add information, answer a proposed plan, ask for the
rectification feedback and confirm (or dispute) it. Every
post carries a CSRF token bound to a cookie and is rate-limited per client
address; a wrong reference or token gets the same "not found" page whether
or not the complaint exists.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

from tousu_common.errors import Conflict, InvalidInput, PayloadTooLarge
from tousu_common.events.catalog import Channel, CustomerDecision, FeedbackAnswer
from tousu_common.webguard import (
    CSRF_COOKIE,
    CSRF_FIELD,
    CsrfGuard,
    RateLimiter,
    client_address,
    retry_after_header,
)
from tousu_intake.api.web_text import TEXT, pick_language
from tousu_intake.config import Settings
from tousu_intake.domain.commands import EMAIL_PATTERN, PHONE_PATTERN, ReceiveFromChannel
from tousu_intake.domain.files import IncomingFile
from tousu_intake.domain.model import FINISHED_STATUSES, ComplaintStatus
from tousu_intake.domain.timeline import action_name, department_name, describe, stage_label
from tousu_intake.domain.tracking import verify_tracking_token
from tousu_intake.handlers.channel_filing import file_problem
from tousu_intake.handlers.feedback import FeedbackNotOpen
from tousu_intake.handlers.web_channel import (
    DecisionNotOpen,
    TrackingView,
    add_information,
    answer_feedback_on_web,
    ask_for_feedback,
    decide,
    file_from_web,
    load_tracking,
    withdraw_from_web,
)
from tousu_intake.handlers.withdraw import MAX_REASON

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")

# The same patterns as the JSON commands: a number the form takes is one filing takes.
_PHONE = re.compile(PHONE_PATTERN)
_EMAIL = re.compile(EMAIL_PATTERN)
_REFERENCE = re.compile(r"^[A-Z]{1,10}-\d{4}-\d{6,9}$")
_LIMITS = {
    "name": 200,
    "phone": 40,
    "email": 254,
    "product_model": 100,
    "serial_number": 100,
    "title": 200,
    "description": 20_000,
}
# The receive handler's field names → the form's.
_FORM_FIELDS = {"customer_phone": "phone", "customer_email": "email", "files": "attachments"}
_SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
}


# --- plumbing ----------------------------------------------------------------


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _guard(request: Request) -> CsrfGuard:
    settings = _settings(request)
    secret = hmac.new(
        settings.jwt_secret.get_secret_value().encode(), b"tousu-intake-web-csrf", hashlib.sha256
    ).digest()
    return CsrfGuard(secret, settings.web_csrf_max_age_s)


def _limiter(request: Request, name: str) -> RateLimiter:
    state = request.app.state
    limiters = getattr(state, "web_rate_limiters", None)
    if limiters is None:
        settings = _settings(request)
        limiters = {
            "post": RateLimiter(
                per_minute=settings.web_rate_per_minute, burst=settings.web_rate_burst
            ),
            "track": RateLimiter(
                per_minute=settings.web_track_rate_per_minute,
                burst=settings.web_track_rate_burst,
            ),
        }
        state.web_rate_limiters = limiters
    return limiters[name]


def _over_limit(request: Request, bucket: str, lang: str) -> Response | None:
    settings = _settings(request)
    address = client_address(request, trust_forwarded=settings.web_trust_forwarded_for)
    wait = _limiter(request, bucket).take((bucket, address))
    if not wait:
        return None
    log.warning("public page rate limit hit", extra={"bucket": bucket})
    t = TEXT[lang]
    response = _page(
        request,
        "web/message.html",
        lang,
        {"heading": t["slow_down_title"], "message": t["slow_down"].format(seconds=int(wait) + 1)},
        status_code=429,
    )
    response.headers.update(retry_after_header(wait))
    return response


def _page(
    request: Request,
    template: str,
    lang: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
) -> HTMLResponse:
    response = templates.TemplateResponse(
        request,
        template,
        {"t": TEXT[lang], "lang": lang, **context},
        status_code=status_code,
    )
    response.headers.update(_SECURITY_HEADERS)
    return response


def _csrf_for(request: Request, purpose: str) -> tuple[str, str | None]:
    """(form token, new cookie value to set or None if the browser already has one)."""
    cookie = request.cookies.get(CSRF_COOKIE)
    new_cookie = None
    if not cookie or len(cookie) > 100:
        cookie = new_cookie = CsrfGuard.new_cookie_value()
    return _guard(request).token(cookie, purpose), new_cookie


def _set_cookie(request: Request, response: Response, value: str | None) -> Response:
    if value is not None:
        response.set_cookie(
            CSRF_COOKIE,
            value,
            httponly=True,
            samesite="strict",
            secure=_settings(request).public_url.startswith("https://"),
            path="/",
        )
    return response


def _csrf_ok(request: Request, form: FormData, purpose: str) -> bool:
    token = form.get(CSRF_FIELD)
    return _guard(request).valid(
        request.cookies.get(CSRF_COOKIE), token if isinstance(token, str) else None, purpose
    )


def _forbidden(request: Request, lang: str, back: str) -> HTMLResponse:
    t = TEXT[lang]
    return _page(
        request,
        "web/message.html",
        lang,
        {"heading": t["forbidden_title"], "message": t["forbidden"], "back": back},
        status_code=403,
    )


def _not_found(request: Request, lang: str) -> HTMLResponse:
    t = TEXT[lang]
    return _page(
        request,
        "web/message.html",
        lang,
        {"heading": t["not_found_title"], "message": t["not_found"]},
        status_code=404,
    )


async def _read_form(request: Request, lang: str, back: str) -> FormData | Response:
    """The posted form, or the page to answer with: 413 over the size limit, 400 for a
    body that is no form (or has more files or fields than a person sends)."""
    settings = _settings(request)
    t = TEXT[lang]
    try:
        return await request.form(max_files=settings.web_max_files + 1, max_fields=40)
    except PayloadTooLarge:
        heading, message, status = t["too_large_title"], t["too_large"], 413
    except (HTTPException, MultiPartException) as exc:
        log.info("unreadable form post", extra={"error": str(exc)[:200]})
        heading, message, status = t["bad_form_title"], t["bad_form"], 400
    return _page(
        request,
        "web/message.html",
        lang,
        {"heading": heading, "message": message, "back": back},
        status_code=status,
    )


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


async def _files(
    form: FormData, settings: Settings, lang: str
) -> tuple[list[IncomingFile], str | None]:
    uploads = [
        item
        for item in form.getlist("attachments")
        if isinstance(item, UploadFile) and item.filename
    ]
    if len(uploads) > settings.web_max_files:
        return [], TEXT[lang]["too_many_files"].format(max=settings.web_max_files)
    files = []
    for upload in uploads:
        data = await upload.read()
        if data:
            name = Path(upload.filename or "file").name[:200]
            files.append(IncomingFile(name, data, upload.content_type, field="attachments"))
    problem = file_problem(settings, files)
    if problem:
        return [], TEXT[lang]["file_problem"].format(problem=problem)
    return files, None


def _public_base(request: Request) -> str:
    return (_settings(request).public_url or str(request.base_url)).rstrip("/")


def _token_secret(request: Request) -> str:
    return _settings(request).jwt_secret.get_secret_value()


def _track_url(
    request: Request, reference: str, token: str, lang: str | None = None, **extra: str
) -> str:
    query = {"token": token, **({"lang": lang} if lang else {}), **extra}
    return f"{_public_base(request)}/track/{reference}?{urlencode(query)}"


# --- the complaint form --------------------------------------------------------


def _form_context(
    request: Request, lang: str, values: dict[str, str], errors: dict[str, str]
) -> tuple[dict[str, Any], str | None]:
    token, new_cookie = _csrf_for(request, "complaint")
    context = {
        "values": values,
        "errors": errors,
        "csrf_token": token,
        "other_lang": "en" if lang == "zh" else "zh",
    }
    return context, new_cookie


@router.get("/complaint", response_class=HTMLResponse)
async def complaint_form(request: Request, lang: str | None = None) -> Response:
    lang = pick_language(lang)
    values = {**dict.fromkeys(_LIMITS, ""), "feedback_requested": ""}
    context, new_cookie = _form_context(request, lang, values, {})
    return _set_cookie(request, _page(request, "web/form.html", lang, context), new_cookie)


def _validate(values: dict[str, str], lang: str) -> dict[str, str]:
    t = TEXT[lang]
    errors: dict[str, str] = {}
    for name in ("name", "title", "description"):
        if not values[name]:
            errors[name] = t["required"]
    for name, limit in _LIMITS.items():
        if len(values[name]) > limit:
            errors[name] = t["too_long"].format(max=limit)
    if values["phone"] and "phone" not in errors and not _PHONE.match(values["phone"]):
        errors["phone"] = t["bad_phone"]
    if values["email"] and "email" not in errors and not _EMAIL.match(values["email"]):
        errors["email"] = t["bad_email"]
    if not values["phone"] and not values["email"]:
        errors["phone"] = t["need_contact"]
    return errors


@router.post("/complaint", response_class=HTMLResponse)
async def submit_complaint(request: Request) -> Response:
    lang = pick_language(request.query_params.get("lang"))
    limited = _over_limit(request, "post", lang)
    if limited is not None:
        return limited
    form = await _read_form(request, lang, f"/complaint?lang={lang}")
    if isinstance(form, Response):
        return form
    lang = pick_language(_text(form, "lang"))
    if not _csrf_ok(request, form, "complaint"):
        return _forbidden(request, lang, f"/complaint?lang={lang}")
    settings = _settings(request)
    t = TEXT[lang]
    if _text(form, "website"):
        # A bot filled the honeypot: say thanks, file nothing.
        log.info("web form honeypot filled; not filed")
        return _page(
            request,
            "web/message.html",
            lang,
            {"heading": t["thanks_title"], "message": t["thanks"]},
        )
    values = {name: _text(form, name) for name in _LIMITS}
    values["feedback_requested"] = "1" if _text(form, "feedback_requested") else ""
    errors = _validate(values, lang)
    files, file_problem = await _files(form, settings, lang)
    if file_problem:
        errors["attachments"] = file_problem
    if errors:
        context, new_cookie = _form_context(request, lang, values, errors)
        response = _page(request, "web/form.html", lang, context, status_code=422)
        return _set_cookie(request, response, new_cookie)
    command = ReceiveFromChannel(
        channel=Channel.web,
        title=values["title"],
        description=values["description"],
        customer_name=values["name"],
        customer_email=values["email"] or None,
        customer_phone=values["phone"] or None,
        product_model=values["product_model"] or None,
        serial_number=values["serial_number"] or None,
        language=lang,
        files=tuple(files),
        feedback_requested=bool(values["feedback_requested"]),
    )
    try:
        filed = await file_from_web(request.app.state.db, settings, command)
    except InvalidInput as exc:  # a contact the register cannot normalise
        errors = {
            _FORM_FIELDS.get(f["field"], "description"): f["problem"] for f in exc.fields
        } or {"description": exc.message}
        context, new_cookie = _form_context(request, lang, values, errors)
        response = _page(request, "web/form.html", lang, context, status_code=422)
        return _set_cookie(request, response, new_cookie)
    token = filed.tracking_token
    return _page(
        request,
        "web/filed.html",
        lang,
        {
            "reference": filed.reference,
            "token": token,
            "tracking_url": _track_url(request, filed.reference, token, lang),
        },
        status_code=201,
    )


# --- the tracking page -------------------------------------------------------


async def _authorised(request: Request, reference: str, token: str) -> TrackingView | None:
    """The complaint if reference and token match; None otherwise, in about the same time."""
    view = (
        await load_tracking(request.app.state.db, reference)
        if _REFERENCE.match(reference)
        else None
    )
    complaint_id: UUID = view.complaint.id if view else UUID(int=0)
    stored = view.complaint.tracking_token_hash if view else None
    ok = verify_tracking_token(_token_secret(request), complaint_id, token or "-", stored)
    return view if view is not None and ok else None


def _local(settings: Settings, moment: datetime) -> str:
    return moment.astimezone(ZoneInfo(settings.timezone)).strftime("%Y-%m-%d %H:%M")


def _track_context(
    request: Request,
    view: TrackingView,
    token: str,
    lang: str,
    *,
    notice: str | None = None,
    errors: dict[str, str] | None = None,
) -> tuple[dict[str, Any], str | None]:
    settings = _settings(request)
    complaint, state = view.complaint, view.state
    csrf, new_cookie = _csrf_for(request, f"track:{complaint.reference}")
    plan = None
    if state.pending_plan is not None:
        pending = state.pending_plan
        plan = {
            "version": pending["version"],
            "investigation": pending.get("investigation") or "",
            "actions": [
                {
                    "name": action_name(action["kind"], lang),
                    "description": action.get("description", ""),
                    "due_date": action.get("due_date", ""),
                    "amount": (
                        f"{action['amount']} {action.get('currency') or ''}".strip()
                        if action.get("amount")
                        else None
                    ),
                }
                for action in pending.get("actions", [])
            ],
        }
    history = [
        {
            "when": _local(settings, entry.at),
            "iso": entry.at.isoformat(),
            "text": describe(entry, lang),
        }
        for entry in sorted(view.entries, key=lambda e: e.at)
    ]
    other = "en" if lang == "zh" else "zh"
    # The complaint row knows a withdrawal at once; the read model a moment later.
    stage = state.stage
    if complaint.status == ComplaintStatus.withdrawn:
        stage = "withdrawn"
    is_open = complaint.status not in FINISHED_STATUSES and stage not in ("closed", "withdrawn")
    feedback_items = [
        {
            "rectification_id": entry.details["rectification_id"],
            "summary": entry.details.get("summary") or "",
            "answer": view.feedback.answers.get(str(entry.details["rectification_id"])),
        }
        for entry in sorted(view.entries, key=lambda e: e.at)
        if entry.kind == "rectification_feedback" and entry.details.get("rectification_id")
    ]
    context = {
        "reference": complaint.reference,
        "title": complaint.title,
        "received_at": _local(settings, complaint.received_at),
        "received_iso": complaint.received_at.isoformat(),
        "stage": stage_label(stage, lang),
        "owner": department_name(state.owner_department, lang),
        "plan": plan,
        "decision_sent": state.decision_sent,
        "feedback_requested": view.feedback.requested,
        "feedback_items": feedback_items,
        "can_ask_feedback": not view.feedback.requested and stage != "withdrawn",
        "history": history,
        "token": token,
        "csrf_token": csrf,
        "can_add": stage != "withdrawn",
        "can_withdraw": is_open,
        "withdraw_max": MAX_REASON,
        "notice": notice,
        "errors": errors or {},
        "other_lang": other,
        "other_lang_url": f"/track/{complaint.reference}?"
        + urlencode({"token": token, "lang": other}),
    }
    return context, new_cookie


@router.get("/track/{reference}", response_class=HTMLResponse)
async def tracking_page(
    request: Request, reference: str, token: str = "", lang: str | None = None, done: str = ""
) -> Response:
    fallback = pick_language(lang)
    limited = _over_limit(request, "track", fallback)
    if limited is not None:
        return limited
    view = await _authorised(request, reference, token)
    if view is None:
        return _not_found(request, fallback)
    lang = pick_language(lang, view.complaint.language)
    t = TEXT[lang]
    notice = {
        "added": t["added"],
        "decision": t["decision_sent"],
        "withdrawn": t["withdrawn"],
        "feedback_asked": t["feedback_asked"],
        "feedback_answered": t["feedback_answered"],
    }.get(done)
    context, new_cookie = _track_context(request, view, token, lang, notice=notice)
    return _set_cookie(request, _page(request, "web/track.html", lang, context), new_cookie)


async def _tracking_post(
    request: Request, reference: str
) -> tuple[Response | None, FormData | None, TrackingView | None, str]:
    """Rate limit, form, token, CSRF — in that order; a response means stop."""
    lang = pick_language(request.query_params.get("lang"))
    limited = _over_limit(request, "post", lang)
    if limited is not None:
        return limited, None, None, lang
    form = await _read_form(request, lang, "/")
    if isinstance(form, Response):
        return form, None, None, lang
    lang = pick_language(_text(form, "lang"))
    token = _text(form, "token")
    view = await _authorised(request, reference, token)
    if view is None:
        return _not_found(request, lang), None, None, lang
    if not _csrf_ok(request, form, f"track:{view.complaint.reference}"):
        return (
            _forbidden(request, lang, _track_url(request, reference, token, lang)),
            None,
            None,
            lang,
        )
    return None, form, view, lang


@router.post("/track/{reference}/add", response_class=HTMLResponse)
async def add_to_complaint(request: Request, reference: str) -> Response:
    stop, form, view, lang = await _tracking_post(request, reference)
    if stop is not None:
        return stop
    if form is None or view is None:
        raise RuntimeError("_tracking_post returned no stop page and no form")
    settings = _settings(request)
    token = _text(form, "token")
    text = _text(form, "text")
    files, problem = await _files(form, settings, lang)
    errors = {}
    if problem:
        errors["attachments"] = problem
    if not text and not files:
        errors["text"] = TEXT[lang]["required"]
    elif len(text) > 20_000:
        errors["text"] = TEXT[lang]["too_long"].format(max=20_000)
    if errors:
        context, new_cookie = _track_context(request, view, token, lang, errors=errors)
        response = _page(request, "web/track.html", lang, context, status_code=422)
        return _set_cookie(request, response, new_cookie)
    await add_information(
        request.app.state.db, settings, view.complaint, text or "(attachments)", files
    )
    return RedirectResponse(_track_url(request, reference, token, lang, done="added"), 303)


@router.post("/track/{reference}/decision", response_class=HTMLResponse)
async def answer_plan(request: Request, reference: str) -> Response:
    stop, form, view, lang = await _tracking_post(request, reference)
    if stop is not None:
        return stop
    if form is None or view is None:
        raise RuntimeError("_tracking_post returned no stop page and no form")
    token = _text(form, "token")
    try:
        decision = CustomerDecision(_text(form, "decision"))
        version = int(_text(form, "plan_version"))
    except ValueError:
        return _forbidden(request, lang, _track_url(request, reference, token, lang))
    reason = _text(form, "reason")[:5000]
    if decision is CustomerDecision.reject and not reason:
        errors = {"reason": TEXT[lang]["reject_needs_reason"]}
        context, new_cookie = _track_context(request, view, token, lang, errors=errors)
        response = _page(request, "web/track.html", lang, context, status_code=422)
        return _set_cookie(request, response, new_cookie)
    try:
        await decide(
            request.app.state.db,
            view.complaint,
            plan_version=version,
            decision=decision,
            comment=reason or None,
        )
    except DecisionNotOpen:
        log.info("decision posted for a plan that is not open")
    return RedirectResponse(_track_url(request, reference, token, lang, done="decision"), 303)


@router.post("/track/{reference}/feedback", response_class=HTMLResponse)
async def ask_for_rectification_feedback(request: Request, reference: str) -> Response:
    """The customer asks to be told the internal rectification plan and its result."""
    stop, form, view, lang = await _tracking_post(request, reference)
    if stop is not None:
        return stop
    if form is None or view is None:
        raise RuntimeError("_tracking_post returned no stop page and no form")
    token = _text(form, "token")
    if not await ask_for_feedback(request.app.state.db, view.complaint):
        log.info("feedback asked for again; nothing sent")
    return RedirectResponse(_track_url(request, reference, token, lang, done="feedback_asked"), 303)


@router.post("/track/{reference}/feedback/answer", response_class=HTMLResponse)
async def answer_rectification_feedback(request: Request, reference: str) -> Response:
    """The customer confirms (or disputes) the feedback on one rectification."""
    stop, form, view, lang = await _tracking_post(request, reference)
    if stop is not None:
        return stop
    if form is None or view is None:
        raise RuntimeError("_tracking_post returned no stop page and no form")
    token = _text(form, "token")
    try:
        answer = FeedbackAnswer(_text(form, "answer"))
        rectification_id = UUID(_text(form, "rectification_id"))
    except ValueError:
        return _forbidden(request, lang, _track_url(request, reference, token, lang))
    try:
        await answer_feedback_on_web(
            request.app.state.db, view, rectification_id=rectification_id, answer=answer
        )
    except FeedbackNotOpen:
        log.info("feedback answer posted for feedback that is not open")
    return RedirectResponse(
        _track_url(request, reference, token, lang, done="feedback_answered"), 303
    )


@router.post("/track/{reference}/withdraw", response_class=HTMLResponse)
async def withdraw_on_tracking_page(request: Request, reference: str) -> Response:
    stop, form, view, lang = await _tracking_post(request, reference)
    if stop is not None:
        return stop
    if form is None or view is None:
        raise RuntimeError("_tracking_post returned no stop page and no form")
    token = _text(form, "token")
    reason = _text(form, "withdraw_reason")
    errors = {}
    if not reason:
        errors["withdraw_reason"] = TEXT[lang]["withdraw_needs_reason"]
    elif len(reason) > MAX_REASON:
        errors["withdraw_reason"] = TEXT[lang]["too_long"].format(max=MAX_REASON)
    status_code = 422
    if not errors:
        try:
            await withdraw_from_web(request.app.state.db, view.complaint, reason)
        except Conflict:  # already withdrawn or closed (e.g. a second tab)
            log.info("withdrawal posted for a complaint that is not open")
            status_code = 409
            view = await load_tracking(request.app.state.db, view.complaint.reference) or view
        else:
            return RedirectResponse(
                _track_url(request, reference, token, lang, done="withdrawn"), 303
            )
    notice = TEXT[lang]["withdraw_not_open"] if status_code == 409 else None
    context, new_cookie = _track_context(request, view, token, lang, notice=notice, errors=errors)
    response = _page(request, "web/track.html", lang, context, status_code=status_code)
    return _set_cookie(request, response, new_cookie)
