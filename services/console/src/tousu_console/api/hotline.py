"""The call-centre agent's screens: the hotline (who is calling → a complaint),
the complaint page's "amend or withdraw" panel, and "my recent complaints".

Everything goes through intake's public API with the agent's own token:
``GET /v1/customers/lookup`` for the caller's card, ``GET /v1/complaints`` for
their open complaints, ``POST /v1/complaints`` (with an ``Idempotency-Key`` the
form carries, so a double submit records one complaint), and the amendment and
withdrawal endpoints. The telephony screen pop opens
``/hotline?phone=<number>&call=<call id>``; the call id travels with the form
and is logged on the new complaint as a note.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tousu_console.adapters.services import ApiError
from tousu_console.api.complaints import act_in_panel
from tousu_console.api.deps import CurrentViewer, Viewer, api_error_response, render

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

#: Tiers intake handles as key accounts (``KEY_ACCOUNT_TIERS`` in intake's model).
KEY_ACCOUNT_TIERS = frozenset({"strategic", "key"})
FINISHED = frozenset({"closed", "withdrawn"})
#: What a telephony call id may look like (anything else is dropped, not echoed).
CALL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,99}$")
_PHONE_LIKE = re.compile(r"^\+?[0-9 ()./-]+$")
#: Open complaints read in detail for the duplicate hint (their product and serial).
HINT_DETAILS = 10
PAGE_SIZE = 20

FORM_FIELDS = (
    "title",
    "description",
    "customer_name",
    "customer_phone",
    "customer_email",
    "customer_id",
    "product_model",
    "serial_number",
    "language",
)


def kind_of(query: str) -> str:
    """What the agent typed: an e-mail address, a phone number or a serial number."""
    if "@" in query:
        return "email"
    if _PHONE_LIKE.match(query) and sum(ch.isdigit() for ch in query) >= 5:
        return "phone"
    return "serial"


def call_id(value: str | None) -> str:
    value = (value or "").strip()
    return value if CALL_ID.match(value) else ""


def serial_key(value: str | None) -> str:
    """Serial numbers compare as intake compares them (blank-trimmed, upper case)."""
    return (value or "").strip().upper()


def field_errors(error: ApiError | None) -> dict[str, str]:
    """The API's field problems by form field (``title``, ``query.phone`` → ``phone``)."""
    if error is None:
        return {}
    found: dict[str, str] = {}
    for item in error.fields:
        name = str(item.get("field", "")).split(".")[-1]
        found.setdefault(name, str(item.get("problem", "")))
    return found


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v.strip() if isinstance(v, str) else "" for k, v in form.items()}


# -- the hotline ---------------------------------------------------------------------


async def _lookup(viewer: Viewer, query: str) -> list[dict[str, Any]]:
    kind = kind_of(query)
    params = {"phone": query, "serial": query} if kind == "phone" else {kind: query}
    try:
        return list(await viewer.get("intake", "/v1/customers/lookup", **params))
    except ApiError as error:
        if kind != "phone" or error.status != 422:
            raise
        # Looked like a number but is none (too short, too long): try it as a serial.
        return list(await viewer.get("intake", "/v1/customers/lookup", serial=query))


async def _open_complaints(
    viewer: Viewer, query: str, chosen: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """The caller's open complaints (their customer's, and any given with this number),
    each with its product and serial number for the duplicate hint."""
    found: dict[str, dict[str, Any]] = {}
    for item in (chosen or {}).get("open_complaints", []):
        found[item["id"]] = item
    if kind_of(query) == "phone":
        try:
            page = await viewer.get(
                "intake", "/v1/complaints", phone=query, open="true", limit=HINT_DETAILS
            )
        except ApiError as error:
            if error.status != 422:
                raise
        else:
            for item in page["items"]:
                found.setdefault(item["id"], item)
    items = sorted(found.values(), key=lambda c: c["received_at"], reverse=True)[:HINT_DETAILS]

    async def detail(item: dict[str, Any]) -> dict[str, Any]:
        try:
            full = await viewer.get("intake", f"/v1/complaints/{item['id']}")
        except ApiError:
            return item
        return {
            **item,
            "product_model": full.get("product_model"),
            "serial_number": full.get("serial_number"),
        }

    return list(await asyncio.gather(*(detail(i) for i in items)))


def _prefill(query: str, chosen: dict[str, Any] | None, call: str) -> dict[str, str]:
    """The new-complaint form as the card fills it."""
    kind = kind_of(query) if query else ""
    chosen = chosen or {}
    products = chosen.get("products") or []
    values = {name: "" for name in FORM_FIELDS}
    values.update(
        customer_id=chosen.get("id", ""),
        customer_name="" if chosen.get("provisional") else chosen.get("name", ""),
        customer_phone=query if kind == "phone" else (chosen.get("phones") or [""])[0],
        customer_email=query if kind == "email" else (chosen.get("emails") or [""])[0],
        language=chosen.get("language") or "zh",
        call=call,
        q=query,
        product="",
    )
    searched = serial_key(query) if kind == "serial" else ""
    if len(products) == 1:
        values["product_model"] = products[0].get("model") or ""
        values["serial_number"] = products[0]["serial_number"]
    elif products and searched:
        match = next((p for p in products if serial_key(p["serial_number"]) == searched), None)
        if match:
            values["product"] = product_value(match)
    if searched and not products:
        values["serial_number"] = query
    return values


def product_value(product: dict[str, Any]) -> str:
    """A card product as one select value (model and serial together)."""
    return json.dumps(
        {"model": product.get("model") or "", "serial": product["serial_number"]},
        ensure_ascii=False,
        sort_keys=True,
    )


def _same_product(values: dict[str, str]) -> str:
    """The serial number the complaint being recorded is about, if the form knows it."""
    if values.get("product"):
        try:
            return serial_key(json.loads(values["product"]).get("serial"))
        except (ValueError, AttributeError):
            return ""
    return serial_key(values.get("serial_number"))


async def _hotline_context(
    viewer: Viewer,
    query: str,
    customer: str,
    call: str,
    values: dict[str, str] | None = None,
) -> dict[str, Any]:
    matches: list[dict[str, Any]] = []
    lookup_error: ApiError | None = None
    query = query if viewer.may("customer.lookup") else ""
    if query:
        try:
            matches = await _lookup(viewer, query)
        except ApiError as error:
            if error.status not in (400, 422):
                raise
            lookup_error = error
    chosen = next((m for m in matches if m["id"] == customer), matches[0] if matches else None)
    form = _prefill(query, chosen, call) if values is None else values
    open_complaints = await _open_complaints(viewer, query, chosen) if query else []
    same = _same_product(form)
    for item in open_complaints:
        item["same_product"] = bool(same) and serial_key(item.get("serial_number")) == same
    return {
        "query": query,
        "looked_up": bool(query) and lookup_error is None,
        "lookup_error": lookup_error,
        "matches": matches,
        "chosen": chosen,
        "key_account": bool(chosen) and chosen["tier"] in KEY_ACCOUNT_TIERS,
        "open_complaints": open_complaints,
        "form": form,
        "products": (chosen or {}).get("products") or [],
        "product_value": product_value,
        "call": call,
        "idempotency_key": secrets.token_urlsafe(18),
    }


@router.get("/hotline", response_class=HTMLResponse)
async def hotline(
    request: Request,
    viewer: CurrentViewer,
    q: Annotated[str | None, Query(max_length=254)] = None,
    phone: Annotated[str | None, Query(max_length=254)] = None,
    call: Annotated[str | None, Query(max_length=200)] = None,
    customer: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    """The caller's number (or e-mail / serial) → their card and a prefilled form.
    ``phone`` and ``call`` are what the telephony screen pop sends."""
    query = (q if q is not None else phone or "").strip()
    context = await _hotline_context(viewer, query, customer or "", call_id(call))
    return render(request, "hotline/page.html", context)


@router.get("/hotline/duplicates", response_class=HTMLResponse)
async def duplicates(
    request: Request,
    viewer: CurrentViewer,
    q: Annotated[str, Query(max_length=254)] = "",
    customer_id: Annotated[str, Query(max_length=64)] = "",
    product: Annotated[str, Query(max_length=400)] = "",
    serial_number: Annotated[str, Query(max_length=100)] = "",
) -> HTMLResponse:
    """The duplicate hint again, for the product the agent has just chosen or typed
    (the form's select and serial field ask for it when they change)."""
    query = q.strip()
    values = {"product": product, "serial_number": serial_number}
    context = await _hotline_context(viewer, query, customer_id, "", values)
    return render(request, "hotline/_duplicates.html", context)


def _command(values: dict[str, str]) -> dict[str, Any]:
    """The form as intake's ``ReceiveComplaint``: optional fields left out when empty;
    required ones sent as typed, so intake names what is missing."""
    body: dict[str, Any] = {
        "title": values.get("title", ""),
        "description": values.get("description", ""),
        "customer_name": values.get("customer_name", ""),
    }
    model, serial = values.get("product_model", ""), values.get("serial_number", "")
    if values.get("product"):
        try:
            chosen = json.loads(values["product"])
            model, serial = str(chosen.get("model") or ""), str(chosen.get("serial") or "")
        except (ValueError, AttributeError):
            pass  # a forged value: the typed fields stand
    for name, value in (
        ("customer_phone", values.get("customer_phone")),
        ("customer_email", values.get("customer_email")),
        ("customer_id", values.get("customer_id")),
        ("product_model", model),
        ("serial_number", serial),
    ):
        if value:
            body[name] = value
    if values.get("language") in ("zh", "en"):
        body["language"] = values["language"]
    if values.get("feedback_requested"):
        body["feedback_requested"] = True
    return body


@router.post("/hotline/complaints", response_model=None)
async def save_complaint(request: Request, viewer: CurrentViewer) -> Response:
    """Record the complaint; a field error shows the form again as it was typed."""
    values = await _form(request)
    call = call_id(values.get("call"))
    key = values.get("idempotency_key", "")[:200]
    try:
        response = await viewer.api.request(
            viewer.token,
            "POST",
            "intake",
            "/v1/complaints",
            json=_command(values),
            headers={"Idempotency-Key": key} if key else None,
        )
    except ApiError as error:
        context = await _hotline_context(
            viewer, values.get("q", ""), values.get("customer_id", ""), call, values
        )
        reused = any(f.get("field") == "Idempotency-Key" for f in error.fields)
        context.update(error=error, errors=field_errors(error), reused_key=reused)
        if not reused:
            # the same key again: nothing was recorded, and a retry must not record twice
            context["idempotency_key"] = key or context["idempotency_key"]
        return render(request, "hotline/page.html", context, status_code=error.status)
    created = response.json()
    replayed = response.headers.get("Idempotent-Replayed") == "true"
    complaint_id = created["id"]
    if call and not replayed:
        number = values.get("customer_phone") or values.get("q") or "—"
        try:
            await viewer.post(
                "intake",
                f"/v1/complaints/{complaint_id}/amendments",
                data={"text": f"来电 {call}，{number}", "kind": "note"},
            )
        except ApiError as error:  # the complaint stands; the screen says the log failed
            log.warning("call %s not logged on complaint %s: %s", call, complaint_id, error)
    target = f"/hotline/received/{complaint_id}"
    if call:
        target += "?" + urlencode({"call": call})
    return RedirectResponse(target, status_code=303)


@router.get("/hotline/received/{complaint_id}", response_class=HTMLResponse)
async def received(
    request: Request,
    complaint_id: UUID,
    viewer: CurrentViewer,
    call: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    """The reference, big enough to read out to the caller, and the next call."""
    complaint = await viewer.get("intake", f"/v1/complaints/{complaint_id}")
    call = call_id(call)
    logged = any(
        a["text"].startswith(f"来电 {call}") for a in complaint.get("amendments", []) if call
    )
    return render(
        request,
        "hotline/received.html",
        {"complaint": complaint, "call": call, "call_logged": logged},
    )


# -- the complaint page's panel: amend or withdraw ----------------------------------


async def _panel(
    request: Request,
    viewer: Viewer,
    complaint_id: UUID,
    *,
    error: ApiError | None = None,
    done: str = "",
    typed: dict[str, str] | None = None,
    failed: str = "",
) -> HTMLResponse:
    complaint = await viewer.get("intake", f"/v1/complaints/{complaint_id}")
    return render(
        request,
        "hotline/intake_actions.html",
        {
            "complaint": complaint,
            "complaint_id": str(complaint_id),
            "finished": complaint["status"] in FINISHED,
            "error": error,
            "errors": field_errors(error),
            "failed": failed,
            "done": done,
            "typed": typed or {},
        },
    )


@router.get("/complaints/{complaint_id}/panels/intake-actions", response_class=HTMLResponse)
async def intake_actions(
    request: Request, complaint_id: UUID, viewer: CurrentViewer
) -> HTMLResponse:
    try:
        return await _panel(request, viewer, complaint_id)
    except ApiError as error:
        return api_error_response(request, error)


async def _panel_action(
    request: Request,
    viewer: Viewer,
    complaint_id: UUID,
    action: str,
    call: Any,
) -> Response:
    values = await _form(request)

    async def panel(error: ApiError | None) -> Response:
        if error is None:
            return await _panel(request, viewer, complaint_id, done=action)
        return await _panel(request, viewer, complaint_id, error=error, typed=values, failed=action)

    return await act_in_panel(request, complaint_id, lambda: call(values), panel)


@router.post("/complaints/{complaint_id}/panels/intake-actions/amend", response_model=None)
async def amend(request: Request, complaint_id: UUID, viewer: CurrentViewer) -> Response:
    """A follow-up note (or a second call from the customer)."""

    async def post(values: dict[str, str]) -> None:
        kind = values.get("kind") if values.get("kind") in ("note", "call") else "note"
        await viewer.post(
            "intake",
            f"/v1/complaints/{complaint_id}/amendments",
            data={"text": values.get("text", ""), "kind": kind},
        )

    return await _panel_action(request, viewer, complaint_id, "amend", post)


@router.post("/complaints/{complaint_id}/panels/intake-actions/withdraw", response_model=None)
async def withdraw(request: Request, complaint_id: UUID, viewer: CurrentViewer) -> Response:
    """The customer no longer wants the complaint handled."""

    async def post(values: dict[str, str]) -> None:
        await viewer.post(
            "intake",
            f"/v1/complaints/{complaint_id}/withdraw",
            {"reason": values.get("reason", "")},
        )

    return await _panel_action(request, viewer, complaint_id, "withdraw", post)


# -- "My work": my recent complaints ------------------------------------------------


@router.get("/worklist/agent", response_class=HTMLResponse)
async def my_recent_complaints(
    request: Request,
    viewer: CurrentViewer,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
    agent_offset: Annotated[int | None, Query(ge=0, le=100_000)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = PAGE_SIZE,
) -> HTMLResponse:
    """Intake's ``mine=true`` list, newest first, a page at a time. On "My work" the
    page forwards its query to every section, so this section's position is
    ``agent_offset`` there (``offset`` when the fragment is asked for alone)."""
    start = agent_offset if agent_offset is not None else offset
    try:
        page = await viewer.get("intake", "/v1/complaints", mine="true", limit=limit, offset=start)
    except ApiError as error:
        return api_error_response(request, error)
    previous = max(start - limit, 0) if start > 0 else None
    following = start + limit if start + limit < page["total"] else None
    return render(
        request,
        "hotline/worklist_agent.html",
        {"page": page, "start": start, "previous": previous, "following": following},
    )
