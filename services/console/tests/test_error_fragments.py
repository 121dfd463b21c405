"""A refusal or an unreachable service, as a page and as an htmx fragment."""

from __future__ import annotations

from types import SimpleNamespace

import httpx
import pytest
from fastapi import FastAPI, Request

from tousu_console.adapters.services import ApiError
from tousu_console.api.deps import api_error_response


async def get(error: ApiError, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    transport = httpx.ASGITransport(app=app_failing_with(error))
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as client:
        return await client.get(path, headers=headers or {})


def app_failing_with(error: ApiError) -> FastAPI:
    app = FastAPI()
    app.state.console = SimpleNamespace(default_language="en")

    @app.get("/complaints/x/panels/summary")
    async def panel(request: Request):  # type: ignore[no-untyped-def]
        return api_error_response(request, error)

    return app


UNREACHABLE = ApiError(503, "unavailable", "intake is not reachable (ReadTimeout)")
FORBIDDEN = ApiError(403, "forbidden", "only csc may close")


@pytest.mark.parametrize("error", [UNREACHABLE, FORBIDDEN])
async def test_a_page_gets_the_services_status_and_the_message(error: ApiError) -> None:
    answer = await get(error, "/complaints/x/panels/summary")
    assert answer.status_code == error.status
    assert error.message in answer.text and 'class="alert error"' in answer.text
    assert "load delay:3s" not in answer.text


async def test_an_htmx_fragment_whose_service_is_away_shows_why_and_tries_again() -> None:
    answer = await get(UNREACHABLE, "/complaints/x/panels/summary?tab=1", {"HX-Request": "true"})
    # htmx swaps 2xx answers only: a 503 would leave the panel saying "loading"
    assert answer.status_code == 200
    assert UNREACHABLE.message in answer.text
    assert 'hx-get="/complaints/x/panels/summary?tab=1"' in answer.text
    assert 'hx-trigger="load delay:3s"' in answer.text and "Trying again" in answer.text


async def test_an_htmx_fragment_refused_by_the_service_says_so_and_does_not_retry() -> None:
    answer = await get(FORBIDDEN, "/complaints/x/panels/summary", {"HX-Request": "true"})
    assert answer.status_code == 200
    assert FORBIDDEN.message in answer.text and "Not allowed" in answer.text
    assert "load delay:3s" not in answer.text
