"""The console app: routers, static files, the live feed and lifespan come together
here, no logic."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from tousu_common.lifecycle import guard_of, step_budget, stop_tasks, watch
from tousu_common.web import create_service_app
from tousu_console.adapters.live_hub import LiveHub
from tousu_console.adapters.services import ApiError
from tousu_console.api import ROUTERS
from tousu_console.api.deps import (
    CsrfRejected,
    SignInNeeded,
    api_error_response,
    sign_in_redirect,
)
from tousu_console.bootstrap import Console, build_console
from tousu_console.config import Settings
from tousu_console.entrypoints.live_feed import build_consumers

STATIC = Path(__file__).resolve().parent / "static"
log = logging.getLogger(__name__)
#: How often ended sessions are removed from the database.
SWEEP_INTERVAL_S = 600.0


async def sweep_sessions(console: Console) -> None:
    """Remove ended sessions now and then (a request finds an ended one anyway)."""
    settings = console.settings
    while True:
        now = datetime.now(UTC)
        try:
            removed = await console.sessions.remove_ended(
                now - timedelta(minutes=settings.session_idle_minutes),
                now - timedelta(hours=settings.session_max_hours),
            )
            if removed:
                log.info("ended sessions removed", extra={"sessions": removed})
        except Exception as exc:  # the database is away: next time
            log.warning("session sweep failed", extra={"error": repr(exc)})
        await asyncio.sleep(SWEEP_INTERVAL_S)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    hub = LiveHub(settings.live_replay_events, settings.live_max_streams)
    app = create_service_app(
        settings,
        title="Tousu console",
        description=(
            "The staff's web workbench: server-rendered pages over the four services' "
            "public APIs, signed in through the company's OpenID provider, live over "
            "Server-Sent Events. Its only state is sessions."
        ),
        routers=ROUTERS,
        consumers=lambda db, service_settings: build_consumers(service_settings, hub),
    )
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.state.hub = hub

    @app.exception_handler(SignInNeeded)
    async def _sign_in(request: Request, exc: SignInNeeded) -> Response:
        return sign_in_redirect(request, exc.next_path)

    @app.exception_handler(CsrfRejected)
    async def _csrf(request: Request, exc: CsrfRejected) -> Response:
        error = ApiError(403, "csrf", "The form has expired or did not come from this console.")
        return api_error_response(request, error)

    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> Response:
        return api_error_response(request, exc)

    service_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service_lifespan(app):
            console = build_console(settings, app.state.db, hub)
            app.state.console = console
            sweeper = watch(asyncio.create_task(sweep_sessions(console), name="session-sweeper"))
            try:
                yield
            finally:
                hub.stopping = True  # open live streams end now, not at uvicorn's timeout
                await stop_tasks([sweeper], step_budget(guard_of(app), 2.0))
                await console.api.close()

    app.router.lifespan_context = lifespan
    return app
