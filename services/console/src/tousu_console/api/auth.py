"""Sign-in through the company's OpenID provider, sign-out, and the language switch."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tousu_common.signin import SignInError
from tousu_console.api.deps import COOKIE, CurrentViewer, render
from tousu_console.domain.i18n import parse_language
from tousu_console.domain.sessions import local_path
from tousu_console.handlers import sign_in

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)


@router.get("/auth/login")
async def login(
    request: Request, next_path: Annotated[str | None, Query(alias="next", max_length=500)] = None
) -> Response:
    console = request.app.state.console
    if not console.identity.configured:
        return render(request, "signed_out.html", {"no_provider": True}, status_code=503)
    try:
        url = await sign_in.begin(console, next_path, datetime.now(UTC))
    except (SignInError, OSError) as exc:
        log.warning("the OpenID provider cannot be reached: %s", exc)
        return render(request, "signed_out.html", {"provider_down": True}, status_code=503)
    return RedirectResponse(url, status_code=303)


@router.get("/auth/callback")
async def callback(
    request: Request, state: Annotated[str, Query(min_length=1, max_length=128)]
) -> Response:
    console = request.app.state.console
    verifier = request.app.state.token_verifier
    try:
        signed_in = await sign_in.finish(
            console, verifier, state, str(request.url), datetime.now(UTC)
        )
    except sign_in.StaleSignIn:
        return render(request, "signed_out.html", {"stale": True}, status_code=400)
    except sign_in.SignInRefused:
        return render(request, "signed_out.html", {"refused": True}, status_code=400)
    response = RedirectResponse(signed_in.next_path, status_code=303)
    response.set_cookie(
        COOKIE,
        signed_in.cookie,
        httponly=True,
        samesite="lax",
        secure=console.settings.secure_cookies,
        max_age=int(console.settings.session_max_hours * 3600),
        path="/",
    )
    return response


@router.post("/auth/logout")
async def logout(request: Request, viewer: CurrentViewer) -> Response:
    """Sign out here and at the provider (RP-initiated logout)."""
    target = await sign_in.sign_out(request.app.state.console, viewer.session)
    response = RedirectResponse(target, status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/auth/signed-out", response_class=HTMLResponse)
async def signed_out(request: Request) -> Response:
    return render(request, "signed_out.html", {})


@router.post("/language")
async def switch_language(
    request: Request,
    viewer: CurrentViewer,
    language: Annotated[str, Form(max_length=5)],
    back: Annotated[str | None, Form(max_length=500)] = None,
) -> Response:
    """Switch zh ⇄ en, remembered for this person across sessions."""
    await sign_in.switch_language(
        request.app.state.console, viewer.session, parse_language(language), datetime.now(UTC)
    )
    return RedirectResponse(local_path(back), status_code=303)
