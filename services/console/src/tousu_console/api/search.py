"""``/search``: find a complaint by reference, phone, customer name, serial number or
text, with filters and paging, through intake's ``GET /v1/complaints``.

A reference typed exactly goes straight to the complaint's page. A filter intake
does not offer (yet) is not sent and is named on the page, rather than silently
ignored by intake and answered with everything.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tousu_console.adapters.services import ApiError
from tousu_console.api.complaints import REFERENCE
from tousu_console.api.deps import CurrentViewer, render

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

PAGE_SIZES = (10, 20, 50)
DEFAULT_PAGE_SIZE = 20
STATUSES = ("received", "needs_transcription", "closed", "withdrawn")
CHANNELS = ("hotline", "web", "email", "fax", "letter", "visit", "key_account")

#: Form field → intake's query parameter, for the free-text fields and filters.
FIELDS = {
    "reference": "reference",
    "phone": "phone",
    "customer_name": "customer_name",
    "serial": "serial",
    "q": "q",
    "status": "status",
    "channel": "channel",
    "received_from": "received_from",
    "received_to": "received_to",
}


def _whole(value: str | None, default: int, low: int, high: int) -> int:
    try:
        number = int(value or default)
    except ValueError:
        return default
    return min(max(number, low), high)


@router.get("/search", response_class=HTMLResponse)
async def search(request: Request, viewer: CurrentViewer) -> Response:
    asked = request.query_params
    form = {name: (asked.get(name) or "").strip() for name in FIELDS}
    open_only = asked.get("open") in ("1", "true", "on")
    size = _whole(asked.get("size"), DEFAULT_PAGE_SIZE, 1, 100)
    if size not in PAGE_SIZES:
        size = DEFAULT_PAGE_SIZE
    page = _whole(asked.get("page"), 1, 1, 5000)
    context: dict[str, Any] = {
        "form": form,
        "open_only": open_only,
        "size": size,
        "page": page,
        "sizes": PAGE_SIZES,
        "statuses": STATUSES,
        "channels": CHANNELS,
        "asked": any(form.values()) or open_only,
        "result": None,
        "error": None,
    }
    if not context["asked"]:
        return render(request, "search/page.html", context)

    reference = form["reference"] or (form["q"] if REFERENCE.match(form["q"]) else "")
    if reference and REFERENCE.match(reference):
        try:
            found = await viewer.get(
                "intake", "/v1/complaints", reference=reference.upper(), limit=1
            )
        except ApiError as error:
            return render(request, "search/page.html", {**context, "error": error})
        items = found.get("items") or []
        if items:
            return RedirectResponse(f"/complaints/{items[0]['id']}", status_code=303)

    params: dict[str, Any] = {param: form[name] for name, param in FIELDS.items() if form[name]}
    if open_only:
        params["open"] = "true"
    try:
        result = await viewer.get(
            "intake", "/v1/complaints", limit=size, offset=(page - 1) * size, **params
        )
    except ApiError as error:
        return render(request, "search/page.html", {**context, "error": error})
    total = result.get("total")
    items = result.get("items") or []
    pages = max(1, -(-int(total) // size)) if total is not None else None
    has_next = page < pages if pages is not None else len(items) == size
    context.update(result=result, items=items, total=total, pages=pages, has_next=has_next)
    context["link"] = _page_link(form, open_only, size)
    return render(request, "search/page.html", context)


def _page_link(form: dict[str, str], open_only: bool, size: int) -> str:
    """The address of this search, without the page number (the template adds it)."""
    query = {k: v for k, v in form.items() if v}
    if open_only:
        query["open"] = "1"
    query["size"] = str(size)
    return "/search?" + urlencode(query)
