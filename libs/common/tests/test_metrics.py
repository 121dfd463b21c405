"""/metrics and the HTTP telemetry of every service app, called in process
(the app factory every service uses, a tiny router, a real SQLite database)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter
from prometheus_client.parser import text_string_to_metric_families

from tousu_common.db import Database
from tousu_common.errors import NotFound
from tousu_common.events import Channel, ComplaintReceived, new_event
from tousu_common.logs import _ContextFilter
from tousu_common.messaging.outbox import add_event
from tousu_common.messaging.tables import messaging_metadata
from tousu_common.settings import ServiceSettings
from tousu_common.web import create_service_app

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def things_router() -> APIRouter:
    router = APIRouter()

    @router.get("/v1/things/{thing_id}")
    async def get_thing(thing_id: str) -> dict[str, str]:
        if thing_id == "missing":
            raise NotFound("no such thing")
        if thing_id == "boom":
            raise RuntimeError("a bug")
        logging.getLogger("things").info("thing read")
        return {"id": thing_id}

    return router


async def _app_client(
    tmp_path: Path, service: str, **settings: Any
) -> tuple[httpx.AsyncClient, Database]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'metrics.db'}")
    async with db.engine.begin() as connection:
        await connection.run_sync(messaging_metadata.create_all)
    app = create_service_app(
        ServiceSettings(service_name=service, environment="test", jwt_secret="s" * 40, **settings),
        title="things",
        description="a service for the test",
        routers=[things_router()],
    )
    app.state.db = db
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://service"), db


@pytest.fixture
def service() -> str:
    """A service label no other test uses (the metrics registry is process-wide)."""
    return f"things{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def app_client(tmp_path: Path, service: str) -> AsyncIterator[httpx.AsyncClient]:
    client, db = await _app_client(tmp_path, service)
    async with client:
        client.db = db  # type: ignore[attr-defined]
        yield client
    await db.dispose()


def samples(text: str, name: str, **labels: str) -> list[tuple[dict[str, str], float]]:
    """Every sample called ``name`` whose labels include ``labels``."""
    found = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                found.append((sample.labels, sample.value))
    return found


def value(text: str, name: str, **labels: str) -> float:
    return sum(v for _, v in samples(text, name, **labels))


async def test_requests_are_counted_by_route_template_method_and_status(
    app_client: httpx.AsyncClient, service: str
) -> None:
    for thing in ("a-1", "b-2", "c-3"):
        assert (await app_client.get(f"/v1/things/{thing}")).status_code == 200
    assert (await app_client.get("/v1/things/missing")).status_code == 404
    response = await app_client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    route = "/v1/things/{thing_id}"
    assert value(text, "tousu_http_requests_total", service=service, route=route, status="200") == 3
    assert value(text, "tousu_http_requests_total", service=service, route=route, status="404") == 1
    assert (
        value(text, "tousu_http_request_duration_seconds_count", service=service, route=route) == 4
    )
    routes = {labels["route"] for labels, _ in samples(text, "tousu_http_requests_total")}
    assert not any("a-1" in r or "missing" in r for r in routes), routes
    # /metrics itself is not counted
    assert not samples(text, "tousu_http_requests_total", service=service, route="/metrics")


async def test_unmatched_paths_share_one_label_whatever_the_path(
    app_client: httpx.AsyncClient, service: str
) -> None:
    for n in range(5):
        assert (await app_client.get(f"/nowhere/{n}/{uuid.uuid4()}")).status_code == 404
    assert (await app_client.request("BREW", "/v1/things/x")).status_code == 405
    text = (await app_client.get("/metrics")).text
    mine = samples(text, "tousu_http_requests_total", service=service)
    assert {labels["route"] for labels, _ in mine} == {"unmatched", "/v1/things/{thing_id}"}
    assert value(text, "tousu_http_requests_total", service=service, route="unmatched") == 5
    assert {labels["method"] for labels, _ in mine} == {"GET", "OTHER"}


async def test_outbox_backlog_is_read_from_the_database_at_scrape_time(
    app_client: httpx.AsyncClient, service: str
) -> None:
    text = (await app_client.get("/metrics")).text
    assert value(text, "tousu_outbox_pending", service=service) == 0
    db: Database = app_client.db  # type: ignore[attr-defined]
    payload = ComplaintReceived(
        complaint_id=uuid.uuid4(),
        reference="TS-2026-000001",
        channel=Channel.hotline,
        received_at=datetime.now(UTC),
        title="漏油",
        description="发动机漏油",
    )
    async with db.transaction() as session:
        for _ in range(2):
            await add_event(session, new_event(payload, source="tousu/test"))
    text = (await app_client.get("/metrics")).text
    assert value(text, "tousu_outbox_pending", service=service) == 2
    assert value(text, "tousu_outbox_oldest_pending_age_seconds", service=service) >= 0


async def test_metrics_with_a_token_set_refuse_callers_without_it(
    tmp_path: Path, service: str
) -> None:
    client, db = await _app_client(tmp_path, service, metrics_token="scrape-" + "k" * 30)
    async with client:
        refused = await client.get("/metrics")
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        allowed = await client.get(
            "/metrics", headers={"Authorization": "Bearer scrape-" + "k" * 30}
        )
    await db.dispose()
    assert refused.status_code == wrong.status_code == 401
    assert refused.json()["error"]["code"] == "not_authenticated"
    assert allowed.status_code == 200 and "tousu_http_requests_total" in allowed.text


async def test_incoming_traceparent_is_continued_and_returned_and_logged(
    app_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.handler.addFilter(_ContextFilter())
    with caplog.at_level(logging.INFO, logger="things"):
        response = await app_client.get("/v1/things/t-1", headers={"traceparent": TRACEPARENT})
    assert response.status_code == 200
    returned = response.headers["traceparent"].split("-")
    assert returned[1] == TRACE_ID and returned[2] != "00f067aa0ba902b7"
    line = next(r for r in caplog.records if r.getMessage() == "thing read")
    assert line.trace_id == TRACE_ID  # type: ignore[attr-defined]
    assert line.span_id == returned[2]  # type: ignore[attr-defined]


async def test_request_without_traceparent_starts_a_new_trace(
    app_client: httpx.AsyncClient,
) -> None:
    first = (await app_client.get("/v1/things/a")).headers["traceparent"].split("-")
    second = (await app_client.get("/v1/things/a")).headers["traceparent"].split("-")
    assert len(first[1]) == 32 and first[1] != "0" * 32
    assert first[1] != second[1]


def test_many_apps_in_one_process_share_the_metrics_registry() -> None:
    """Tests build many apps in one process: metrics are defined once, never per app
    (prometheus-client would raise "Duplicated timeseries")."""
    apps = [
        create_service_app(
            ServiceSettings(service_name=f"many{n}", environment="test", jwt_secret="s" * 40),
            title="t",
            description="d",
            routers=[things_router()],
        )
        for n in range(3)
    ]
    assert len({id(app) for app in apps}) == 3


async def test_malformed_traceparent_is_ignored_and_a_new_trace_started(
    app_client: httpx.AsyncClient,
) -> None:
    for bad in ("00-nothex-00f067aa0ba902b7-01", f"00-{'0' * 32}-00f067aa0ba902b7-01", "x" * 300):
        response = await app_client.get("/v1/things/a", headers={"traceparent": bad})
        assert response.status_code == 200
        trace_id = response.headers["traceparent"].split("-")[1]
        assert len(trace_id) == 32 and trace_id != "0" * 32 and trace_id not in bad


async def test_a_request_that_crashes_is_counted_as_a_500(
    app_client: httpx.AsyncClient, service: str
) -> None:
    assert (await app_client.get("/v1/things/boom")).status_code == 500
    text = (await app_client.get("/metrics")).text
    route = "/v1/things/{thing_id}"
    assert value(text, "tousu_http_requests_total", service=service, route=route, status="500") == 1
