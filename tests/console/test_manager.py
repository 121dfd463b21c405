"""The manager's screens, on a real stack, in Chromium: the overdue board (and "My
work"), the digests with their CSV and PDF through the console, and operations
across the five services with a real dead letter that admin discards.

Overdue needs a breached SLA clock within the test: this file starts its own
stack (and its own OpenID provider, whose redirect URIs name this console) with
routing's first-response clocks at a few seconds — the shared ``console_stack``
keeps the real durations.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from tests.console.conftest import (
    PDF_TIMEOUT_MS,
    new_complaint,
    sign_in,
    start_console_stack,
    start_identity,
    use_language,
)
from tousu_common.devstack import CONSOLE, Stack, free_port
from tousu_common.mailsink import MailSink
from tousu_common.oidc_dev import (
    DevIdentityProvider,
    seed_users,
)
from tousu_common.testing.wait import eventually_async

pytestmark = pytest.mark.integration

SCREENSHOTS = Path("var/screenshots")
FIRST_RESPONSE = "15s"  # every urgency: a complaint nobody answers is overdue quickly
SLA_DURATIONS = {
    urgency: {"first_response": FIRST_RESPONSE, "resolution_plan": "4h"}
    for urgency in ("urgent", "important", "general")
}


# -- this file's stack -------------------------------------------------------------


@pytest.fixture(scope="module")
def mgr_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def mgr_identity(
    tmp_path_factory: pytest.TempPathFactory, mgr_port: int
) -> Iterator[DevIdentityProvider]:
    provider = start_identity(tmp_path_factory.mktemp("oidc-manager"), mgr_port)
    yield provider
    provider.stop()


@pytest.fixture(scope="module")
def mgr_stack(
    mgr_identity: DevIdentityProvider,
    tmp_path_factory: pytest.TempPathFactory,
    mail_sink: MailSink,
    mgr_port: int,
) -> Iterator[Stack]:
    running = start_console_stack(
        tmp_path_factory.mktemp("manager-stack"),
        mgr_identity,
        mail_sink.port,
        mgr_port,
        {
            "TOUSU_ROUTING_SLA_POLL_INTERVAL_S": "0.5",
            "TOUSU_ROUTING_SLA_DURATIONS": json.dumps(SLA_DURATIONS),
        },
    )
    yield running
    running.stop()


@pytest.fixture(scope="module")
def url(mgr_stack: Stack) -> str:
    return mgr_stack.url(CONSOLE.name)


def headers(identity: DevIdentityProvider, user: str) -> dict[str, str]:
    seed = next(u for u in seed_users() if u.username == user)
    token = identity.test_token(user, list(seed.roles), seed.department)
    return {"Authorization": f"Bearer {token}"}


async def api_get(
    stack: Stack, identity: DevIdentityProvider, service: str, path: str, **params: Any
) -> Any:
    """A service's answer to the seed manager (to arrange and check, beside the pages)."""
    async with httpx.AsyncClient(timeout=15) as client:
        response = await client.get(
            f"{stack.url(service)}{path}", params=params, headers=headers(identity, "manager")
        )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
async def overdue_complaints(
    mgr_stack: Stack, mgr_identity: DevIdentityProvider
) -> list[dict[str, Any]]:
    """Two complaints nobody answers (same text: same department), both on routing's
    overdue list (their first response breached); intake's answers with the list item."""
    created = [
        await new_complaint(mgr_stack, mgr_identity, title="仪表盘报警无人回复") for _ in range(2)
    ]
    ids = [str(c["id"]) for c in created]

    async def listed() -> dict[str, Any]:
        page = await api_get(mgr_stack, mgr_identity, "routing", "/v1/worklists/overdue", limit=200)
        return {i["complaint_id"]: i for i in page["items"] if i["complaint_id"] in ids}

    items = await eventually_async(
        listed,
        until=lambda found: len(found) == 2,
        timeout=120,
        interval=0.5,
        what="both complaints on the overdue list",
    )
    return [{**c, "item": items[str(c["id"])]} for c in created]


@pytest.fixture(scope="module")
def overdue_complaint(overdue_complaints: list[dict[str, Any]]) -> dict[str, Any]:
    return overdue_complaints[0]


async def shoot(page: Any, name: str, lang: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (a test, once)
    await page.set_viewport_size({"width": 1366, "height": 768})
    await page.screenshot(path=str(SCREENSHOTS / f"{name}-{lang}.png"))


async def to_english(page: Any) -> None:
    await use_language(page, "en")


# -- overdue -------------------------------------------------------------------------


async def test_an_overdue_complaint_is_on_the_board_in_its_department_and_in_my_work(
    url: str,
    mgr_identity: DevIdentityProvider,
    overdue_complaints: list[dict[str, Any]],
    overdue_complaint: dict[str, Any],
    page: Any,
) -> None:
    complaint_id = str(overdue_complaint["id"])
    department = overdue_complaint["item"]["owner_department"]
    await sign_in(page, url, mgr_identity, "manager", path="/overdue")
    await use_language(page, "zh")

    row = page.locator(f"#overdue-{department} tr[data-complaint='{complaint_id}']")
    await row.wait_for(timeout=30_000)
    link = row.locator(f"a[href='/complaints/{complaint_id}']")
    assert await link.inner_text() == overdue_complaint["reference"]
    text = await row.inner_text()
    assert "第1级" in text and "首次响应" in text, text  # escalated: first response breached
    overdue_by = await row.locator(".badge.overdue").inner_text()
    assert "分钟" in overdue_by or "小时" in overdue_by, overdue_by
    count = page.locator(f".overdue-counts tr[data-department='{department}'] td.count")
    assert int(await count.inner_text()) >= 1
    await shoot(page, "overdue", "zh")

    # filtered by its department: there; by another department: not there
    await page.select_option("#overdue-department", department)
    await page.click("form.filters button[type=submit]")
    await page.wait_for_url(f"**/overdue?department={department}*")
    assert await page.locator(f"tr[data-complaint='{complaint_id}']").count() == 1
    # a page of one: the two complaints of the department on two pages
    second = overdue_complaints[1]
    assert second["item"]["owner_department"] == department
    await page.goto(f"{url}/overdue?department={department}&size=1")
    first_page = await page.locator("tr.overdue-row").get_attribute("data-complaint")
    assert await page.locator("tr.overdue-row").count() == 1
    await page.click("nav.pager a[rel=next]")
    await page.wait_for_url(f"**/overdue?department={department}&size=1&offset=1")
    second_page = await page.locator("tr.overdue-row").get_attribute("data-complaint")
    assert {first_page, second_page} == {complaint_id, str(second["id"])}
    assert await page.locator("nav.pager a[rel=prev]").count() == 1

    other = "design" if department != "design" else "sales"
    await page.goto(f"{url}/overdue?department={other}")
    await page.wait_for_selector("#overdue-total")
    assert await page.locator(f"tr[data-complaint='{complaint_id}']").count() == 0

    # the row opens the complaint page
    await page.goto(f"{url}/overdue")
    await page.click(f"a[href='/complaints/{complaint_id}']")
    await page.wait_for_url(f"**/complaints/{complaint_id}")
    assert overdue_complaint["reference"] in await page.inner_text("h1")

    # "My work": the manager's section, the top of the same board
    await page.goto(f"{url}/worklist")
    section = page.locator("#worklist-manager")
    await section.locator(f"tr[data-complaint='{complaint_id}']").wait_for(timeout=30_000)
    assert int(await section.locator(".manager-total").inner_text()) >= 1

    await page.goto(f"{url}/overdue")
    await to_english(page)
    await page.locator(f"tr[data-complaint='{complaint_id}']").first.wait_for()
    assert "Level 1" in await page.inner_text(f"#overdue-{department}")
    await shoot(page, "overdue", "en")


async def test_quality_sees_only_its_own_departments_overdue_complaints(
    url: str,
    mgr_identity: DevIdentityProvider,
    overdue_complaints: list[dict[str, Any]],
    page: Any,
) -> None:
    department = overdue_complaints[0]["item"]["owner_department"]
    user = "quality" if department != "quality" else "supply"
    await sign_in(page, url, mgr_identity, user, path=f"/overdue?department={department}")
    await use_language(page, "zh")
    # routing scopes the list to the token's department; the page asks for no other
    assert await page.locator("#overdue-department").is_disabled()
    assert await page.locator("tr.overdue-row").count() == 0
    await page.goto(f"{url}/overdue")
    await page.wait_for_selector("#overdue-total")
    assert await page.locator(f"#overdue-{user}").count() == 1
    assert await page.locator(f"#overdue-{department}").count() == 0


# -- digests -------------------------------------------------------------------------


def _week_label(day: Any) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


async def test_the_digest_of_a_period_shows_its_kpis_and_downloads_csv_and_pdf(
    url: str,
    mgr_stack: Stack,
    mgr_identity: DevIdentityProvider,
    overdue_complaint: dict[str, Any],
    page: Any,
) -> None:
    today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date()
    this_week = _week_label(today)
    last_week = _week_label(today - timedelta(days=7))
    # notify has counted the complaint of this week (its read model is fed by events)
    await eventually_async(
        lambda: api_get(mgr_stack, mgr_identity, "notify", f"/v1/digests/week/{this_week}"),
        until=lambda d: d["numbers"]["volume"]["received"] >= 1,
        timeout=60,
        interval=0.5,
        what="notify's digest counting the complaint",
    )

    await sign_in(page, url, mgr_identity, "manager", path="/digests")
    await use_language(page, "zh")
    # opens on the last week that has ended (Asia/Shanghai); no next week after this one
    assert await page.inner_text("#period-label") == last_week
    await page.click("#period-next")
    await page.wait_for_url(f"**/digests?kind=week&period={this_week}")
    assert await page.inner_text("#period-label") == this_week
    assert await page.locator("#period-next").count() == 0  # next week has not started
    received = page.locator("#kpi-table tr[data-kpi='volume.received'] td.value")
    assert int(await received.inner_text()) >= 1
    assert "进行中" in await page.inner_text(".digest-state")
    # the report with its charts, through the console, in the iframe
    frame = page.frame_locator("iframe.digest-report")
    await frame.locator("svg").first.wait_for(timeout=60_000)
    await shoot(page, "digests", "zh")

    # CSV: the browser's download, notify's file name kept
    async with page.expect_download(timeout=60_000) as waiting:
        await page.click("#download-csv")
    download = await waiting.value
    assert download.suggested_filename == f"tousu-digest-week-{this_week}.csv"
    csv_path = await download.path()
    body = Path(csv_path).read_bytes()  # noqa: ASYNC240
    assert body.startswith("\ufeffkpi,dimension,value".encode())
    assert b"volume,received," in body

    # the same through the console's routes, with this person's session
    csv = await page.request.get(f"{url}/digests/week/{this_week}.csv")
    assert csv.status == 200
    assert csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv.headers["content-disposition"]
    pdf = await page.request.get(f"{url}/digests/week/{this_week}.pdf", timeout=PDF_TIMEOUT_MS)
    assert pdf.status == 200, await pdf.text()
    assert pdf.headers["content-type"] == "application/pdf"
    assert f"tousu-digest-week-{this_week}.pdf" in pdf.headers["content-disposition"]
    content = await pdf.body()
    assert content.startswith(b"%PDF-") and len(content) > 1000

    # a month, and a period that is not one
    await page.goto(f"{url}/digests?kind=month")
    month = today.replace(day=1) - timedelta(days=1)
    assert await page.inner_text("#period-label") == f"{month.year}-{month.month:02d}"
    await page.goto(f"{url}/digests?kind=week&period=2027-13")
    assert "不是有效的周" in await page.inner_text("main")

    await page.goto(f"{url}/digests?kind=week&period={this_week}")
    await to_english(page)
    await page.wait_for_selector("#kpi-table")
    assert "Complaints received" in await page.inner_text("#kpi-table")
    await shoot(page, "digests", "en")


async def test_digests_are_not_offered_to_a_department_and_notify_refuses_them(
    url: str, mgr_identity: DevIdentityProvider, page: Any
) -> None:
    await sign_in(page, url, mgr_identity, "sales")
    await use_language(page, "zh")
    assert "周报月报" not in await page.inner_text("nav")
    response = await page.request.get(f"{url}/digests/week/2026-W48.csv")
    assert response.status == 403
    assert "没有权限" in await response.text()


# -- operations ------------------------------------------------------------------------


async def poison(bootstrap: str, key: bytes) -> None:
    """A complaint.received whose payload fails its schema: every consumer of the
    topic dead-letters it."""
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", str(uuid.uuid4()).encode()),
        ("ce_source", b"tousu/test-poisoner"),
        ("ce_type", b"complaint.received"),
        ("content-type", b"application/json"),
    ]
    value = json.dumps({"complaint_id": "not-a-uuid", "channel": "carrier pigeon"}).encode()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        await producer.send_and_wait("tousu.complaints", value, key=key, headers=headers)
    finally:
        await producer.stop()


async def test_ops_shows_every_service_and_admin_discards_a_dead_letter_manager_may_not(
    url: str, mgr_stack: Stack, mgr_identity: DevIdentityProvider, browser: Any
) -> None:
    key = f"poison-{uuid.uuid4().hex[:8]}"
    await poison(mgr_stack.bootstrap or "", key.encode())

    async def dead_letter() -> dict[str, Any] | None:
        listing = await api_get(
            mgr_stack, mgr_identity, "routing", "/v1/ops/dead-letters", limit=200
        )
        return next((d for d in listing["items"] if d["key"] == key), None)

    letter = await eventually_async(
        dead_letter, timeout=60, interval=0.5, what="routing's dead letter"
    )
    assert letter["status"] == "dead"
    detail_path = f"/ops/routing/dead-letters/{letter['id']}"

    manager = await browser.new_context(locale="zh-CN")
    try:
        page = await manager.new_page()
        await sign_in(page, url, mgr_identity, "manager", path="/ops")
        await use_language(page, "zh")
        for service in ("intake", "routing", "rectification", "notify", "console"):
            row = page.locator(f"#ops-status tr[data-service='{service}']")
            assert await row.locator(".ready-state").inner_text() == "就绪", service
        dead = page.locator("#ops-status tr[data-service='routing'] td.dead")
        assert int(await dead.inner_text()) >= 1
        await shoot(page, "ops", "zh")

        await page.click("#ops-status tr[data-service='routing'] th a")
        await page.wait_for_url("**/ops/routing/dead-letters")
        await page.click(f"tr[data-dead-letter='{letter['id']}'] a")
        await page.wait_for_url(f"**{detail_path}")
        assert "待处理" in await page.inner_text("#dead-letter-status")
        assert "carrier pigeon" in await page.inner_text(".dead-letter-value")
        # a manager reads, and is offered neither re-drive nor discard
        assert await page.locator("#redrive").count() == 0
        assert await page.locator("#discard").count() == 0
        # a forged discard reaches routing with the manager's token: its 403, shown
        csrf = await page.get_attribute("header input[name=csrf]", "value")
        forged = await page.request.post(
            f"{url}{detail_path}/discard", form={"csrf": csrf or "", "reason": "forged"}
        )
        assert forged.status == 403
        assert "没有权限" in await forged.text()
        forged = await page.request.post(f"{url}{detail_path}/redrive", form={"csrf": csrf or ""})
        assert forged.status == 403
        assert (await dead_letter())["status"] == "dead"  # nothing changed
        await page.goto(f"{url}/ops/routing/dead-letters")
        await to_english(page)
        await page.goto(f"{url}/ops")
        await page.wait_for_selector("#ops-status")
        assert "Ready" in await page.inner_text("#ops-status tr[data-service='console']")
        await shoot(page, "ops", "en")
    finally:
        await manager.close()

    admin = await browser.new_context(locale="zh-CN")
    try:
        page = await admin.new_page()
        await sign_in(page, url, mgr_identity, "admin", path=detail_path)
        await use_language(page, "zh")
        # an empty reason: the form asks for one; a blank one is refused by the service
        await page.fill("#discard-reason", "   ")
        await page.click("#discard")
        await page.wait_for_selector(".alert.error")
        assert (await dead_letter())["status"] == "dead"
        await page.fill("#discard-reason", "测试毒消息，无需处理")
        await page.click("#discard")
        await page.wait_for_url(f"**{detail_path}?done=discarded")
        assert "已丢弃" in await page.inner_text("#dead-letter-status")
        assert "测试毒消息，无需处理" in await page.inner_text("#dead-letter-resolution")
        assert await page.locator("#discard").count() == 0  # nothing more to do with it
        await shoot(page, "ops-dead-letter", "zh")

        # re-driving intake's copy: it cannot be decoded, so intake says no (409),
        # shown on the page, and the dead letter stays dead
        async def intake_dead_letter() -> dict[str, Any] | None:
            listing = await api_get(
                mgr_stack, mgr_identity, "intake", "/v1/ops/dead-letters", limit=200
            )
            return next((d for d in listing["items"] if d["key"] == key), None)

        intake_letter = await eventually_async(
            intake_dead_letter, timeout=60, interval=0.5, what="intake's dead letter"
        )
        await page.goto(f"{url}/ops/intake/dead-letters/{intake_letter['id']}")
        await page.click("#redrive")
        await page.wait_for_selector(".alert.error")
        assert "当前状态下不能这样做" in await page.inner_text(".alert.error")
        assert "待处理" in await page.inner_text("#dead-letter-status")
    finally:
        await admin.close()
    resolved = await dead_letter()
    assert resolved["status"] == "discarded"
    assert resolved["resolution"] == "测试毒消息，无需处理"
