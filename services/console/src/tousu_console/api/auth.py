"""Sign-in through the company's OpenID provider, sign-out, and the language switch."""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tousu_common.errors import Unauthenticated
from tousu_common.signin import AuthorizationRequest, SignInError
from tousu_console.adapters.identity import expires_at
from tousu_console.api.deps import COOKIE, CurrentViewer, render
from tousu_console.domain.i18n import parse_language
from tousu_console.domain.sessions import Session, new_session_id, session_key

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)


def local_path(value: str | None) -> str:
    """Only a path on this site (never ``//elsewhere`` or ``https://…``): no open redirect."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


@router.get("/auth/login")
async def login(
    request: Request, next_path: Annotated[str | None, Query(alias="next", max_length=500)] = None
) -> Response:
    console = request.app.state.console
    if not console.identity.configured:
        return render(request, "signed_out.html", {"no_provider": True}, status_code=503)
    redirect_uri = f"{console.settings.public_url}/auth/callback"
    try:
        flight = await console.identity.start(redirect_uri)
    except (SignInError, OSError) as exc:
        log.warning("the OpenID provider cannot be reached: %s", exc)
        return render(request, "signed_out.html", {"provider_down": True}, status_code=503)
    await console.sessions.begin_sign_in(
        flight.state,
        flight.nonce,
        flight.code_verifier,
        redirect_uri,
        local_path(next_path),
        datetime.now(UTC),
    )
    return RedirectResponse(flight.url, status_code=303)


@router.get("/auth/callback")
async def callback(
    request: Request, state: Annotated[str, Query(min_length=1, max_length=128)]
) -> Response:
    console = request.app.state.console
    now = datetime.now(UTC)
    flight = await console.sessions.take_sign_in(state, now)
    if flight is None:
        return render(request, "signed_out.html", {"stale": True}, status_code=400)
    try:
        tokens = await console.identity.finish(
            AuthorizationRequest(
                url="",
                state=flight.state,
                nonce=flight.nonce,
                code_verifier=flight.code_verifier,
                redirect_uri=flight.redirect_uri,
            ),
            str(request.url),
        )
        principal = await request.app.state.token_verifier.verify(tokens.access_token)
    except (SignInError, Unauthenticated) as exc:
        log.warning("sign-in refused: %s", exc)
        return render(request, "signed_out.html", {"refused": True}, status_code=400)
    cookie = new_session_id()
    language = await console.sessions.language_of(principal.subject) or console.default_language
    claims = tokens.id_claims
    await console.sessions.add(
        Session(
            key=session_key(cookie),
            subject=principal.subject,
            name=str(claims.get("name") or claims.get("preferred_username") or principal.subject),
            roles=tuple(sorted(principal.roles)),
            department=principal.department,
            access_token=tokens.access_token,
            access_expires_at=expires_at(tokens.expires_in, now),
            refresh_token=tokens.refresh_token,
            id_token=tokens.id_token,
            csrf_token=secrets.token_urlsafe(32),
            language=language,
            created_at=now,
            last_seen_at=now,
        )
    )
    response = RedirectResponse(flight.next_path, status_code=303)
    response.set_cookie(
        COOKIE,
        cookie,
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
    console = request.app.state.console
    await console.sessions.remove(viewer.session.key)
    target = "/auth/signed-out"
    try:
        at_provider = await console.identity.logout_url(
            viewer.session.id_token, f"{console.settings.public_url}/auth/signed-out"
        )
    except (SignInError, OSError):
        at_provider = None
    response = RedirectResponse(at_provider or target, status_code=303)
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
    console = request.app.state.console
    await console.sessions.set_language(viewer.session, parse_language(language), datetime.now(UTC))
    return RedirectResponse(local_path(back), status_code=303)
