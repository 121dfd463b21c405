"""The supplier register (配套厂名录), for Supply and Quality.

Reads and writes the rectification service's ``/v1/suppliers`` with the person's
token: list and search, add, edit (with the version read: a stale edit is the
service's 409), delete (the service deactivates a supplier notices refer to).
"""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tousu_console.adapters.services import ApiError
from tousu_console.api.deps import CurrentViewer, Viewer, render

router = APIRouter(include_in_schema=False)

CONTACT_ROWS = 3  # contact rows a form offers (the API takes up to 20)


def _text(form: Any, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def supplier_body(form: Any) -> dict[str, Any]:
    """The API's ``SupplierIn`` from the form; empty optional fields are left out so
    the service validates only what was typed."""
    contacts = []
    rows = _text(form, "contact_rows")
    for n in range(min(int(rows), 20) if rows.isdigit() else CONTACT_ROWS):
        contact = {
            key: _text(form, f"contact_{key}_{n}") for key in ("name", "email", "phone", "role")
        }
        if any(contact.values()):
            contacts.append({k: v for k, v in contact.items() if v or k == "name"})
    parts = [p.strip() for p in re.split(r"[,，;；\n]", _text(form, "parts_supplied")) if p.strip()]
    return {
        "code": _text(form, "code"),
        "name": _text(form, "name"),
        "language": _text(form, "language") or "zh",
        "contacts": contacts,
        "parts_supplied": parts,
    }


async def _list_page(
    request: Request,
    viewer: Viewer,
    *,
    q: str = "",
    include_inactive: bool = False,
    error: ApiError | None = None,
    form: dict[str, Any] | None = None,
) -> HTMLResponse:
    found = await viewer.get(
        "rectification",
        "/v1/suppliers",
        q=q or None,
        include_inactive="true" if include_inactive else None,
        limit=200,
    )
    return render(
        request,
        "rect/suppliers.html",
        {
            "suppliers": found["items"],
            "total": found["total"],
            "q": q,
            "include_inactive": include_inactive,
            "error": error,
            "form": form or {},
            "rows": range(CONTACT_ROWS),
        },
        status_code=error.status if error else 200,
    )


@router.get("/suppliers", response_class=HTMLResponse)
async def suppliers_page(
    request: Request, viewer: CurrentViewer, q: str = "", include_inactive: bool = False
) -> HTMLResponse:
    return await _list_page(request, viewer, q=q.strip(), include_inactive=include_inactive)


@router.post("/suppliers")
async def create_supplier(request: Request, viewer: CurrentViewer) -> Response:
    form = await request.form()
    body = supplier_body(form)
    try:
        created = await viewer.post("rectification", "/v1/suppliers", body)
    except ApiError as error:
        return await _list_page(request, viewer, error=error, form=_echo(body))
    return RedirectResponse(f"/suppliers/{created['supplier_id']}?saved=1", status_code=303)


def _echo(body: dict[str, Any]) -> dict[str, Any]:
    """What was typed, back into the form after a refusal."""
    echo = {k: v for k, v in body.items() if isinstance(v, str)}
    echo["parts_supplied"] = ", ".join(body.get("parts_supplied") or [])
    for n, contact in enumerate(body.get("contacts") or []):
        for key, value in contact.items():
            if value is not None:
                echo[f"contact_{key}_{n}"] = value
    return echo


def _as_form(supplier: dict[str, Any]) -> dict[str, Any]:
    return {**_echo(supplier), "version": supplier["version"], "active": supplier["active"]}


async def _edit_page(
    request: Request,
    viewer: Viewer,
    sid: UUID,
    *,
    error: ApiError | None = None,
    form: dict[str, Any] | None = None,
) -> HTMLResponse:
    supplier = await viewer.get("rectification", f"/v1/suppliers/{sid}")
    return render(
        request,
        "rect/supplier.html",
        {
            "supplier": supplier,
            "form": form or _as_form(supplier),
            "error": error,
            "rows": range(max(CONTACT_ROWS, len(supplier["contacts"]) + 1)),
        },
        status_code=error.status if error else 200,
    )


@router.get("/suppliers/{sid}", response_class=HTMLResponse)
async def supplier_page(request: Request, sid: UUID, viewer: CurrentViewer) -> HTMLResponse:
    return await _edit_page(request, viewer, sid)


@router.post("/suppliers/{sid}")
async def update_supplier(request: Request, sid: UUID, viewer: CurrentViewer) -> Response:
    form = await request.form()
    body: dict[str, Any] = supplier_body(form)
    version = _text(form, "version")
    body["version"] = int(version) if version.isdigit() else version
    body["active"] = _text(form, "active") != "false"
    try:
        await viewer.put("rectification", f"/v1/suppliers/{sid}", body)
    except ApiError as error:
        echo = {**_echo(body), "version": body["version"], "active": body["active"]}
        return await _edit_page(request, viewer, sid, error=error, form=echo)
    return RedirectResponse(f"/suppliers/{sid}?saved=1", status_code=303)


@router.post("/suppliers/{sid}/delete")
async def delete_supplier(request: Request, sid: UUID, viewer: CurrentViewer) -> Response:
    try:
        await viewer.delete("rectification", f"/v1/suppliers/{sid}")
    except ApiError as error:
        return await _edit_page(request, viewer, sid, error=error)
    return RedirectResponse("/suppliers?deleted=1", status_code=303)
