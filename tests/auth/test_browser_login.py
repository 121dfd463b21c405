"""A person signs in with the dev OpenID provider in Chromium (authorization code +
PKCE, the loopback redirect `tousu login` uses), calls routing and rectification
with the access token, and signs out (RP-initiated logout)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import jwt
import pytest

from tousu_common.devstack import Stack
from tousu_common.oidc_dev import CLI_CLIENT, CLI_PORTS, RESOURCE, DevIdentityProvider
from tousu_common.signin import Provider, SignInError, Tokens, login_with_browser, logout_url

pytestmark = pytest.mark.integration


async def sign_in(page: Any, identity: DevIdentityProvider, username: str, password: str) -> Tokens:
    """`tousu login`'s flow, with Chromium as the person's browser."""
    opened: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    loop = asyncio.get_running_loop()

    def open_browser(url: str) -> bool:
        loop.call_soon_threadsafe(opened.set_result, url)
        return True

    login = asyncio.create_task(
        asyncio.to_thread(
            login_with_browser,
            identity.issuer,
            CLI_CLIENT,
            CLI_PORTS,
            resource=RESOURCE,
            timeout=60,
            open_browser=open_browser,
        )
    )
    url = await asyncio.wait_for(opened, 30)
    assert "code_challenge_method=S256" in url and "code_challenge=" in url
    await page.goto(url)
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("#sign-in")
    tokens = await asyncio.wait_for(login, 60)
    await page.wait_for_load_state()
    assert "Signed in" in await page.content()
    return tokens


async def test_quality_signs_in_calls_routing_and_rectification_and_signs_out(
    oidc_stack: Stack, identity: DevIdentityProvider, page: Any
) -> None:
    tokens = await sign_in(page, identity, "quality", identity.password("quality"))
    access = jwt.decode(tokens.access_token, options={"verify_signature": False})
    assert access["sub"] == "quality" and access["aud"] == "tousu"
    assert access["roles"] == ["quality"] and access["department"] == "quality"
    assert tokens.id_claims["sub"] == "quality"

    headers = {"Authorization": f"Bearer {tokens.access_token}"}
    async with httpx.AsyncClient(timeout=10) as client:
        worklist = await client.get(
            f"{oidc_stack.url('routing')}/v1/worklists/department", headers=headers
        )
        assert worklist.status_code == 200, worklist.text
        rectifications = await client.get(
            f"{oidc_stack.url('rectification')}/v1/worklist", headers=headers
        )
        assert rectifications.status_code == 200, rectifications.text
        # The quality department may not change routing's rules (admin only).
        rules = await client.get(f"{oidc_stack.url('routing')}/v1/rules", headers=headers)
        assert rules.status_code == 403

    # Sign out at the provider (RP-initiated logout), then a new sign-in asks again.
    provider = Provider.discover(identity.issuer)
    await page.goto(logout_url(provider, CLI_CLIENT, tokens.id_token))
    await page.click("button[name=logout]")
    await page.wait_for_load_state()
    assert "Sign-out Success" in await page.content()

    again = await sign_in_page_after_logout(page, provider)
    assert again, "after signing out, the provider must ask for the password again"


async def sign_in_page_after_logout(page: Any, provider: Provider) -> bool:
    from tousu_common.signin import start

    request = start(provider, CLI_CLIENT, f"http://127.0.0.1:{CLI_PORTS[-1]}/callback")
    await page.goto(request.url)
    return await page.locator("#password").count() == 1


async def test_a_wrong_password_gets_no_token(identity: DevIdentityProvider, page: Any) -> None:
    loop = asyncio.get_running_loop()
    opened: asyncio.Future[str] = loop.create_future()
    login = asyncio.create_task(
        asyncio.to_thread(
            login_with_browser,
            identity.issuer,
            CLI_CLIENT,
            CLI_PORTS,
            resource=RESOURCE,
            timeout=5,
            open_browser=lambda url: loop.call_soon_threadsafe(opened.set_result, url),
        )
    )
    await page.goto(await asyncio.wait_for(opened, 30))
    await page.fill("#username", "quality")
    await page.fill("#password", "not-the-password")
    await page.click("#sign-in")
    await page.wait_for_selector("#error")
    with pytest.raises(SignInError, match="nobody came back"):
        await asyncio.wait_for(login, 30)


async def test_every_seeded_user_carries_their_role_and_department(
    identity: DevIdentityProvider, page: Any
) -> None:
    from tousu_common.oidc_dev import seed_users

    for user in [u for u in seed_users() if u.username in ("agent", "logistics", "admin")]:
        await page.context.clear_cookies()
        tokens = await sign_in(page, identity, user.username, identity.password(user.username))
        claims = jwt.decode(tokens.access_token, options={"verify_signature": False})
        assert claims["roles"] == list(user.roles)
        assert claims.get("department") == user.department
