"""Every complaint's page: the summary (intake's record, SLA clocks with time left,
attachments and the report PDF streamed through the console), one timeline merged
from intake, routing and rectification (and notify), the notifications sent; a
department that may not read routing's part sees the refusal as a note; an unknown
complaint is a clear 404 page."""

from __future__ import annotations

import struct
import uuid
import zlib
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.console.conftest import PDF_TIMEOUT_MS, headers_of, new_complaint, sign_in, use_language
from tousu_common.devstack import Stack
from tousu_common.oidc_dev import DevIdentityProvider
from tousu_common.testing.wait import eventually_async

pytestmark = pytest.mark.integration

SHOTS = Path("var/screenshots")
DEPARTMENTS = ("sales", "logistics", "technical", "production", "design", "after_sales")


def tiny_png() -> bytes:
    """A real 1×1 PNG (intake sniffs the bytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )


async def _get(client: httpx.AsyncClient, url: str, **kw: Any) -> Any:
    response = await client.get(url, **kw)
    return response.json() if response.status_code == 200 else None


@pytest.fixture(scope="module")
async def walked(console_stack: Stack, identity: DevIdentityProvider) -> dict[str, Any]:
    """A hotline complaint with an amendment carrying a photo, triaged and cased by
    the pipeline, with a quality report issued, and the customer's acknowledgement
    sent: everything each panel shows."""
    stack = console_stack
    serial = f"SN-{uuid.uuid4().hex[:8].upper()}"
    created = await new_complaint(
        stack,
        identity,
        product_model="TX-900 压缩机",
        serial_number=serial,
        customer_email=f"wang.{uuid.uuid4().hex[:6]}@example.com",
    )
    cid = created["id"]
    agent, csc = headers_of(identity, "agent"), headers_of(identity, "csc")
    png = tiny_png()
    async with httpx.AsyncClient(timeout=30) as client:
        amended = await client.post(
            f"{stack.url('intake')}/v1/complaints/{cid}/amendments",
            data={"text": "客户补充了照片", "kind": "call"},
            files={"files": ("leak.png", png, "image/png")},
            headers=agent,
        )
        assert amended.status_code == 201, amended.text
        triage = await eventually_async(
            lambda: _get(client, f"{stack.url('routing')}/v1/triage/{cid}", headers=csc),
            until=lambda t: t is not None and t.get("owner_department") and t.get("clocks"),
            timeout=90,
            what="routing triaged the complaint and started its clocks",
        )
        await eventually_async(
            lambda: _get(client, f"{stack.url('rectification')}/v1/cases/{cid}", headers=csc),
            until=lambda c: c is not None,
            timeout=90,
            what="rectification opened the case",
        )
        report = await client.post(
            f"{stack.url('rectification')}/v1/cases/{cid}/quality-reports",
            json={"failure_description": "压缩机漏油", "quantity_affected": 1},
            headers=csc,
        )
        assert report.status_code == 201, report.text
        notice = await client.post(
            f"{stack.url('rectification')}/v1/quality-reports/{report.json()['report_id']}/notices",
            json={
                "recipient": "internal",
                "department": "production",
                "requirement": "请改进密封圈装配",
                "due_date": "2027-02-15",
            },
            headers=headers_of(identity, "quality"),
        )
        assert notice.status_code == 201, notice.text
        instructed = await client.post(
            f"{stack.url('rectification')}/v1/cases/{cid}/instructions",
            json={
                "department": "logistics",
                "instruction": "请检查运输包装",
                "due_date": "2027-02-15",
            },
            headers=csc,
        )
        assert instructed.status_code == 201, instructed.text
        notes = await eventually_async(
            lambda: _get(
                client,
                f"{stack.url('notify')}/v1/notifications",
                params={"complaint_id": cid},
                headers=csc,
            ),
            until=lambda ns: (
                ns and any(n["template"] == "acknowledgement" and n["status"] == "sent" for n in ns)
            ),
            timeout=90,
            what="notify sent the customer's acknowledgement",
        )
    return {
        "id": cid,
        "reference": created["reference"],
        "serial": serial,
        "department": triage["owner_department"],
        "report": report.json(),
        "notice": notice.json(),
        "png": png,
        "notifications": notes,
    }


def _shot_path(name: str) -> str:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return str(SHOTS / name)


async def _shot(page: Any, name: str) -> None:
    await page.screenshot(path=_shot_path(name), full_page=False)


async def test_the_page_shows_summary_clocks_timeline_and_notifications(
    console_url: str, identity: DevIdentityProvider, page: Any, walked: dict[str, Any]
) -> None:
    cid = walked["id"]
    await page.set_viewport_size({"width": 1366, "height": 768})
    await sign_in(page, console_url, identity, "csc", path=f"/complaints/{cid}")
    await use_language(page, "zh")

    # the header: reference, status badge, owner department
    header = page.locator("#complaint-header")
    assert walked["reference"] in await header.inner_text()
    owner = header.locator(".owner-department")
    assert await owner.get_attribute("data-code") == walked["department"]
    assert await owner.inner_text() != walked["department"]  # its name, not the code
    assert await header.locator(".badge[data-status]").get_attribute("data-status") in (
        "awaiting_resolution",
        "received",
    )

    # the summary: intake's record, clocks with time left, the photo, the report PDF
    summary = page.locator("#panel-summary")
    await summary.locator(".customer-name").wait_for(timeout=30_000)
    assert "王先生" in await summary.locator(".customer-name").inner_text()
    assert await summary.locator(".product").inner_text() == "TX-900 压缩机"
    assert await summary.locator(".serial").inner_text() == walked["serial"]
    clocks = summary.locator("tr.clock")
    assert await clocks.count() == 2
    for text in await clocks.all_inner_texts():
        assert "剩余" in text, text  # running, not overdue: time left shown
    assert "首次响应" in await clocks.first.inner_text()
    photo = summary.locator("ul.attachments a", has_text="leak.png")
    download = await page.request.get(console_url + await photo.get_attribute("href"))
    assert download.status == 200 and await download.body() == walked["png"]
    report_link = summary.locator("ul.documents a", has_text=walked["report"]["number"])
    pdf = await page.request.get(
        console_url + await report_link.get_attribute("href"), timeout=PDF_TIMEOUT_MS
    )
    assert pdf.status == 200 and (await pdf.body()).startswith(b"%PDF")
    assert pdf.headers["content-type"] == "application/pdf"
    notice_link = summary.locator("ul.documents a", has_text=walked["notice"]["number"])
    notice_pdf = await page.request.get(
        console_url + await notice_link.get_attribute("href"), timeout=PDF_TIMEOUT_MS
    )
    assert notice_pdf.status == 200 and (await notice_pdf.body()).startswith(b"%PDF")

    # one timeline: intake, routing, rectification, notify in order, newest last
    timeline = page.locator("#panel-timeline ol.timeline")
    await timeline.locator("li[data-kind='case.case.opened']").wait_for(timeout=30_000)
    kinds = [await li.get_attribute("data-kind") for li in await timeline.locator("li").all()]
    instants = [await t.get_attribute("datetime") for t in await timeline.locator("li time").all()]
    assert instants == sorted(instants, key=datetime.fromisoformat)
    assert kinds[0] == "intake.received"
    assert (
        kinds.index("intake.received")
        < kinds.index("routing.rules")
        < kinds.index("case.case.opened")
    )
    assert "intake.amended" in kinds and "notify.sent" in kinds
    assert kinds.index("case.case.opened") < kinds.index("rectification.quality_report")
    assert "rectification.instruct" in kinds and "rectification.issue_notice" in kinds
    sources = {await li.get_attribute("data-source") for li in await timeline.locator("li").all()}
    assert {"intake", "routing", "rectification", "notify"} <= sources
    assert await page.locator("#panel-timeline .missing").count() == 0

    # notifications sent: the customer's acknowledgement
    ack = page.locator(
        "#panel-notifications tr.notification[data-template='acknowledgement'][data-status='sent']"
    )
    await ack.first.wait_for(timeout=30_000)
    assert "已发送" in await ack.first.inner_text()
    assert "customer" in await ack.first.inner_text()
    await _shot(page, "complaint-page-zh.png")
    await page.locator("#panel-timeline").scroll_into_view_if_needed()
    await _shot(page, "complaint-timeline-zh.png")

    await use_language(page, "en")
    await page.locator("#panel-summary tr.clock").first.wait_for(timeout=30_000)
    assert "left" in await page.locator("#panel-summary tr.clock").first.inner_text()
    await page.locator("#panel-notifications tr.notification").first.wait_for(timeout=30_000)
    await page.locator("#panel-timeline li").first.wait_for(timeout=30_000)
    await _shot(page, "complaint-page-en.png")
    await use_language(page, "zh")


async def test_a_live_reload_keeps_open_the_form_a_user_opened(
    console_url: str, identity: DevIdentityProvider, page: Any, walked: dict[str, Any]
) -> None:
    """Any change to the complaint (a mail sent about it, a clock) reloads its panels
    from the server; a form the CSC user has just opened stays open to be filled in
    (once they type, the panel holds reloads back until they submit)."""
    cid = walked["id"]
    await page.set_viewport_size({"width": 1366, "height": 900})
    await sign_in(page, console_url, identity, "csc", path=f"/complaints/{cid}")
    for language in ("zh", "en"):
        await use_language(page, language)
        more = page.locator("#panel-case details.csc-more[id]:has(textarea)").first
        await more.wait_for(state="attached", timeout=30_000)
        await more.locator("summary").click()
        await page.evaluate(
            """(cid) => {
                 window.__swaps = 0;
                 document.addEventListener('htmx:afterSwap', (e) => {
                   if (e.detail.target.id === 'panel-case') window.__swaps += 1;
                 });
                 document.body.dispatchEvent(new CustomEvent('tousu:reload-complaint-' + cid));
               }""",
            cid,
        )
        await page.wait_for_function("window.__swaps >= 1", timeout=30_000)

        assert await more.evaluate("details => details.open"), language
        await more.scroll_into_view_if_needed()
        await _shot(page, f"complaint-form-kept-open-{language}.png")
        field = more.locator("textarea").first
        await field.fill("客户要求上门检查，周五下午", timeout=5_000)
        assert await field.input_value() == "客户要求上门检查，周五下午"
    await use_language(page, "zh")


async def test_another_department_gets_routings_refusal_as_a_note_and_the_rest_of_the_page(
    console_url: str, identity: DevIdentityProvider, page: Any, walked: dict[str, Any]
) -> None:
    other = next(d for d in DEPARTMENTS if d != walked["department"])
    cid = walked["id"]
    await sign_in(page, console_url, identity, other, path=f"/complaints/{cid}")
    await use_language(page, "zh")
    summary = page.locator("#panel-summary")
    await summary.locator(".customer-name").wait_for(timeout=30_000)
    # routing refuses another department's complaint: its part is a note, not a page
    refused = summary.locator(".missing[data-service='routing'][data-status='403']")
    assert "没有权限" in await refused.inner_text()
    assert "another department" in await refused.inner_text()
    assert await summary.locator("tr.clock").count() == 0
    assert "尚无时限" not in await summary.inner_text()  # refused, not "not yet"
    timeline = page.locator("#panel-timeline")
    await timeline.locator(".missing[data-service='routing']").wait_for(timeout=30_000)
    kinds = [await li.get_attribute("data-kind") for li in await timeline.locator("li").all()]
    # intake, rectification and notify answer a member of staff: still shown
    assert kinds[0] == "intake.received" and "case.case.opened" in kinds
    assert not any(k.startswith("routing.") for k in kinds)
    # the header still names what it can: the case's owner department
    assert (
        await page.locator("#complaint-header .owner-department").get_attribute("data-code")
        == walked["department"]
    )


async def test_an_unknown_complaint_is_a_clear_404_page_and_a_reference_goes_to_its_page(
    console_url: str, identity: DevIdentityProvider, page: Any, walked: dict[str, Any]
) -> None:
    await sign_in(page, console_url, identity, "agent")
    await use_language(page, "zh")
    missing = await page.goto(f"{console_url}/complaints/{uuid.uuid4()}")
    assert missing is not None and missing.status == 404
    assert "找不到这个投诉" in await page.inner_text("main")
    assert await page.locator("main a[href='/search']").count() == 1
    garbage = await page.goto(f"{console_url}/complaints/not-a-complaint")
    assert garbage is not None and garbage.status == 404
    assert "not-a-complaint" in await page.inner_text("main")
    nobody = await page.goto(f"{console_url}/complaints/TS-{date.today().year + 2}-999999")
    assert nobody is not None and nobody.status == 404
    await page.goto(f"{console_url}/complaints/{walked['reference'].lower()}")
    await page.wait_for_url(f"{console_url}/complaints/{walked['id']}", timeout=30_000)
    assert walked["reference"] in await page.inner_text("h1")


async def test_a_withdrawn_complaint_shows_its_status_the_withdrawal_and_stopped_clocks(
    console_url: str, console_stack: Stack, identity: DevIdentityProvider, page: Any
) -> None:
    stack = console_stack
    created = await new_complaint(stack, identity, title="客户要撤销")
    cid = created["id"]
    csc = headers_of(identity, "csc")
    async with httpx.AsyncClient(timeout=30) as client:
        await eventually_async(
            lambda: _get(client, f"{stack.url('rectification')}/v1/cases/{cid}", headers=csc),
            until=lambda c: c is not None,
            timeout=90,
            what="rectification opened the case",
        )
        withdrawn = await client.post(
            f"{stack.url('intake')}/v1/complaints/{cid}/withdraw",
            json={"reason": "问题已自行解决"},
            headers=headers_of(identity, "agent"),
        )
        assert withdrawn.status_code == 200, withdrawn.text
        await eventually_async(
            lambda: _get(client, f"{stack.url('rectification')}/v1/cases/{cid}", headers=csc),
            until=lambda c: c is not None and c["status"] == "withdrawn",
            timeout=90,
            what="rectification closed the case as withdrawn",
        )
        await eventually_async(
            lambda: _get(client, f"{stack.url('routing')}/v1/triage/{cid}", headers=csc),
            until=lambda t: t is not None and not t["open"],
            timeout=90,
            what="routing stopped the complaint's clocks",
        )
    await sign_in(page, console_url, identity, "csc", path=f"/complaints/{cid}")
    await use_language(page, "zh")
    badge = page.locator("#complaint-header .badge[data-status]")
    assert await badge.get_attribute("data-status") == "withdrawn"
    assert await badge.inner_text() == "已撤销"
    line = page.locator("#panel-timeline li[data-kind='case.complaint.withdrawn']")
    await line.wait_for(timeout=30_000)
    assert "问题已自行解决" in await line.inner_text()
    clocks = page.locator("#panel-summary tr.clock")
    await clocks.first.wait_for(timeout=30_000)
    for text in await clocks.all_inner_texts():
        assert "剩余" not in text and "已超时" not in text, text
