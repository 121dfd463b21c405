"""The console with the four services, the dev OpenID provider and a broker, as
processes; people sign in through the provider's real login page in Chromium."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tousu_common.devstack import ALL_SERVICES, CONSOLE, Stack, free_port
from tousu_common.mailsink import MailSink
from tousu_common.oidc_dev import (
    DevIdentityProvider,
    node_binary,
    provider_installed,
    seed_users,
)


@pytest.fixture(scope="package")
def console_port() -> int:
    return free_port()


def start_identity(state: Path, console_port: int) -> DevIdentityProvider:
    """The dev OpenID provider, with the console on ``console_port`` as its workbench."""
    if node_binary() is None or not provider_installed():
        pytest.fail("the dev OpenID provider is not installed: run scripts/ensure-oidc-dev.sh")
    console = f"http://127.0.0.1:{console_port}"
    provider = DevIdentityProvider(
        state,
        redirect_uris=[f"{console}/auth/callback"],
        post_logout_redirect_uris=[f"{console}/auth/signed-out"],
        test_issuance=True,
        log_path=state / "provider.log",
    )
    provider.start()
    return provider


def start_console_stack(
    var_dir: Path,
    identity: DevIdentityProvider,
    mail_port: int,
    console_port: int,
    extra_env: dict[str, str] | None = None,
) -> Stack:
    """The broker, the four services and the console, trusting ``identity``."""
    return Stack(
        var_dir=var_dir,
        services=ALL_SERVICES,
        ports={
            **{spec.name: free_port() for spec in ALL_SERVICES},
            CONSOLE.name: console_port,
        },
        mail_port=mail_port,
        identity=identity,
        extra_env={"TOUSU_KAFKA_TOPIC_PARTITIONS": "3", **(extra_env or {})},
    ).start(timeout=180)


@pytest.fixture(scope="package")
def identity(
    tmp_path_factory: pytest.TempPathFactory, console_port: int
) -> Iterator[DevIdentityProvider]:
    provider = start_identity(tmp_path_factory.mktemp("oidc"), console_port)
    yield provider
    provider.stop()


@pytest.fixture(scope="package")
def console_stack(
    identity: DevIdentityProvider,
    tmp_path_factory: pytest.TempPathFactory,
    mail_sink: MailSink,
    console_port: int,
) -> Iterator[Stack]:
    running = start_console_stack(
        tmp_path_factory.mktemp("console-stack"), identity, mail_sink.port, console_port
    )
    yield running
    running.stop()


@pytest.fixture(scope="package")
def console_url(console_stack: Stack) -> str:
    return console_stack.url(CONSOLE.name)


async def sign_in(
    page: Any,
    console_url: str,
    identity: DevIdentityProvider,
    user: str,
    path: str = "/",
    language: str | None = "zh",
) -> None:
    """Open ``path`` in the console as ``user``: the provider's login page, then back.

    The language is remembered per person, and other tests (other files on the same
    stack) switch it: by default the page is put in Chinese, so a test starts from
    the console's default whatever ran before (``language=None`` leaves it)."""
    await page.goto(f"{console_url}{path}")
    await page.fill("#username", user)
    await page.fill("#password", identity.password(user))
    await page.click("#sign-in")
    await page.wait_for_url(f"{console_url}{path}*", timeout=30_000)
    if language is not None:
        await use_language(page, language)


def token_of(identity: DevIdentityProvider, user: str) -> str:
    """An access token for a seed user, with that user's roles and department (for
    arranging data through the services' APIs; the pages themselves are used
    signed in through the provider)."""
    seed = next(u for u in seed_users() if u.username == user)
    return identity.test_token(user, list(seed.roles), seed.department)


def headers_of(identity: DevIdentityProvider, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_of(identity, user)}"}


async def new_complaint(
    stack: Stack, identity: DevIdentityProvider, **fields: Any
) -> dict[str, Any]:
    """A hotline complaint recorded by the seed agent through intake's API; returns
    intake's answer (``complaint_id``, ``reference``, …)."""
    body = {
        "title": "发动机漏油",
        "description": "停在路边，发动机漏油，请尽快处理",
        "customer_name": "王先生",
        "customer_phone": f"+86 138 {secrets.randbelow(10**8):08d}",
        **fields,
    }
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            f"{stack.url('intake')}/v1/complaints", json=body, headers=headers_of(identity, "agent")
        )
    assert response.status_code in (200, 201, 202), response.text
    return response.json()


#: Documents (PDFs) are printed by Chromium when asked for: seconds on a busy machine.
PDF_TIMEOUT_MS = 120_000

AXE = Path(__file__).resolve().parents[1] / "node" / "node_modules" / "axe-core" / "axe.min.js"


async def serious_accessibility_problems(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now (WCAG 2.1
    A/AA rules and best practices), each with its rule id and the offending nodes."""
    if not AXE.is_file():
        pytest.fail("axe-core is not installed: run scripts/ensure-oidc-dev.sh")
    await page.add_script_tag(content=AXE.read_text())
    result = await page.evaluate(
        """async () => (await axe.run(document, {
            runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa",
                                            "best-practice"]},
        })).violations"""
    )
    return [
        {
            "rule": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"]][:5],
        }
        for v in result
        if v["impact"] in ("serious", "critical")
    ]


async def screenshot(page: Any, name: str) -> Path:
    """A 1366×768 screenshot of the page as it is, kept as a test artifact in
    ``var/screenshots/<name>-<lang>.png``."""
    await page.set_viewport_size({"width": 1366, "height": 768})
    lang = "zh" if (await page.get_attribute("html", "lang") or "zh").startswith("zh") else "en"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}-{lang}.png"
    await page.screenshot(path=str(path))
    return path


SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


async def use_language(page: Any, language: str) -> None:
    """Switch the person's language with the page's own button, if not already on it
    (the choice is remembered per person, across tests and files)."""
    wanted = "zh-CN" if language == "zh" else "en"
    if await page.get_attribute("html", "lang") != wanted:
        await page.click("header form[action='/language'] button")
        # a selector, not a script: mid-navigation the new document has no root yet
        await page.wait_for_selector(f"html[lang={wanted}]", timeout=30_000)


async def live_open(page: Any, timeout: float = 20_000) -> None:
    """The page's live stream (SSE) is open; safe to call while the page still loads."""
    await page.wait_for_selector("body[data-live-open='1']", state="attached", timeout=timeout)


@asynccontextmanager
async def htmx_settled(page: Any, timeout: float = 20_000) -> AsyncIterator[None]:
    """Wait, after the block, until htmx has swapped in and settled the answer to a
    POST made in it: the response arriving is not enough, the old panel (an old
    error, a closed <details>, an input about to be replaced) is still in the page."""
    await page.evaluate(
        """() => {
            window.__tousuSettled = false;
            const done = (event) => {
                const config = event.detail && event.detail.requestConfig;
                if (config && config.verb === "post") {
                    window.__tousuSettled = true;
                    document.body.removeEventListener("htmx:afterSettle", done);
                }
            };
            document.body.addEventListener("htmx:afterSettle", done);
        }"""
    )
    yield
    await page.wait_for_function("window.__tousuSettled === true", timeout=timeout)


async def submit_panel_form(page: Any, form: str, timeout: float = 20_000) -> Any:
    """Submit an htmx panel form; its answer (200, errors included) is in the page."""
    async with (
        htmx_settled(page, timeout),
        page.expect_response(
            lambda r: r.request.method == "POST" and "/panels/" in r.url, timeout=timeout
        ) as answer,
    ):
        await page.click(f"{form} button[type=submit]")
    response = await answer.value
    assert response.status == 200, await response.text()
    return response
