"""What every page needs: the person's session, their token, CSRF, the templates.

``Viewer`` is the signed-in person as a route parameter: a page without a
valid session redirects to sign-in (``SignInNeeded``); a form post also needs
the session's CSRF token (form field ``csrf`` or header ``X-CSRF-Token``, which
htmx sends for every request from ``<body hx-headers>``).
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from tousu_common.signin import SignInError
from tousu_console.adapters.services import ApiError, ServiceApi
from tousu_console.domain import roles as role_table
from tousu_console.domain.i18n import Translator
from tousu_console.domain.sessions import Session, session_key

log = logging.getLogger(__name__)

COOKIE = "tousu_console"
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).resolve().parent.parent / "templates"))


class SignInNeeded(Exception):
    """No (valid) session: go through the provider, then come back to ``next_path``."""

    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


class CsrfRejected(Exception):
    pass


@dataclass
class Viewer:
    """The person behind this request, and what they need to call the services."""

    session: Session
    api: ServiceApi
    t: Translator

    @property
    def token(self) -> str:
        return self.session.access_token

    @property
    def roles(self) -> tuple[str, ...]:
        return self.session.roles

    @property
    def department(self) -> str | None:
        return self.session.department

    def may(self, action: str) -> bool:
        return role_table.may(self.session.roles, action)

    async def get(self, service: str, path: str, **params: Any) -> Any:
        return await self.api.get(self.token, service, path, **params)

    async def post(self, service: str, path: str, body: Any = None, **kw: Any) -> Any:
        return await self.api.post(self.token, service, path, body, **kw)

    async def put(self, service: str, path: str, body: Any = None) -> Any:
        return await self.api.put(self.token, service, path, body)

    async def delete(self, service: str, path: str, body: Any = None) -> Any:
        return await self.api.delete(self.token, service, path, body)


def _safe_next(request: Request) -> str:
    """Where to come back to after signing in: this page, or the page an htmx call
    or a form post came from."""
    if request.method == "GET" and not request.headers.get("HX-Request"):
        return request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return urlsplit(request.headers.get("HX-Current-URL", "/")).path or "/"


async def current_viewer(request: Request) -> Viewer:
    console = request.app.state.console
    cookie = request.cookies.get(COOKIE)
    session = await console.sessions.get(session_key(cookie)) if cookie else None
    now = datetime.now(UTC)
    settings = console.settings
    if session is None or session.expired(
        now,
        timedelta(hours=settings.session_max_hours),
        timedelta(minutes=settings.session_idle_minutes),
    ):
        if session is not None:
            await console.sessions.remove(session.key)
        raise SignInNeeded(_safe_next(request))
    if session.needs_renewal(now):
        session = await _renew(console, session)
    await console.sessions.touch(session, now)
    if request.method not in ("GET", "HEAD"):
        await _check_csrf(request, session)
    viewer = Viewer(session, console.api, Translator(session.language, settings.timezone))
    request.state.viewer = viewer
    return viewer


async def _renew(console: Any, session: Session) -> Session:
    if not session.refresh_token:
        await console.sessions.remove(session.key)
        raise SignInNeeded("/")
    try:
        renewed = await console.identity.renew(session.refresh_token)
    except SignInError as exc:
        log.info("access token renewal refused; signing the person in again: %s", exc)
        await console.sessions.remove(session.key)
        raise SignInNeeded("/") from exc
    session = session.with_tokens(renewed.access_token, renewed.expires_at, renewed.refresh_token)
    await console.sessions.save_tokens(session)
    return session


async def _check_csrf(request: Request, session: Session) -> None:
    sent = request.headers.get("X-CSRF-Token")
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get("csrf")
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent, session.csrf_token):
        raise CsrfRejected()


CurrentViewer = Annotated[Viewer, Depends(current_viewer)]


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """A page (or, for htmx, a fragment) with what every template needs."""
    viewer: Viewer | None = getattr(request.state, "viewer", None)
    language = viewer.session.language if viewer else request.app.state.console.default_language
    t = viewer.t if viewer else Translator(language)  # type: ignore[arg-type]
    base = {
        "request": request,
        "viewer": viewer,
        "t": t,
        "lang": language,
        "menu": role_table.menu_for(viewer.roles) if viewer else [],
        "csrf": viewer.session.csrf_token if viewer else "",
        "htmx": bool(request.headers.get("HX-Request")),
    }
    context = {**base, **(context or {})}
    error = context.get("error")
    if (
        template in ("_alert.html", "_error.html")
        and base["htmx"]
        and request.method == "GET"
        and isinstance(error, ApiError)
        and error.status >= 500
    ):
        template = "_retry.html"  # a service away or slow: the fragment tries again
    return TEMPLATES.TemplateResponse(
        request, template, context, status_code=status_code, headers=headers
    )


def api_error_response(request: Request, error: ApiError) -> HTMLResponse:
    """A service's refusal as a message the person can act on. A page gets the
    service's status; an htmx fragment gets 200, since htmx swaps only 2xx answers
    (the message would otherwise never show, and the panel would say "loading")."""
    status = 200 if request.headers.get("HX-Request") else error.status
    return render(request, "_error.html", {"error": error}, status_code=status)


def sign_in_redirect(request: Request, next_path: str) -> Response:
    target = f"/auth/login?next={quote(next_path, safe='/')}"
    if request.headers.get("HX-Request"):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)
