"""People sign in to the console through the company's OpenID provider, see what
their roles offer, switch language (remembered), and sign out everywhere."""

from __future__ import annotations

import sqlite3
from typing import Any

import httpx
import jwt
import pytest

from tests.console.conftest import screenshot, serious_accessibility_problems, sign_in
from tousu_common.devstack import Stack
from tousu_common.oidc_dev import RESOURCE, WORKBENCH_CLIENT, DevIdentityProvider
from tousu_console.adapters.identity import Identity

pytestmark = pytest.mark.integration


async def test_a_page_without_a_session_sends_the_browser_to_the_provider(
    console_url: str, identity: DevIdentityProvider
) -> None:
    async with httpx.AsyncClient(follow_redirects=False, timeout=10) as client:
        page = await client.get(f"{console_url}/?tab=mine")
        assert page.status_code == 303
        assert page.headers["location"] == "/auth/login?next=/%3Ftab%3Dmine"
        login = await client.get(f"{console_url}{page.headers['location']}")
        assert login.status_code == 303
        target = login.headers["location"]
        assert target.startswith(f"{identity.issuer}/")
        assert "code_challenge_method=S256" in target and "client_id=tousu-workbench" in target


async def test_agent_signs_in_sees_the_agent_menu_and_a_secure_session_cookie(
    console_url: str, identity: DevIdentityProvider, page: Any
) -> None:
    await sign_in(page, console_url, identity, "agent")
    assert "Call-centre agent" in await page.inner_text("header")
    menu = await page.inner_text("nav")
    assert "热线受理" in menu and "查询" in menu
    assert "运行状态" not in menu and "人工分派" not in menu  # manager's and CSC's
    cookies = {c["name"]: c for c in await page.context.cookies()}
    session = cookies["tousu_console"]
    assert session["httpOnly"] is True and session["sameSite"] == "Lax"


async def test_manager_is_offered_operations_and_digests(
    console_url: str, identity: DevIdentityProvider, page: Any
) -> None:
    await sign_in(page, console_url, identity, "manager")
    menu = await page.inner_text("nav")
    assert "运行状态" in menu and "周报月报" in menu and "热线受理" not in menu


async def test_sign_in_comes_back_to_the_page_asked_for_and_never_elsewhere(
    console_url: str, identity: DevIdentityProvider, page: Any
) -> None:
    await sign_in(page, console_url, identity, "csc", path="/")
    async with httpx.AsyncClient(follow_redirects=False, timeout=10) as client:
        for evil in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
            login = await client.get(f"{console_url}/auth/login", params={"next": evil})
            assert login.status_code == 303
    # the state of such a sign-in remembers "/" as where to go; checked in the unit tests


async def test_a_form_post_without_the_csrf_token_is_refused_and_changes_nothing(
    console_url: str, identity: DevIdentityProvider, page: Any
) -> None:
    await sign_in(page, console_url, identity, "csc")
    response = await page.request.post(
        f"{console_url}/language", form={"language": "en", "back": "/"}
    )
    assert response.status == 403
    assert "did not come from this console" in await response.text()
    await page.goto(f"{console_url}/")
    assert await page.get_attribute("html", "lang") == "zh-CN"


async def test_the_language_switch_is_remembered_for_the_person_across_sessions(
    console_url: str, identity: DevIdentityProvider, browser: Any
) -> None:
    first = await browser.new_context()
    try:
        page = await first.new_page()
        await sign_in(page, console_url, identity, "quality")
        await page.click("text=English")
        await page.wait_for_selector("text=Sign out")
        assert await page.get_attribute("html", "lang") == "en"
    finally:
        await first.close()
    second = await browser.new_context()
    try:
        page = await second.new_page()
        await sign_in(page, console_url, identity, "quality", language=None)
        assert await page.get_attribute("html", "lang") == "en"
        await page.click("text=中文")
        await page.wait_for_selector("text=退出")
    finally:
        await second.close()


async def test_sign_out_ends_the_session_here_and_at_the_provider(
    console_url: str, identity: DevIdentityProvider, page: Any
) -> None:
    await sign_in(page, console_url, identity, "supply")
    await page.click("text=退出")
    # RP-initiated logout: the provider asks to confirm, then comes back to us.
    await page.click("button[name=logout]")
    await page.wait_for_url(f"{console_url}/auth/signed-out", timeout=30_000)
    assert "已退出" in await page.inner_text("main")
    await page.goto(f"{console_url}/")
    await page.wait_for_selector("#username", timeout=30_000)  # the provider asks again


async def test_the_start_page_and_the_signed_out_page_have_no_serious_accessibility_problems(
    console_url: str, identity: DevIdentityProvider, page: Any
) -> None:
    await sign_in(page, console_url, identity, "csc")
    assert await serious_accessibility_problems(page) == []
    await screenshot(page, "home")
    await page.goto(f"{console_url}/auth/signed-out")
    assert await serious_accessibility_problems(page) == []


async def test_a_session_holds_a_refresh_token_that_renews_the_access_token(
    console_stack: Stack, console_url: str, identity: DevIdentityProvider, page: Any
) -> None:
    """The console renews a person's short access token before it runs out (when is
    unit-tested: Session.needs_renewal); here, that the provider's refresh works."""
    await sign_in(page, console_url, identity, "technical")
    with sqlite3.connect(console_stack.var_dir / "console.db") as db:
        access, refresh = db.execute(
            "SELECT access_token, refresh_token FROM sessions WHERE subject = 'technical'"
            " ORDER BY created_at DESC"
        ).fetchone()
    assert refresh, "the provider issued no refresh token"
    renewed = await Identity(identity.issuer, WORKBENCH_CLIENT, resource=RESOURCE).renew(refresh)
    assert renewed.access_token != access
    claims = jwt.decode(renewed.access_token, options={"verify_signature": False})
    assert claims["sub"] == "technical" and claims["department"] == "technical"
    async with httpx.AsyncClient(timeout=10) as client:
        worklist = await client.get(
            f"{console_stack.url('routing')}/v1/worklists/department",
            headers={"Authorization": f"Bearer {renewed.access_token}"},
        )
    assert worklist.status_code == 200, worklist.text
