"""Acceptance: a known month of events goes through the real broker into
notify's digest consumer, and every KPI equals what a plain reference computes
from the raw events; the digest is served as JSON, CSV and HTML, the HTML
renders in headless Chromium, regenerating gives the same numbers and the
scheduler publishes each period once, also across a restart."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaProducer

from tousu_common.db import Database
from tousu_common.events import Event
from tousu_common.lifecycle import stop_tasks
from tousu_common.messaging.outbox import OutboxRelay
from tousu_common.messaging.tables import outbox
from tousu_common.testing.helpers import header, read_topic
from tousu_common.testing.wait import eventually_async
from tousu_notify.config import Settings
from tousu_notify.entrypoints.digest_consumer import build_digest_consumer
from tousu_notify.entrypoints.digest_scheduler import DigestScheduler

from . import reference
from .conftest import UNITS
from .generator import Generated

pytestmark = pytest.mark.integration

MONTH = "2026-10"
WEEK = "2026-W44"  # 26 Oct – 1 Nov: straddles the month boundary
# Topics produced in this order, so that case and routing events mostly reach
# notify before the complaint.received they belong to.
TOPIC_ORDER = ("tousu.cases", "tousu.routing", "tousu.complaints")


async def produce(bootstrap: str, events: list[Event]) -> int:
    """Send every event to its real topic (key = complaint id, CloudEvents headers);
    every 25th event is sent twice, as an at-least-once producer would."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    sent = 0
    try:
        for topic in TOPIC_ORDER:
            for index, event in enumerate(e for e in events if e.topic == topic):
                for _ in range(2 if index % 25 == 0 else 1):
                    await producer.send(
                        topic, event.value(), key=event.key, headers=event.headers()
                    )
                    sent += 1
        await producer.flush()
    finally:
        await producer.stop()
    return sent


async def replay(settings: Settings, db: Database, events: list[Event]) -> None:
    from tousu_common.messaging.kafka import ensure_topics

    await ensure_topics(settings, list(TOPIC_ORDER))
    sent = await produce(settings.kafka_bootstrap_servers, events)
    consumer = build_digest_consumer(db, settings)
    task = asyncio.create_task(consumer.run())
    stats = consumer.stats

    async def consumed() -> int:
        assert not task.done(), task
        return stats.processed + stats.duplicates + stats.skipped

    try:
        await eventually_async(
            consumed,
            until=lambda n: n >= sent,
            timeout=90,
            interval=0.1,
            what=lambda: f"consumed only {stats} of {sent}",
        )
    finally:
        assert await stop_tasks([task], 30, what="digest consumer") == []
    assert stats.dead_lettered == 0
    assert stats.processed == len([e for e in events if e.type != "resolution.implemented"])


def assert_same(got: dict[str, Any], expected: dict[str, Any]) -> None:
    """Section by section, so a failure names the KPI."""
    assert set(got) == set(expected)
    for section in expected:
        assert got[section] == expected[section], section


async def test_replayed_month_gives_every_kpi_of_the_reference(
    generated: Generated,
    notify_settings: Settings,
    notify_db: Database,
    notify_client: httpx.AsyncClient,
    headers_for: Callable[..., dict[str, str]],
    database_url: str,
) -> None:
    events = generated.only_events
    async with asyncio.timeout(120):
        await replay(notify_settings, notify_db, events)
    async with asyncio.timeout(120):
        await check_digest(
            events, notify_settings, notify_db, notify_client, headers_for, database_url
        )


async def check_digest(
    events: list[Event],
    notify_settings: Settings,
    notify_db: Database,
    notify_client: httpx.AsyncClient,
    headers_for: Callable[..., dict[str, str]],
    database_url: str,
) -> None:
    for kind, label in (("month", MONTH), ("week", WEEK)):
        response = await notify_client.get(
            f"/v1/digests/{kind}/{label}", headers=headers_for("manager")
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["stored"] is False and body["partial"] is False
        expected = reference.digest(events, kind, label, units=UNITS)
        assert_same(body["numbers"], expected)

    numbers = body["numbers"] if kind == "month" else None
    month = await notify_client.get(f"/v1/digests/month/{MONTH}", headers=headers_for("csc"))
    numbers = month.json()["numbers"]
    # The generated month really exercises what it claims to.
    assert set(numbers["by"]["category"]) >= {
        "product_quality",
        "service_quality",
        "delivery",
        "commercial",
        "other",
    }
    assert len(numbers["by"]["channel"]) == 7
    assert set(numbers["by"]["customer_tier"]) == {"strategic", "key", "general"}
    assert numbers["sla"]["breaches"]["first_response"] > 0
    assert numbers["reopen"]["reopened"] > 0 and numbers["volume"]["withdrawn"] > 0
    assert numbers["rectifications"]["failed_verification"] > 0
    assert numbers["rectifications"]["waived"] > 0
    assert numbers["rectifications"]["overdue_supplier_notices"]["count"] > 0
    assert all(numbers["satisfaction"]["distribution"][s] > 0 for s in "12345")
    assert numbers["overdue"]["count"] > 0 and numbers["volume"]["duplicates"] > 0

    # Regenerating is idempotent: stored, then the same numbers again.
    manager = headers_for("manager")
    first = await notify_client.post(f"/v1/digests/month/{MONTH}/regenerate", headers=manager)
    second = await notify_client.post(f"/v1/digests/month/{MONTH}/regenerate", headers=manager)
    assert first.status_code == second.status_code == 200
    assert first.json()["numbers"] == second.json()["numbers"] == numbers
    assert second.json()["changed"] is False and second.json()["revision"] == 2
    stored = await notify_client.get(f"/v1/digests/month/{MONTH}", headers=manager)
    assert stored.json()["stored"] is True and stored.json()["numbers"] == numbers

    # The scheduler publishes last week's and last month's digest once, also after a restart.
    monday_morning = datetime(2026, 11, 2, 1, 30, tzinfo=UTC)  # 09:30 in Shanghai
    scheduler = DigestScheduler(notify_db, notify_settings, clock=lambda: monday_morning)
    assert sorted(await scheduler.tick()) == ["month/2026-10", "week/2026-W44"]
    assert await scheduler.tick() == []
    restarted_db = Database(database_url)
    try:
        again = DigestScheduler(restarted_db, notify_settings, clock=lambda: monday_morning)
        later = DigestScheduler(
            restarted_db, notify_settings, clock=lambda: monday_morning.replace(hour=9)
        )
        assert await again.tick() == [] and await later.tick() == []
    finally:
        await restarted_db.dispose()
    async with notify_db.sessions() as session:
        staged = (
            await session.execute(
                sa.select(outbox.c.key, outbox.c.payload).where(
                    outbox.c.event_type == "digest.published"
                )
            )
        ).all()
    assert len(staged) == 2
    # ... and the relay puts exactly those on tousu.notifications.
    relay = OutboxRelay(notify_db, notify_settings)
    relay_task = asyncio.create_task(relay.run())
    try:
        records = await read_topic(
            notify_settings.kafka_bootstrap_servers,
            "tousu.notifications",
            until=lambda rs: len(rs) >= 2,
        )
    finally:
        assert await stop_tasks([relay_task], 30, what="outbox relay") == []
        await relay.close()
    assert len(records) == 2
    published = {json.loads(r.value)["period"]: json.loads(r.value) for r in records}
    assert {header(r, "ce_type") for r in records} == {"digest.published"}
    month_event = published[MONTH]
    assert month_event["received"] == numbers["volume"]["received"]
    assert month_event["completion_rate"] == numbers["completion"]["rate"]
    assert month_event["url"] == f"http://notify.example/v1/digests/month/{MONTH}.html"
    # A published period keeps its numbers: the stored month is still the regenerated one.
    stored = await notify_client.get(f"/v1/digests/month/{MONTH}", headers=manager)
    assert stored.json()["numbers"] == numbers and stored.json()["published_at"] is not None


async def test_digest_as_csv_and_html_rendered_in_chromium(
    generated: Generated,
    notify_settings: Settings,
    notify_db: Database,
    notify_client: httpx.AsyncClient,
    headers_for: Callable[..., dict[str, str]],
    page: Any,
    database_url: str,
    tmp_path: Path,
) -> None:
    if "postgresql" in database_url:
        pytest.skip("rendering does not depend on the backend; the KPI test covers both")
    events = generated.only_events
    async with asyncio.timeout(120):
        await replay(notify_settings, notify_db, events)
    expected = reference.digest(events, "month", MONTH, units=UNITS)
    headers = headers_for("manager")

    response = await notify_client.get(f"/v1/digests/month/{MONTH}.csv", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == ["kpi", "dimension", "value"]
    table = {(kpi, dimension): value for kpi, dimension, value in rows[1:]}
    assert table[("volume", "received")] == str(expected["volume"]["received"])
    assert table[("timeliness.first_response", "rate")] == str(
        expected["timeliness"]["first_response"]["rate"]
    )
    assert table[("by.supplier", "博世 Bosch")] == str(expected["by"]["supplier"]["博世 Bosch"])
    assert table[("satisfaction.distribution", "1")] == str(
        expected["satisfaction"]["distribution"]["1"]
    )

    response = await notify_client.get(f"/v1/digests/month/{MONTH}.html", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "业务运作情况月报" in html and "2026-10" in html
    assert html.count("<svg") >= 8
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")

    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(f"pageerror: {error}"))
    page.on(
        "console",
        lambda message: (
            errors.append(f"console: {message.text}") if message.type == "error" else None
        ),
    )
    page.on("requestfailed", lambda request: errors.append(f"request failed: {request.url}"))
    await page.set_viewport_size({"width": 1200, "height": 900})
    await page.set_content(html, wait_until="load")
    assert await page.locator("svg").count() >= 8
    assert await page.locator("h1").inner_text() == (
        "业务运作情况月报 · Monthly operations digest — 2026-10"
    )
    png = await page.screenshot(full_page=True)
    (tmp_path / "digest-2026-10.png").write_bytes(png)
    if keep := os.environ.get("TOUSU_DIGEST_PNG"):  # to look at it: TOUSU_DIGEST_PNG=/tmp/d.png
        Path(keep).write_bytes(png)  # noqa: ASYNC240 - once, small
    assert png.startswith(b"\x89PNG") and len(png) > 100_000
    assert errors == []

    response = await notify_client.get(f"/v1/digests/month/{MONTH}.pdf", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF") and len(response.content) > 20_000


async def test_digest_routes_check_roles_and_periods(
    notify_client: httpx.AsyncClient, headers_for: Callable[..., dict[str, str]]
) -> None:
    client = notify_client
    assert (await client.get(f"/v1/digests/month/{MONTH}")).status_code == 401
    for role in ("agent", "department", "quality", "supply"):
        response = await client.get(f"/v1/digests/month/{MONTH}", headers=headers_for(role))
        assert response.status_code == 403, role
    for role in ("manager", "csc", "service", "admin"):
        response = await client.get(f"/v1/digests/week/{WEEK}", headers=headers_for(role))
        assert response.status_code == 200, role
    csc = headers_for("csc")
    regenerate = await client.post(f"/v1/digests/month/{MONTH}/regenerate", headers=csc)
    assert regenerate.status_code == 403
    # The document's enum and pattern refuse these, named as every path parameter is
    # (issue 19); a well-formed period is checked against the calendar and the clock.
    for path, field in (
        ("/v1/digests/year/2026", "path.kind"),
        ("/v1/digests/week/2026-W54", "path.period"),
        ("/v1/digests/month/2026-13", "path.period"),
    ):
        response = await client.get(path, headers=csc)
        assert response.status_code == 422, path
        assert response.json()["error"]["fields"][0]["field"] == field, path
    # Well-formed, but no digest: a month asked for as a week, a week 53 2025 lacks, a
    # period that has not started (the fuzzer's "schema-valid request rejected").
    for path in (
        "/v1/digests/week/2026-11",
        "/v1/digests/week/2025-W53",
        "/v1/digests/month/2099-01",
    ):
        assert (await client.get(path, headers=csc)).status_code == 404, path
    now = datetime.now(UTC)
    current = f"{now.year}-{now.month:02d}"
    running = await client.get(f"/v1/digests/month/{current}", headers=csc)
    assert running.status_code == 200 and running.json()["partial"] is True
    # ... and its numbers are as of the moment they were computed, not the month's end.
    period = running.json()["numbers"]["period"]
    assert period["partial"] is True
    assert datetime.fromisoformat(period["as_of"]) == datetime.fromisoformat(
        running.json()["generated_at"]
    )
    not_over = await client.post(
        f"/v1/digests/month/{current}/regenerate", headers=headers_for("manager")
    )
    # Not over yet: the period's state (the clock's), so 409 as the document says.
    assert not_over.status_code == 409
    assert not_over.json()["error"]["fields"][0]["field"] == "period"
    for action in ("regenerate", "publish"):
        future = await client.post(
            f"/v1/digests/month/2099-01/{action}", headers=headers_for("manager")
        )
        assert future.status_code == 404, action
