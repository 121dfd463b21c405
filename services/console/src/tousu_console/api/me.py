"""``/me``: a person's own settings: language and telephone extension.

The extension is how an incoming call finds its agent: the phone system posts
the call to ``/v1/cti/calls`` with the extension that rings, and the pages of
the person who set that extension here show the caller (see ``api/cti.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tousu_console.api.deps import CurrentViewer, render
from tousu_console.domain.i18n import parse_language
from tousu_console.domain.telephony import parse_extension

router = APIRouter(include_in_schema=False)


@router.get("/me", response_class=HTMLResponse)
async def me(request: Request, viewer: CurrentViewer) -> HTMLResponse:
    extension = await request.app.state.console.sessions.extension_of(viewer.session.subject)
    return render(request, "me/page.html", {"extension": extension or "", "saved": False})


@router.post("/me")
async def save_me(
    request: Request,
    viewer: CurrentViewer,
    language: Annotated[str, Form(max_length=5)] = "",
    extension: Annotated[str, Form(max_length=50)] = "",
) -> Response:
    console = request.app.state.console
    chosen = parse_language(language, viewer.session.language)  # type: ignore[arg-type]
    try:
        parsed = parse_extension(extension)
    except ValueError:
        return render(
            request,
            "me/page.html",
            {"extension": extension, "saved": False, "extension_error": True},
            status_code=422,
        )
    await console.sessions.set_profile(viewer.session, chosen, parsed, datetime.now(UTC))
    return RedirectResponse("/me?saved=1", status_code=303)
