"""The call-centre agent's screens on the real stack: who is calling (the customer
card from intake's register, their open complaints as a duplicate hint), the
prefilled form, saving (one complaint even when sent twice), the telephony screen
pop's call id logged on the complaint, amending and withdrawing from the complaint
page, "my recent complaints", and the whole call done with the keyboard alone."""

from __future__ import annotations

import asyncio
import re
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.console.conftest import headers_of, htmx_settled, new_complaint, sign_in
from tousu_common.devstack import Stack
from tousu_common.oidc_dev import DevIdentityProvider
from tousu_common.testing.wait import eventually_async

pytestmark = pytest.mark.integration

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
UUID_IN_PATH = re.compile(r"/hotline/received/([0-9a-f-]{36})")


def a_phone() -> str:
    return f"+86 139 {secrets.randbelow(10**8):08d}"


def a_serial(prefix: str = "SN") -> str:
    return f"{prefix}-{secrets.token_hex(4).upper()}"


async def intake(
    stack: Stack, identity: DevIdentityProvider, method: str, path: str, **kw: Any
) -> httpx.Response:
    user = kw.pop("user", "csc")
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.request(
            method, f"{stack.url('intake')}{path}", headers=headers_of(identity, user), **kw
        )


async def register_customer(
    stack: Stack, identity: DevIdentityProvider, **fields: Any
) -> dict[str, Any]:
    response = await intake(stack, identity, "POST", "/v1/customers", json=fields)
    assert response.status_code == 201, response.text
    return response.json()


async def complaints_with_phone(
    stack: Stack, identity: DevIdentityProvider, phone: str
) -> dict[str, Any]:
    response = await intake(stack, identity, "GET", "/v1/complaints", params={"phone": phone})
    assert response.status_code == 200, response.text
    return response.json()


async def complaint(stack: Stack, identity: DevIdentityProvider, complaint_id: str) -> Any:
    response = await intake(stack, identity, "GET", f"/v1/complaints/{complaint_id}")
    assert response.status_code == 200, response.text
    return response.json()


async def shoot(page: Any, screen: str, *, english: bool = False) -> None:
    """A 1366×768 screenshot in Chinese, and in English too when asked (switching
    back to Chinese afterwards, through the page's own language button)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.set_viewport_size({"width": 1366, "height": 768})
    await page.screenshot(path=str(SCREENSHOTS / f"{screen}-zh.png"))
    if english:
        await page.click("header button:has-text('English')")
        await page.wait_for_selector("header button:has-text('中文')", timeout=30_000)
        await page.screenshot(path=str(SCREENSHOTS / f"{screen}-en.png"))
        await page.click("header button:has-text('中文')")
        await page.wait_for_selector("header button:has-text('English')", timeout=30_000)


async def focused_id(page: Any) -> str:
    return await page.evaluate("document.activeElement ? document.activeElement.id : ''")


async def test_a_registered_caller_s_card_open_complaints_and_a_saved_complaint_with_the_call(
    console_stack: Stack, console_url: str, identity: DevIdentityProvider, page: Any
) -> None:
    phone = a_phone()
    first, second = a_serial("HX"), a_serial("HY")
    customer = await register_customer(
        console_stack,
        identity,
        name="上海申联重工有限公司",
        tier="key",
        segment="oem",
        phones=[phone],
        emails=["service@shenlian.example.cn"],
        products=[
            {"serial_number": first, "model": "YC6L-280"},
            {"serial_number": second, "model": "YC4S-150"},
        ],
    )
    earlier = await new_complaint(
        console_stack,
        identity,
        title="冷却液渗漏",
        customer_id=customer["id"],
        customer_name="上海申联重工有限公司",
        customer_phone=phone,
        product_model="YC6L-280",
        serial_number=first,
    )

    # The telephony screen pop opens the hotline with the number and the call id.
    call = f"CALL-{secrets.token_hex(3)}"
    await sign_in(
        page, console_url, identity, "agent", path=f"/hotline?phone={quote(phone)}&call={call}"
    )
    card = await page.inner_text("#caller-card")
    assert "上海申联重工有限公司" in card and "重点客户" in card and "大客户" in card
    assert first in card and second in card and "YC4S-150" in card
    hint = await page.inner_text("#duplicate-hint")
    assert earlier["reference"] in hint and "冷却液渗漏" in hint
    assert await page.get_attribute(
        f"#duplicate-hint a:has-text('{earlier['reference']}')", "href"
    ) == (f"/complaints/{earlier['id']}")
    # the form is filled from the card, the call id kept, the first field focused
    assert await page.input_value("#customer_name") == "上海申联重工有限公司"
    assert await page.input_value("#customer_phone") == phone
    assert await page.input_value("#customer_email") == "service@shenlian.example.cn"
    assert await page.input_value("input[name=customer_id]") == customer["id"]
    assert await page.input_value("input[name=call]") == call
    assert await focused_id(page) == "title"
    options = await page.locator("#product option").all_inner_texts()
    assert any(first in o for o in options) and any(second in o for o in options)
    await shoot(page, "hotline-caller", english=True)

    # Choosing the product the open complaint is about highlights it; another does not.
    assert await page.locator("#duplicate-hint tr.same-product").count() == 0
    await page.select_option("#product", label=f"YC6L-280 · {first}")
    same = page.locator("#duplicate-hint tr.same-product")
    await same.wait_for(timeout=30_000)
    assert earlier["reference"] in await same.inner_text()
    await page.select_option("#product", label=f"YC4S-150 · {second}")
    await same.wait_for(state="detached", timeout=30_000)

    await page.fill("#title", "发动机异响")
    await page.fill("#description", "怠速时发动机有异响，客户要求派人检查")
    await page.click("#save-complaint")
    await page.wait_for_url(re.compile(r".*/hotline/received/.*"), timeout=30_000)
    reference = (await page.inner_text("#reference")).strip()
    assert re.fullmatch(r"[A-Z]+-\d{4}-\d+", reference), reference
    assert "已记入投诉" in await page.inner_text("main")
    assert await page.get_attribute("#next-call", "href") == "/hotline"
    await shoot(page, "hotline-received", english=True)

    match = UUID_IN_PATH.search(page.url)
    assert match
    saved = await complaint(console_stack, identity, match.group(1))
    assert saved["reference"] == reference
    assert saved["customer_id"] == customer["id"] and saved["key_account"] is True
    assert saved["serial_number"] == second and saved["product_model"] == "YC4S-150"
    assert saved["title"] == "发动机异响" and saved["channel"] == "hotline"
    assert [a["text"] for a in saved["amendments"]] == [f"来电 {call}，{phone}"]
    assert await page.get_attribute("#open-complaint", "href") == f"/complaints/{saved['id']}"

    # Looked up by the serial number: that product is chosen, its open complaint stands out.
    await page.goto(f"{console_url}/hotline?q={first}")
    row = page.locator("#duplicate-hint tr.same-product")
    assert await row.count() == 1
    assert earlier["reference"] in await row.inner_text()
    assert "同一产品" in await row.inner_text()
    assert await page.locator("#product option:checked").inner_text() == f"YC6L-280 · {first}"


async def test_an_unknown_caller_a_field_error_keeps_what_was_typed_and_a_double_submit_records_one(
    console_stack: Stack, console_url: str, identity: DevIdentityProvider, page: Any
) -> None:
    phone = a_phone()
    await sign_in(page, console_url, identity, "agent", path="/hotline")
    assert await focused_id(page) == "q"
    await page.fill("#q", phone)
    await page.click("button:has-text('查询')")
    await page.wait_for_selector("#new-complaint", timeout=30_000)
    assert "未登记的来电" in await page.inner_text("#caller-card")
    assert await page.locator("#duplicate-hint").count() == 0
    assert await page.input_value("#customer_phone") == phone
    assert await page.input_value("#customer_name") == ""
    await shoot(page, "hotline-unknown-caller")

    # No name: intake names the field; the form comes back as typed.
    await page.fill("#title", "变速箱漏油")
    await page.fill("#description", "新车三个月，变速箱漏油")
    await page.click("#save-complaint")
    await page.wait_for_selector("#customer_name-error", timeout=30_000)
    assert await page.input_value("#title") == "变速箱漏油"
    assert await page.input_value("#description") == "新车三个月，变速箱漏油"
    assert await page.input_value("#customer_phone") == phone
    assert await page.get_attribute("#customer_name", "aria-invalid") == "true"
    assert await focused_id(page) == "customer_name"
    assert (await complaints_with_phone(console_stack, identity, phone))["total"] == 0
    await shoot(page, "hotline-field-error")

    # The same form sent twice at once (a double click, a retry): one complaint.
    await page.fill("#customer_name", "李女士")
    fields = await page.evaluate(
        "Object.fromEntries(new FormData(document.getElementById('new-complaint')))"
    )
    assert fields["idempotency_key"]
    answers = await asyncio.gather(
        *(page.request.post(f"{console_url}/hotline/complaints", form=fields) for _ in range(2))
    )
    assert [a.status for a in answers] == [200, 200]
    ids = {UUID_IN_PATH.search(a.url).group(1) for a in answers}  # type: ignore[union-attr]
    assert len(ids) == 1
    found = await complaints_with_phone(console_stack, identity, phone)
    assert found["total"] == 1 and found["items"][0]["id"] in ids
    saved = await complaint(console_stack, identity, found["items"][0]["id"])
    assert saved["provisional_customer"] is True and saved["customer_name"] == "李女士"
    assert saved["customer_phone"] == phone and saved["amendments"] == []

    # The same form changed and saved again (the agent went back): intake refuses the
    # reused key, the console says so and gives the form a new key for a second one.
    await page.fill("#title", "变速箱漏油（第二台车）")
    await page.click("#save-complaint")
    await page.wait_for_selector("text=这张表已经保存过一次投诉", timeout=30_000)
    assert await page.input_value("#title") == "变速箱漏油（第二台车）"
    assert await page.input_value("input[name=idempotency_key]") != fields["idempotency_key"]
    assert (await complaints_with_phone(console_stack, identity, phone))["total"] == 1
    await page.click("#save-complaint")
    await page.wait_for_url(re.compile(r".*/hotline/received/.*"), timeout=30_000)
    assert (await complaints_with_phone(console_stack, identity, phone))["total"] == 2


async def test_the_whole_call_with_the_keyboard_alone(
    console_stack: Stack, console_url: str, identity: DevIdentityProvider, page: Any
) -> None:
    phone = a_phone()
    await sign_in(page, console_url, identity, "agent", path="/hotline")
    assert await focused_id(page) == "q"
    await page.keyboard.type(phone)
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#new-complaint", timeout=30_000)
    assert await focused_id(page) == "title"
    await page.keyboard.type("刹车失灵")
    await page.keyboard.press("Tab")
    assert await focused_id(page) == "description"
    await page.keyboard.type("下坡时刹车失灵，已停车")
    for _ in range(20):  # Tab on to the save button, typing the name on the way
        await page.keyboard.press("Tab")
        at = await focused_id(page)
        if at == "customer_name":
            await page.keyboard.type("赵先生")
        if at == "save-complaint":
            break
    assert await focused_id(page) == "save-complaint"
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(r".*/hotline/received/.*"), timeout=30_000)
    reference = (await page.inner_text("#reference")).strip()
    assert await focused_id(page) == "next-call"
    found = await complaints_with_phone(console_stack, identity, phone)
    assert [c["reference"] for c in found["items"]] == [reference]
    assert found["items"][0]["title"] == "刹车失灵"
    # Enter on "next call": the number field again, ready to type.
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{console_url}/hotline", timeout=30_000)
    assert await focused_id(page) == "q"


async def test_amend_and_withdraw_from_the_complaint_page(
    console_stack: Stack, console_url: str, identity: DevIdentityProvider, page: Any
) -> None:
    created = await new_complaint(console_stack, identity, title="仪表盘报警")
    complaint_id = created["id"]
    await sign_in(page, console_url, identity, "agent", path=f"/complaints/{complaint_id}")
    panel = page.locator("#panel-intake-actions")
    await panel.locator("textarea[name=text]").wait_for(timeout=30_000)
    await panel.locator("textarea[name=text]").fill("客户补充：报警灯为黄色")
    await panel.locator("button:has-text('保存补充')").click()
    await panel.locator("text=客户补充：报警灯为黄色").wait_for(timeout=30_000)

    async def amended() -> Any:
        body = await complaint(console_stack, identity, complaint_id)
        return [a["text"] for a in body["amendments"]] == ["客户补充：报警灯为黄色"]

    await eventually_async(amended, timeout=30, what="the note in intake")
    assert await panel.locator("textarea[name=text]").input_value() == ""
    await shoot(page, "complaint-intake-actions", english=True)

    # No reason: refused by intake, shown in the panel, nothing withdrawn.
    # (read from the panel's answer: a live reload of the panel may follow at any time)
    async with (
        htmx_settled(page),
        page.expect_response(lambda r: r.url.endswith("/withdraw")) as refused,
    ):
        await panel.locator("button:has-text('撤销投诉')").click()
    answer = await refused.value
    assert answer.status == 200 and 'class="alert error"' in await answer.text()
    assert "reason" in await answer.text()
    assert (await complaint(console_stack, identity, complaint_id))["status"] != "withdrawn"

    await panel.locator("input[name=reason]").fill("客户已自行解决")
    await panel.locator("button:has-text('撤销投诉')").click()
    await panel.locator("text=不能再撤销").wait_for(timeout=30_000)
    assert await panel.locator("button:has-text('撤销投诉')").count() == 0
    assert (await complaint(console_stack, identity, complaint_id))["status"] == "withdrawn"


async def test_quality_is_not_offered_the_hotline_and_a_forged_save_is_refused_by_intake(
    console_stack: Stack, console_url: str, identity: DevIdentityProvider, page: Any
) -> None:
    phone = a_phone()
    await sign_in(page, console_url, identity, "quality", path="/hotline")
    assert "热线受理" not in await page.inner_text("nav")
    assert await page.locator("#new-complaint").count() == 0
    csrf = await page.get_attribute("header input[name=csrf]", "value")
    answer = await page.request.post(
        f"{console_url}/hotline/complaints",
        form={
            "csrf": csrf,
            "q": phone,
            "title": "伪造的投诉",
            "description": "不应被受理",
            "customer_name": "某人",
            "customer_phone": phone,
        },
    )
    assert answer.status == 403
    text = await answer.text()
    assert "没有权限" in text and "requires one of the roles: agent" in text
    assert (await complaints_with_phone(console_stack, identity, phone))["total"] == 0

    # On a complaint page Quality is offered neither a note nor a withdrawal, and a
    # forged withdrawal is intake's 403 with the complaint left as it was.
    created = await new_complaint(console_stack, identity, title="排气冒黑烟")
    await page.goto(f"{console_url}/complaints/{created['id']}")
    panel = page.locator("#panel-intake-actions")
    await panel.locator("text=只有坐席和客服中心").wait_for(timeout=30_000)
    assert await panel.locator("textarea, input[name=reason]").count() == 0
    answer = await page.request.post(
        f"{console_url}/complaints/{created['id']}/panels/intake-actions/withdraw",
        form={"csrf": csrf, "reason": "伪造"},
    )
    assert answer.status == 403 and "requires one of the roles" in await answer.text()
    assert (await complaint(console_stack, identity, created["id"]))["status"] == "received"


async def test_my_recent_complaints_newest_first_a_page_at_a_time(
    console_stack: Stack, console_url: str, identity: DevIdentityProvider, page: Any
) -> None:
    older = await new_complaint(console_stack, identity, title="座椅松动")
    newer = await new_complaint(console_stack, identity, title="空调不制冷")
    await sign_in(page, console_url, identity, "agent", path="/worklist")
    section = page.locator("#worklist-agent")
    await section.locator(f"a:has-text('{newer['reference']}')").wait_for(timeout=30_000)
    assert await section.locator(f"a:has-text('{older['reference']}')").count() == 1
    href = await section.locator(f"a:has-text('{newer['reference']}')").get_attribute("href")
    assert href == f"/complaints/{newer['id']}"
    await shoot(page, "worklist-agent", english=True)

    await page.goto(f"{console_url}/worklist/agent?limit=1")
    rows = page.locator("table.my-complaints tbody tr")
    assert await rows.count() == 1
    assert newer["reference"] in await rows.first.inner_text()
    assert await page.locator("a[rel=next]").count() == 1
    assert await page.locator("a[rel=prev]").count() == 0
    await page.goto(f"{console_url}/worklist/agent?limit=1&offset=1")
    assert older["reference"] in await page.locator("table.my-complaints tbody tr").inner_text()
    assert await page.locator("a[rel=prev]").count() == 1
