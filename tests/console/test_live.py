"""Live pages: a change on the topics reaches the open pages of the people who may
see it within a moment, and nobody else's; a reconnect gets what it missed."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.console.conftest import live_open, new_complaint, sign_in
from tousu_common.devstack import CONSOLE, SERVICE_GRACEFUL_S, Stack
from tousu_common.oidc_dev import DevIdentityProvider
from tousu_common.testing.helpers import header, read_topic
from tousu_common.testing.wait import eventually_async

pytestmark = pytest.mark.integration

SCREENSHOTS = Path("var/screenshots")
#: Texts the shipped routing rules send to a department (default-rules.yaml).
TO_SALES = {"title": "发票开错了", "description": "上个月的发票金额开错了，要求退款并重新开票"}
TO_LOGISTICS = {"title": "发货延迟", "description": "订的配件发货延迟两周了，一直没到货"}


@dataclass
class SseClient:
    """A raw Server-Sent Events reader of ``/live`` with a person's session cookie."""

    url: str
    cookie: str
    last_event_id: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    comments: int = 0
    status: int | None = None
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    async def _read(self) -> None:
        headers = {"Accept": "text/event-stream"}
        if self.last_event_id is not None:
            headers["Last-Event-ID"] = self.last_event_id
        async with (
            httpx.AsyncClient(
                timeout=httpx.Timeout(10, read=60), cookies={"tousu_console": self.cookie}
            ) as client,
            client.stream("GET", f"{self.url}/live", headers=headers) as response,
        ):
            self.status = response.status_code
            self.content_type = response.headers.get("content-type", "")
            self.opened.set()
            frame: dict[str, str] = {}
            async for line in response.aiter_lines():
                if line.startswith(":"):
                    self.comments += 1
                elif line == "":
                    if "data" in frame:
                        self.events.append(
                            {
                                "id": frame.get("id"),
                                "event": frame.get("event"),
                                **json.loads(frame["data"]),
                            }
                        )
                    frame = {}
                else:
                    name, _, value = line.partition(":")
                    frame[name] = value.removeprefix(" ")

    async def __aenter__(self) -> SseClient:
        self._task = asyncio.create_task(self._read())
        opened = asyncio.create_task(self.opened.wait())
        await asyncio.wait({self._task, opened}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        opened.cancel()
        if self._task.done():
            self._task.result()  # raises what went wrong
        assert self.opened.is_set(), "the stream did not open within 30 s"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
            await self._task

    async def wait_for(self, predicate: Any, timeout: float = 20) -> dict[str, Any]:
        async def matching() -> dict[str, Any] | None:
            found = next((event for event in self.events if predicate(event)), None)
            if found is None:
                assert self._task is not None and not self._task.done(), "the stream ended"
            return found

        event: dict[str, Any] = await eventually_async(
            matching, timeout=timeout, what=lambda: f"no such event; got {self.events}"
        )
        return event

    def about(self, complaint_id: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("complaint_id") == complaint_id]


async def session_cookie(
    browser: Any, console_url: str, identity: DevIdentityProvider, user: str
) -> str:
    """Sign ``user`` in through the provider's page; return the console's session cookie."""
    context = await browser.new_context(locale="zh-CN")
    try:
        page = await context.new_page()
        await sign_in(page, console_url, identity, user)
        cookies = {c["name"]: c["value"] for c in await context.cookies()}
        return cookies["tousu_console"]
    finally:
        await context.close()


async def triage_record(stack: Stack, complaint_id: str) -> Any:
    """The ``complaint.triaged`` record of this complaint on the topic."""

    def found(records: list[Any]) -> bool:
        return any(
            header(r, "ce_type") == "complaint.triaged" and r.key == complaint_id.encode()
            for r in records
        )

    records = await read_topic(stack.bootstrap or "", "tousu.routing", until=found, timeout=60)
    return next(
        r
        for r in records
        if header(r, "ce_type") == "complaint.triaged" and r.key == complaint_id.encode()
    )


async def test_the_console_is_ready_with_its_live_consumer_assigned(
    console_url: str, identity: DevIdentityProvider
) -> None:
    manager = {"Authorization": f"Bearer {identity.test_token('ops', ['manager'], 'csc')}"}
    async with httpx.AsyncClient(timeout=10) as client:
        ready = (await client.get(f"{console_url}/readyz")).json()
        status = await client.get(f"{console_url}/v1/ops/status", headers=manager)
    assert ready["checks"]["consumer:tousu-console"] == "assigned"
    assert status.status_code == 200, status.text
    [feed] = [c for c in status.json()["consumers"] if c["group_id"] == "tousu-console"]
    assert feed["assigned"] is True
    assert set(feed["topics"]) == {
        "tousu.complaints",
        "tousu.routing",
        "tousu.cases",
        "tousu.notifications",
    }


async def test_a_department_page_reloads_when_its_complaint_is_triaged_and_others_hear_nothing(
    console_stack: Stack, console_url: str, identity: DevIdentityProvider, browser: Any
) -> None:
    logistics_cookie = await session_cookie(browser, console_url, identity, "logistics")
    context = await browser.new_context(locale="zh-CN")
    try:
        page = await context.new_page()
        await page.set_viewport_size({"width": 1366, "height": 768})
        await sign_in(page, console_url, identity, "sales", path="/worklist")
        await live_open(page, timeout=20_000)
        await page.evaluate(
            """() => {
                 window.__heard = []; window.__all = []; window.__reloads = [];
                 document.body.addEventListener('tousu:department-sales', (e) => {
                   window.__heard.push({at: Date.now(), id: e.detail.id, type: e.detail.type,
                                        complaint: e.detail.complaint_id});
                 });
                 document.body.addEventListener('tousu:change',
                   (e) => window.__all.push(e.detail.complaint_id));
                 document.body.addEventListener('htmx:beforeRequest', (e) => {
                   if (e.detail.pathInfo.requestPath.startsWith('/worklist/department'))
                     window.__reloads.push(Date.now());
                 });
               }"""
        )
        async with SseClient(console_url, logistics_cookie) as logistics:
            assert logistics.status == 200 and logistics.content_type.startswith(
                "text/event-stream"
            )
            complaint = await new_complaint(console_stack, identity, **TO_SALES)
            cid = complaint["id"]
            record = await triage_record(console_stack, cid)
            heard = await page.wait_for_function(
                """(cid) => (window.__heard || []).find(
                       h => h.complaint === cid && h.type === 'complaint.triaged')""",
                arg=cid,
                timeout=20_000,
            )
            heard = await heard.json_value()
            latency_ms = heard["at"] - record.timestamp
            print(
                f"\nlive latency (triage event on the topic -> page's DOM event): {latency_ms} ms"
            )
            assert latency_ms < 2000, latency_ms
            # the page's marker advanced to that change, and the department section reloaded
            assert int(await page.evaluate("document.body.dataset.lastChange")) >= heard["id"]
            await page.wait_for_function(
                "(at) => window.__reloads.some(r => r >= at)", arg=record.timestamp, timeout=5_000
            )
            # ... and the complaint is in the department's open list, without a reload
            row = page.locator(f"#worklist-complaints tr[data-complaint='{cid}']")
            await row.wait_for(timeout=10_000)
            shown_ms = await page.evaluate("Date.now()") - record.timestamp
            print(f"triage event on the topic -> row in the department's list: {shown_ms} ms")
            assert complaint["reference"] in await row.inner_text()
            assert shown_ms < 5000, shown_ms
            os.makedirs(SCREENSHOTS, exist_ok=True)
            await page.screenshot(path=str(SCREENSHOTS / "live-worklist-zh.png"))

            # A complaint of logistics reaches the logistics stream, and not the sales page.
            other = await new_complaint(console_stack, identity, **TO_LOGISTICS)
            await logistics.wait_for(
                lambda e: e.get("complaint_id") == other["id"] and e["type"] == "complaint.triaged",
                timeout=60,
            )
            # events of one stream come in order: the sales complaint came long before
            assert logistics.about(cid) == []
            assert all(e.get("department") == "logistics" for e in logistics.events)
            assert other["id"] not in await page.evaluate("window.__all")
    finally:
        await context.close()


async def test_a_reconnect_with_last_event_id_gets_what_the_page_missed(
    console_stack: Stack, console_url: str, identity: DevIdentityProvider, browser: Any
) -> None:
    cookie = await session_cookie(browser, console_url, identity, "sales")
    async with SseClient(console_url, cookie) as watcher:  # stays open throughout
        first = await new_complaint(console_stack, identity, **TO_SALES)
        seen = await watcher.wait_for(
            lambda e: e.get("complaint_id") == first["id"] and e["type"] == "complaint.triaged",
            timeout=60,
        )
        # "the page" is away now; meanwhile another sales complaint is triaged
        missed = await new_complaint(console_stack, identity, **TO_SALES)
        await watcher.wait_for(
            lambda e: e.get("complaint_id") == missed["id"] and e["type"] == "complaint.triaged",
            timeout=60,
        )
        async with SseClient(console_url, cookie, last_event_id=str(seen["id"])) as back:
            replayed = await back.wait_for(
                lambda e: (
                    e.get("complaint_id") == missed["id"] and e["type"] == "complaint.triaged"
                ),
                timeout=5,
            )
            ids = [int(e["id"]) for e in back.events]
            assert ids == sorted(ids) and min(ids) > int(seen["id"])
            assert (
                replayed["department"] == "sales" and replayed["reference"] == missed["reference"]
            )
            assert all(e.get("department") == "sales" for e in back.events)
            assert not [e for e in back.events if e["type"] == "resync"]
        # without Last-Event-ID a new stream starts from now: no history (a replay
        # would come before the next change)
        async with SseClient(console_url, cookie) as fresh:
            later = await new_complaint(console_stack, identity, **TO_SALES)
            await fresh.wait_for(lambda e: e.get("complaint_id") == later["id"], 60)
            assert fresh.about(missed["id"]) == []
            assert fresh.about(first["id"]) == []


async def test_live_needs_a_session(console_url: str) -> None:
    async with httpx.AsyncClient(timeout=10, follow_redirects=False) as client:
        response = await client.get(f"{console_url}/live")
        assert response.status_code == 303
        assert response.headers["location"].startswith("/auth/login")
    async with httpx.AsyncClient(
        timeout=10, follow_redirects=False, cookies={"tousu_console": "forged"}
    ) as client:
        response = await client.get(f"{console_url}/live")
        assert response.status_code == 303


async def test_an_open_stream_does_not_hold_up_shutdown_and_changes_resume_after_a_restart(
    console_stack: Stack, console_url: str, identity: DevIdentityProvider, browser: Any
) -> None:
    """SIGTERM with a page's stream open: the stream ends and the console exits at once
    (not after uvicorn's graceful timeout). What is triaged while it is down reaches the
    page that reconnects to the new process with its Last-Event-ID."""
    cookie = await session_cookie(browser, console_url, identity, "sales")
    async with SseClient(console_url, cookie) as before:
        first = await new_complaint(console_stack, identity, **TO_SALES)
        seen = await before.wait_for(
            lambda e: e.get("complaint_id") == first["id"] and e["type"] == "complaint.triaged",
            timeout=60,
        )
        process = console_stack.processes[CONSOLE.name]
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(process.wait, 20)
        took = time.monotonic() - started
        print(f"\nconsole stopped {took:.2f} s after SIGTERM with a live stream open")
        # uvicorn raises the signal again once it has shut down cleanly
        assert process.returncode in (0, -signal.SIGTERM), process.returncode
        log = console_stack.log_path(CONSOLE.name).read_text(errors="replace")
        last = log[log.rindex('"service stopping"') :]
        assert '"service stopped"' in last and '"clean": true' in last, last[-3000:]
        assert took < SERVICE_GRACEFUL_S, took
        assert before._task is not None
        await asyncio.wait_for(asyncio.wait({before._task}), 5)  # the stream ended too
    missed = await new_complaint(console_stack, identity, **TO_SALES)
    await triage_record(console_stack, missed["id"])
    console_stack.start_service(CONSOLE.name)
    await asyncio.to_thread(console_stack.wait_ready, 120, [CONSOLE.name])
    async with SseClient(console_url, cookie, last_event_id=str(seen["id"])) as after:
        resumed = await after.wait_for(
            lambda e: e.get("complaint_id") == missed["id"] and e["type"] == "complaint.triaged",
            timeout=30,
        )
        assert int(resumed["id"]) > int(seen["id"]) and resumed["department"] == "sales"
        # the new process cannot know what else the page missed: it says "reload all"
        assert after.events[0]["type"] == "resync" and after.events[0]["id"] is None
