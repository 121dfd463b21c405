"""/search: by reference (straight to the page), phone, customer name, with paging
over more than a page; the newer filters (serial, text, received dates) when intake
offers them, and named as not applied while it does not."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.console.conftest import new_complaint, sign_in, use_language
from tousu_common.devstack import Stack
from tousu_common.oidc_dev import DevIdentityProvider

pytestmark = pytest.mark.integration

SHOTS = Path("var/screenshots")


def _shot_path(name: str) -> str:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return str(SHOTS / name)


async def test_an_exact_reference_goes_straight_to_the_complaint_and_a_phone_finds_it(
    console_url: str, console_stack: Stack, identity: DevIdentityProvider, page: Any
) -> None:
    created = await new_complaint(console_stack, identity, customer_name="查询电话先生")
    phone = f"+86 139 {uuid.uuid4().int % 10**8:08d}"
    by_phone = await new_complaint(console_stack, identity, customer_phone=phone)
    await sign_in(page, console_url, identity, "agent", path="/search")
    await use_language(page, "zh")
    assert await page.locator("label[for='s-reference']").count() == 1

    await page.fill("#s-reference", f"  {created['reference'].lower()} ")
    await page.click("form.search-form button[type=submit]")
    await page.wait_for_url(f"{console_url}/complaints/{created['id']}", timeout=30_000)
    assert created["reference"] in await page.inner_text("h1")

    await page.goto(f"{console_url}/search")
    await page.fill("#s-phone", phone)
    await page.click("form.search-form button[type=submit]")
    rows = page.locator("table.results tr.result")
    await rows.first.wait_for(timeout=30_000)
    assert await rows.count() == 1
    assert by_phone["reference"] in await rows.first.inner_text()
    await rows.first.locator("a").click()
    await page.wait_for_url(f"{console_url}/complaints/{by_phone['id']}", timeout=30_000)

    # intake's own refusal of a malformed phone is shown on the search page
    await page.goto(f"{console_url}/search?phone={quote('abc!')}")
    assert "phone" in await page.locator("main .alert.error").inner_text()


async def test_a_customer_name_with_more_complaints_than_a_page_pages_through_all(
    console_url: str, console_stack: Stack, identity: DevIdentityProvider, page: Any
) -> None:
    name = f"翻页客户{uuid.uuid4().hex[:6]}"
    made = [
        await new_complaint(console_stack, identity, customer_name=name, title=f"第{i}件")
        for i in range(11)
    ]
    await page.set_viewport_size({"width": 1366, "height": 768})
    await sign_in(page, console_url, identity, "csc", path="/search")
    await use_language(page, "zh")
    await page.fill("#s-customer", name)
    await page.select_option("#s-size", "10")
    await page.check("#s-open")
    await page.click("form.search-form button[type=submit]")
    rows = page.locator("table.results tr.result")
    await rows.first.wait_for(timeout=30_000)
    assert await rows.count() == 10
    assert "(11)" in await page.inner_text(".result-total")
    first_page = {(await row.locator("a").inner_text()).strip() for row in await rows.all()}
    await page.screenshot(path=_shot_path("search-zh.png"))

    await page.click("nav.pager a[rel=next]")
    await page.wait_for_url("**page=2**", timeout=30_000)
    await rows.first.wait_for(timeout=30_000)
    assert await rows.count() == 1
    second = (await rows.first.locator("a").inner_text()).strip()
    assert first_page | {second} == {c["reference"] for c in made}
    assert await page.locator("nav.pager a[rel=next]").count() == 0
    # the filters are kept across pages
    assert await page.input_value("#s-customer") == name
    assert await page.is_checked("#s-open")

    await page.click("nav.pager a[rel=prev]")
    await rows.nth(9).wait_for(timeout=30_000)
    await use_language(page, "en")
    await page.locator("table.results tr.result").first.wait_for(timeout=30_000)
    assert "Page 1 of 2" in await page.inner_text("nav.pager")
    await page.screenshot(path=_shot_path("search-en.png"))
    await use_language(page, "zh")


async def test_serial_text_and_received_dates_narrow_the_search(
    console_url: str, console_stack: Stack, identity: DevIdentityProvider, page: Any
) -> None:
    serial = f"SN-{uuid.uuid4().hex[:10].upper()}"
    word = f"齿轮箱{uuid.uuid4().hex[:6]}"
    wanted = await new_complaint(
        console_stack, identity, serial_number=serial, description=f"{word} 异响"
    )
    await new_complaint(console_stack, identity, description="别的问题")
    await sign_in(page, console_url, identity, "csc", path=f"/search?serial={serial}")
    await use_language(page, "zh")
    rows = page.locator("table.results tr.result")
    await rows.first.wait_for(timeout=30_000)
    assert await rows.count() == 1 and wanted["reference"] in await rows.first.inner_text()
    await page.goto(f"{console_url}/search?q={quote(word)}")
    await rows.first.wait_for(timeout=30_000)
    assert await rows.count() == 1 and wanted["reference"] in await rows.first.inner_text()
    await page.goto(
        f"{console_url}/search?q={quote(word)}&received_from=2099-01-01&received_to=2099-12-31"
    )
    assert "没有找到" in await page.inner_text("main")
