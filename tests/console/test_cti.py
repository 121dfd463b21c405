"""Screen pop: the phone system posts a call to the console; the agent whose
extension rings sees the caller on the page they have open, nobody else does."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.console.conftest import live_open, sign_in, use_language
from tousu_common.devstack import CONSOLE, Stack
from tousu_common.oidc_dev import DevIdentityProvider

pytestmark = pytest.mark.integration

SCREENSHOTS = Path("var/screenshots")
NUMBER = "+86 138 0013 8000"


def gateway_headers(identity: DevIdentityProvider) -> dict[str, str]:
    return {"Authorization": f"Bearer {identity.test_token('pbx-gateway', ['gateway'])}"}


async def post_call(
    console_url: str, headers: dict[str, str], body: dict[str, Any]
) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.post(f"{console_url}/v1/cti/calls", json=body, headers=headers)


async def set_extension(page: Any, console_url: str, extension: str) -> None:
    await page.goto(f"{console_url}/me")
    await page.fill("#me-extension", extension)
    await page.click("#me-form button[type=submit]")
    await page.wait_for_url(f"{console_url}/me?saved=1")
    assert await page.input_value("#me-extension") == extension


async def test_the_agent_whose_extension_rings_sees_the_caller_and_nobody_else(
    console_stack: Stack, console_url: str, identity: DevIdentityProvider, browser: Any
) -> None:
    gateway = gateway_headers(identity)
    agent_context = await browser.new_context(locale="zh-CN")
    other_context = await browser.new_context(locale="zh-CN")
    try:
        agent = await agent_context.new_page()
        await agent.set_viewport_size({"width": 1366, "height": 768})
        await sign_in(agent, console_url, identity, "agent", path="/me")
        os.makedirs(SCREENSHOTS, exist_ok=True)
        await agent.screenshot(path=str(SCREENSHOTS / "me-zh.png"))
        await set_extension(agent, console_url, "8001")
        other = await other_context.new_page()
        await sign_in(other, console_url, identity, "csc", path="/me")
        await set_extension(other, console_url, "8002")

        await agent.goto(f"{console_url}/worklist")
        await other.goto(f"{console_url}/worklist")
        for page in (agent, other):
            await live_open(page, timeout=20_000)

        ringing = await post_call(
            console_url,
            gateway,
            {
                "call_id": "call-2027-0001",
                "event": "ringing",
                "caller_number": NUMBER,
                "agent_extension": "8001",
                "at": "2027-03-04T09:15:00+08:00",
            },
        )
        assert ringing.status_code == 202, ringing.text
        assert ringing.json()["delivered_to"] == 1
        banner = agent.locator('.call-banner[role="alert"][data-call-id="call-2027-0001"]')
        await banner.wait_for(timeout=5_000)
        assert f"来电 {NUMBER}" in await banner.inner_text()
        link = banner.locator("a.call-link")
        assert (
            await link.get_attribute("href")
            == "/hotline?phone=%2B86%20138%200013%208000&call=call-2027-0001"
        )
        await agent.screenshot(path=str(SCREENSHOTS / "screen-pop-zh.png"))

        # The other agent's page gets its own call, and never saw the first one
        # (one stream's changes come in order).
        second = await post_call(
            console_url,
            gateway,
            {
                "call_id": "call-2027-0002",
                "event": "ringing",
                "caller_number": "010 6552 9988",
                "agent_extension": "8002",
            },
        )
        assert second.status_code == 202 and second.json()["delivered_to"] == 1
        await other.locator('.call-banner[data-call-id="call-2027-0002"]').wait_for(timeout=5_000)
        assert await other.locator('[data-call-id="call-2027-0001"]').count() == 0
        assert NUMBER not in await other.inner_text("body")
        assert await agent.locator('[data-call-id="call-2027-0002"]').count() == 0

        # A page opened while the phone rings shows the call too.
        await agent.goto(f"{console_url}/")
        await banner.wait_for(timeout=5_000)

        answered = await post_call(
            console_url,
            gateway,
            {"call_id": "call-2027-0001", "event": "answered", "agent_extension": "8001"},
        )
        assert answered.status_code == 202
        await agent.wait_for_function(
            """() => { const b = document.querySelector('[data-call-id="call-2027-0001"]');
                       return b && b.dataset.state === 'answered'; }""",
            timeout=5_000,
        )
        assert f"通话中 {NUMBER}" in await banner.inner_text()
        hung_up = await post_call(
            console_url,
            gateway,
            {"call_id": "call-2027-0001", "event": "hung_up", "agent_extension": "8001"},
        )
        assert hung_up.status_code == 202
        await banner.wait_for(state="detached", timeout=5_000)

        # English page, same call flow
        await use_language(agent, "en")
        await live_open(agent, timeout=20_000)
        await post_call(
            console_url,
            gateway,
            {
                "call_id": "call-2027-0003",
                "event": "ringing",
                "caller_number": NUMBER,
                "agent_extension": "8001",
            },
        )
        english = agent.locator('[data-call-id="call-2027-0003"]')
        await english.wait_for(timeout=5_000)
        assert f"Incoming call {NUMBER}" in await english.inner_text()
        await agent.screenshot(path=str(SCREENSHOTS / "screen-pop-en.png"))
    finally:
        await agent_context.close()
        await other_context.close()
    # the caller's number is never written to the console's log
    log = console_stack.log_path(CONSOLE.name).read_text(errors="replace")
    assert "call event" in log
    assert "0013 8000" not in log and "00138000" not in log and "6552 9988" not in log


async def test_only_the_gateway_may_post_calls_and_a_bad_body_names_its_fields(
    console_url: str, identity: DevIdentityProvider
) -> None:
    body = {
        "call_id": "c-1",
        "event": "ringing",
        "caller_number": NUMBER,
        "agent_extension": "8009",
    }
    nobody = await post_call(console_url, {}, body)
    assert nobody.status_code == 401
    agent = {"Authorization": f"Bearer {identity.test_token('agent', ['agent'], 'csc')}"}
    refused = await post_call(console_url, agent, body)
    assert refused.status_code == 403 and "gateway" in refused.json()["error"]["message"]

    gateway = gateway_headers(identity)
    bad = await post_call(
        console_url,
        gateway,
        {
            "call_id": "c 1",
            "event": "ringing-ish",
            "caller_number": NUMBER + " 9999 9999 9999 9999",
            "agent_extension": "a",
        },
    )
    assert bad.status_code == 422
    fields = {f["field"] for f in bad.json()["error"]["fields"]}
    assert {"call_id", "event", "caller_number", "agent_extension"} <= fields
    no_number = await post_call(
        console_url, gateway, {"call_id": "c-2", "event": "ringing", "agent_extension": "8009"}
    )
    assert no_number.status_code == 422
    assert "caller_number" in no_number.text
    assert "0013 8000" not in bad.text  # the answer does not echo the number
    nobody_there = await post_call(console_url, gateway, body)
    assert nobody_there.status_code == 202 and nobody_there.json()["delivered_to"] == 0


async def test_a_bad_extension_on_me_is_refused_with_a_message(
    console_url: str, identity: DevIdentityProvider, page: Any
) -> None:
    await sign_in(page, console_url, identity, "quality", path="/me")
    await page.fill("#me-extension", "80a1")
    await page.evaluate("document.getElementById('me-extension').removeAttribute('pattern')")
    await page.click("#me-form button[type=submit]")
    await page.wait_for_selector("#me-extension-error")
    assert "2 到 10 位数字" in await page.inner_text("#me-extension-error")
    assert await page.get_attribute("#me-extension", "aria-invalid") == "true"
