"""The tracking page's own rate limit (token guessing): GETs past the burst get
429 with Retry-After, per client address; the web form's POST limit is tested in
test_web_pages.py."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tousu_common.db import Database
from tousu_intake.config import Settings
from tousu_intake.main import create_app

pytestmark = pytest.mark.integration


def _client(app: object, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 50000))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://service")


async def test_tracking_page_guesses_past_the_burst_get_429_with_retry_after_per_client(
    db: Database, jwt_secret: str, tmp_path: Path
) -> None:
    settings = Settings(
        jwt_secret=jwt_secret,
        database_url=db.url,
        environment="test",
        data_dir=tmp_path,
        web_track_rate_per_minute=6,
        web_track_rate_burst=3,
    )
    app = create_app(settings)
    app.state.db = db
    async with _client(app, "203.0.113.7") as guesser, _client(app, "203.0.113.8") as other:
        statuses = []
        for attempt in range(5):
            response = await guesser.get(f"/track/TS-2026-00000{attempt}", params={"token": "x"})
            statuses.append(response.status_code)
        assert statuses[:3] == [404] * 3 and statuses[3:] == [429, 429], statuses
        assert int(response.headers["Retry-After"]) >= 1
        assert "<html" in response.text
        elsewhere = await other.get("/track/TS-2026-000001", params={"token": "x"})
        assert elsewhere.status_code == 404
