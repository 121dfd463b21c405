"""``/v1/digests/{kind}/{period}`` — JSON, ``.csv``, ``.html``, ``.pdf``; regenerate."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel

from tousu_common.auth import Principal, require_roles
from tousu_common.errors import (
    ERROR_RESPONSES,
    NOT_FOUND_RESPONSE,
    Conflict,
    ErrorBody,
    NotFound,
)
from tousu_notify.adapters import digest_render as render
from tousu_notify.domain.digest_data import StoredDigest
from tousu_notify.domain.digest_periods import Period
from tousu_notify.handlers.digests import Digests

#: 404: a well-formed period of the other kind (month/2026-W47), a week 53 the
#: year does not have, or a period that has not started.
router = APIRouter(prefix="/v1/digests", tags=["digests"], responses=NOT_FOUND_RESPONSE)

# The report routes answer CSV, HTML or PDF, but their errors are the usual JSON
# body; said explicitly, or OpenAPI would file the errors under the report's type.
JSON_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {
        "description": spec["description"],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }
    for code, spec in {**ERROR_RESPONSES, **NOT_FOUND_RESPONSE}.items()
}

Reader = Annotated[Principal, require_roles("manager", "csc", "service")]
Manager = Annotated[Principal, require_roles("manager")]
Kind = Annotated[Literal["week", "month"], Path(description="week or month", examples=["week"])]
Label = Annotated[
    str,
    Path(
        description="ISO week (2026-W47) or month (2026-11), as the kind says; years 2000–2100",
        examples=["2026-W47"],
        pattern=r"^(20[0-9]{2}|2100)-(W(0[1-9]|[1-4][0-9]|5[0-3])|0[1-9]|1[0-2])$",
    ),
]


#: A period that is still running cannot be stored or published yet.
NOT_ENDED: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorBody, "description": "The period has not ended yet"}
}


class DigestView(BaseModel):
    kind: str
    period: str
    stored: bool
    partial: bool
    generated_at: datetime
    published_at: datetime | None
    revision: int
    numbers: dict[str, Any]


class RegeneratedView(DigestView):
    changed: bool


def _stored_fields(stored: StoredDigest) -> dict[str, Any]:
    """A stored digest as the fields of its view (read, and answered after regenerating)."""
    return {
        "kind": stored.kind,
        "period": stored.period,
        "stored": True,
        "partial": False,
        "generated_at": stored.generated_at,
        "published_at": stored.published_at,
        "revision": stored.revision,
        "numbers": stored.numbers,
    }


def _period(request: Request, kind: str, label: str, *, ended: bool = False) -> Period:
    period = Period.parse(kind, label, request.app.state.settings.timezone)
    now = datetime.now(UTC)
    if period.start_utc > now:
        # Well-formed, but no digest exists (or can) yet: nothing at this path.
        raise NotFound(f"no {period.kind} digest {period.label}: the period has not started")
    if ended and period.end_utc > now:
        # Depends on the clock, not the request: the period's state, as 409 is.
        raise Conflict(
            "period has not ended",
            fields=[{"field": "period", "problem": "has not ended yet; GET shows it so far"}],
        )
    return period


async def _digest(request: Request, kind: str, label: str) -> DigestView:
    period = _period(request, kind, label)
    digests = Digests(request.app.state.db, request.app.state.settings)
    stored = await digests.stored(period)
    now = datetime.now(UTC)
    if stored is not None:
        return DigestView(**_stored_fields(stored))
    return DigestView(
        kind=period.kind,
        period=period.label,
        stored=False,
        partial=period.end_utc > now,
        generated_at=now,
        published_at=None,
        revision=0,
        # While the period runs: as of now (clocks not yet due are pending, ages to now).
        numbers=await digests.compute(period, now=now),
    )


def _html(view: DigestView) -> str:
    return render.to_html(
        view.numbers, generated_at=view.generated_at.isoformat(), revision=view.revision
    )


def _filename(view: DigestView, suffix: str) -> str:
    return f"tousu-digest-{view.kind}-{view.period}.{suffix}"


@router.get(
    "/{kind}/{period}.csv",
    summary="A digest as CSV (kpi, dimension, value; UTF-8 with BOM for Excel)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}, **JSON_ERRORS},
)
async def digest_csv(request: Request, principal: Reader, kind: Kind, period: Label) -> Response:
    view = await _digest(request, kind, period)
    return Response(
        render.to_csv(view.numbers),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{_filename(view, "csv")}"'},
    )


@router.get(
    "/{kind}/{period}.html",
    summary="A digest as an HTML report with charts",
    response_class=HTMLResponse,
    responses=JSON_ERRORS,
)
async def digest_html(
    request: Request, principal: Reader, kind: Kind, period: Label
) -> HTMLResponse:
    return HTMLResponse(_html(await _digest(request, kind, period)))


@router.get(
    "/{kind}/{period}.pdf",
    summary="A digest as PDF (the HTML report printed by headless Chromium)",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}, **JSON_ERRORS},
)
async def digest_pdf(request: Request, principal: Reader, kind: Kind, period: Label) -> Response:
    from tousu_common.browser import html_to_pdf

    view = await _digest(request, kind, period)
    return Response(
        await html_to_pdf(_html(view)),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{_filename(view, "pdf")}"'},
    )


@router.get(
    "/{kind}/{period}",
    response_model=DigestView,
    summary="A digest's KPIs (stored if generated, else computed now)",
)
async def digest_json(request: Request, principal: Reader, kind: Kind, period: Label) -> DigestView:
    return await _digest(request, kind, period)


@router.post(
    "/{kind}/{period}/regenerate",
    response_model=RegeneratedView,
    summary="Compute a past period's digest again and store it (same events → same numbers)",
    responses=NOT_ENDED,
)
async def regenerate(
    request: Request, principal: Manager, kind: Kind, period: Label
) -> RegeneratedView:
    target = _period(request, kind, period, ended=True)
    digests = Digests(request.app.state.db, request.app.state.settings)
    stored, changed = await digests.regenerate(target, now=datetime.now(UTC))
    return RegeneratedView(**_stored_fields(stored), changed=changed)


class PublishedView(BaseModel):
    kind: str
    period: str
    published: bool
    published_at: datetime | None


@router.post(
    "/{kind}/{period}/publish",
    response_model=PublishedView,
    summary="Publish an ended period's digest now (digest.published, once per period)",
    responses=NOT_ENDED,
)
async def publish(request: Request, principal: Manager, kind: Kind, period: Label) -> PublishedView:
    """What the scheduler does on Monday / the 1st, on demand — e.g. for a period
    the scheduler never reached. ``published`` is false if it went out before."""
    target = _period(request, kind, period, ended=True)
    digests = Digests(request.app.state.db, request.app.state.settings)
    published = await digests.publish(target, now=datetime.now(UTC))
    stored = await digests.stored(target)
    return PublishedView(
        kind=target.kind,
        period=target.label,
        published=published,
        published_at=stored.published_at if stored else None,
    )
