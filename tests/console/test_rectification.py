"""Rectifications in the console, through the pages in Chromium on the real stack:

- the service-quality walk: CSC instructs after-sales (API); the department sees
  it in "My work", reports it done on the page; the CSC fails it with a reason;
  the department sees it back, redoes it; the CSC passes it; a manager waives
  another; a department that is not the recipient is offered no form and its
  forged post gets the service's 403 with nothing changed;
- the product walk: Supply adds a supplier on /suppliers and edits it; CSC issues
  a quality report (API); Quality turns it into a supplier notice on the report's
  page; Supply dispatches it (the supplier is mailed), enters the 8D answer and
  attaches evidence (downloaded back through the console); Quality fails it, Supply
  enters the reworked answer, Quality passes it; the PDFs come through the console.

Screenshots (1366×768) go to var/screenshots/.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.console.conftest import (
    PDF_TIMEOUT_MS,
    headers_of,
    new_complaint,
    serious_accessibility_problems,
    sign_in,
)
from tousu_common.devstack import Stack
from tousu_common.mailsink import MailSink
from tousu_common.oidc_dev import DevIdentityProvider
from tousu_common.testing.wait import eventually_async

pytestmark = pytest.mark.integration

SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 64
TIMEOUT = 30_000


def in_days(days: int) -> str:
    """A due date ``days`` after today where the company is (due dates are local)."""
    return (datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=days)).isoformat()


class Api:
    """The services' APIs as a seed user (to arrange data and read back what changed)."""

    def __init__(self, stack: Stack, identity: DevIdentityProvider) -> None:
        self.stack, self.identity = stack, identity
        self.http = httpx.AsyncClient(timeout=60)

    async def call(self, user: str, method: str, path: str, body: Any = None) -> Any:
        response = await self.http.request(
            method,
            f"{self.stack.url('rectification')}{path}",
            json=body,
            headers=headers_of(self.identity, user),
        )
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    async def rect(self, rid: str) -> dict[str, Any]:
        return await self.call("csc", "GET", f"/v1/rectifications/{rid}")

    async def open_case(self, **fields: Any) -> str:
        created = await new_complaint(self.stack, self.identity, **fields)
        cid = str(created["id"])

        async def case() -> Any:
            answer = await self.http.get(
                f"{self.stack.url('rectification')}/v1/cases/{cid}",
                headers=headers_of(self.identity, "csc"),
            )
            return answer.json() if answer.status_code == 200 else None

        await eventually_async(case, timeout=60, interval=0.2, what="the case is opened")
        return cid


@pytest.fixture
async def api(console_stack: Stack, identity: DevIdentityProvider) -> AsyncIterator[Api]:
    client = Api(console_stack, identity)
    yield client
    await client.http.aclose()


class People:
    """One browser context per person, signed in through the provider."""

    def __init__(self, browser: Any, console_url: str, identity: DevIdentityProvider) -> None:
        self.browser, self.url, self.identity = browser, console_url, identity
        self.contexts: list[Any] = []

    async def page(self, user: str, path: str = "/") -> Any:
        context = await self.browser.new_context(
            locale="zh-CN", viewport={"width": 1366, "height": 768}
        )
        self.contexts.append(context)
        page = await context.new_page()
        page.set_default_timeout(TIMEOUT)
        await sign_in(page, self.url, self.identity, user, path)
        return page

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()


@pytest.fixture
async def people(browser: Any, console_url: str, identity: DevIdentityProvider) -> Any:
    crowd = People(browser, console_url, identity)
    yield crowd
    await crowd.close()


async def shot(page: Any, screen: str, *, english: bool = True) -> None:
    """``<screen>-zh.png`` and, switching with the page's language button, ``-en``;
    axe-core finds no serious problem in either; the person is left in Chinese."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.set_viewport_size({"width": 1366, "height": 768})
    await page.wait_for_load_state("networkidle")
    await page.screenshot(path=str(SHOTS / f"{screen}-zh.png"), full_page=False)
    assert await serious_accessibility_problems(page) == [], screen
    if english:
        await page.click("header button:has-text('English')")
        await page.wait_for_selector("html[lang=en]")
        await page.wait_for_load_state("networkidle")
        assert await serious_accessibility_problems(page) == [], screen
        await page.screenshot(path=str(SHOTS / f"{screen}-en.png"), full_page=False)
        await page.click("header button:has-text('中文')")
        await page.wait_for_selector("html[lang=zh-CN]")


async def status_on_page(page: Any, status: str) -> None:
    await page.wait_for_selector(f"#rect-status[data-status={status}]")


async def csrf_of(page: Any) -> str:
    return await page.get_attribute("header input[name=csrf]", "value")


async def test_service_instruction_done_failed_redone_verified_and_one_waived(
    console_url: str, api: Api, people: People
) -> None:
    cid = await api.open_case(
        title="服务站师傅态度很差",
        description="维修站师傅态度恶劣，让我等待了三个小时，服务太差。",
    )
    rect = await api.call(
        "csc",
        "POST",
        f"/v1/cases/{cid}/instructions",
        {
            "department": "after_sales",
            "instruction": "调查服务站接待流程并整改",
            "due_date": in_days(2),
        },
    )
    rid, number = rect["rectification_id"], rect["number"]
    other = await api.call(
        "csc",
        "POST",
        f"/v1/cases/{cid}/instructions",
        {"department": "logistics", "instruction": "核查配件送达时间", "due_date": in_days(10)},
    )

    # Sales is not the recipient: no form, and a forged post is the service's 403.
    sales = await people.page("sales", f"/rectifications/{rid}")
    await sales.wait_for_selector("#rect-requirement")
    assert await sales.locator("#form-done").count() == 0
    forged = await sales.request.post(
        f"{console_url}/rectifications/{rid}/done",
        form={
            "csrf": await csrf_of(sales),
            "root_cause_category": "service",
            "root_cause": "伪造",
            "corrective_action": "伪造",
        },
    )
    assert forged.status == 403
    assert "没有权限" in await forged.text()
    unchanged = await api.rect(rid)
    assert unchanged["status"] == "in_progress" and unchanged["root_cause"] is None

    # After-sales finds it in "My work" (due soon), reports it done.
    dept = await people.page("after_sales", "/worklist")
    row = dept.locator(f"#worklist-department .work-item[data-id='{rid}']")
    await row.wait_for()
    assert "即将到期" in await row.inner_text()
    assert await dept.locator(f".work-item[data-id='{other['rectification_id']}']").count() == 0
    await shot(dept, "rect-worklist-department")
    await dept.goto(f"{console_url}/rectifications")
    await dept.click(f"a:text-is('{number}')")
    await dept.wait_for_selector("#form-done")
    await dept.select_option("#done-category", "service")
    await dept.fill("#done-root-cause", "周末排班不足，接待员培训不到位")
    await dept.fill("#done-corrective", "增派周末接待人员，完成服务礼仪培训")
    await dept.click("#form-done button[type=submit]")
    await status_on_page(dept, "awaiting_verification")
    assert await dept.locator("#form-done").count() == 0
    done = await api.rect(rid)
    assert done["status"] == "awaiting_verification"
    assert done["root_cause"] == "周末排班不足，接待员培训不到位"
    # The sales page, still open, says so when the live feed tells it the complaint moved
    # (console.js fires this DOM event for each change about the complaint).
    await sales.evaluate(
        "cid => document.body.dispatchEvent(new CustomEvent('tousu:reload-complaint-' + cid))", cid
    )
    await sales.wait_for_selector("#rect-changed[data-status=awaiting_verification]")

    # The CSC fails it with a reason.
    csc = await people.page("csc", f"/rectifications/{rid}")
    await csc.check("#verify-fail")
    await csc.fill("#verify-reason", "抽查仍有超时等待")
    await csc.click("#form-verify button[type=submit]")
    await status_on_page(csc, "in_progress")
    failed = await api.rect(rid)
    assert failed["status"] == "in_progress" and failed["last_failure_reason"] == "抽查仍有超时等待"

    # Back in the department's worklist, with the reason on the page; redone.
    await dept.goto(f"{console_url}/worklist")
    await dept.locator(f"#worklist-department .work-item[data-id='{rid}']").wait_for()
    await dept.goto(f"{console_url}/rectifications/{rid}")
    assert "抽查仍有超时等待" in await dept.inner_text("#rect-failure")
    await dept.select_option("#done-category", "service")
    await dept.fill("#done-root-cause", "排班系统未考虑高峰")
    await dept.fill("#done-corrective", "按预约量排班，超时自动提醒站长")
    await dept.click("#form-done button[type=submit]")
    await status_on_page(dept, "awaiting_verification")

    # Passed; the department's worklist no longer has it.
    await csc.goto(f"{console_url}/rectifications/{rid}")
    await csc.check("#verify-pass")
    await csc.fill("#verify-comment", "复查接待记录，已无超时")
    await csc.click("#form-verify button[type=submit]")
    await status_on_page(csc, "verified")
    verified = await api.rect(rid)
    assert verified["status"] == "verified" and verified["failed_verifications"] == 1
    timeline = await csc.inner_text("#rect-timeline")
    assert "验证不通过" in timeline and "验证通过" in timeline and "抽查仍有超时等待" in timeline
    await shot(csc, "rect-page")
    await dept.goto(f"{console_url}/worklist")
    await dept.wait_for_selector("#worklist-department p.muted, #worklist-department table")
    assert await dept.locator(f".work-item[data-id='{rid}']").count() == 0

    # The complaint page's panel lists both, with their status.
    await csc.goto(f"{console_url}/complaints/{cid}")
    panel = csc.locator(f"#panel-rectifications .panel-rect[data-id='{rid}']")
    await panel.wait_for()
    assert "已验证" in await panel.inner_text()
    assert await csc.locator("#panel-rectifications .panel-rect").count() == 2

    # A manager waives the other one, with a reason.
    manager = await people.page("manager", "/rectifications")
    await manager.click(f"a:text-is('{other['number']}')")
    assert await manager.locator("#form-verify").count() == 0
    await manager.fill("#waiver-reason", "物流已由其他项目整改")
    await manager.click("#form-waiver button[type=submit]")
    await status_on_page(manager, "waived")
    waived = await api.rect(other["rectification_id"])
    assert waived["status"] == "waived" and waived["waiver_reason"] == "物流已由其他项目整改"


async def test_supplier_notice_issued_dispatched_answered_failed_and_passed(
    console_url: str, api: Api, people: People, mail_sink: MailSink, tmp_path: Path
) -> None:
    cid = await api.open_case()
    tag = secrets.token_hex(3)
    email = f"zhao-{tag}@pump.example"

    # Supply adds the supplier on the register page, then edits it.
    supply = await people.page("supply", "/suppliers")
    await supply.fill("#new-code", f"S-{tag}")
    await supply.fill("#new-name", "无锡油泵有限公司")
    await supply.fill("#new-parts", "油泵, 密封圈")
    await supply.fill("#new-contact_name_0", "赵工")
    await supply.fill("#new-contact_email_0", email)
    await supply.click("#form-supplier-new button[type=submit]")
    await supply.wait_for_url("**/suppliers/*?saved=1")
    sid = supply.url.split("/suppliers/")[1].split("?")[0]
    await supply.fill("#edit-name", "无锡精工油泵有限公司")
    await supply.click("#form-supplier-edit button[type=submit]")
    await supply.wait_for_selector(".alert.ok")
    supplier = await api.call("supply", "GET", f"/v1/suppliers/{sid}")
    assert supplier["name"] == "无锡精工油泵有限公司" and supplier["version"] == 2
    assert supplier["contacts"] == [{"name": "赵工", "email": email, "phone": None, "role": None}]
    assert supplier["parts_supplied"] == ["油泵", "密封圈"]
    await supply.goto(f"{console_url}/suppliers?q={tag}")
    assert await supply.locator(".supplier-row").count() == 1
    await shot(supply, "suppliers")

    report = await api.call(
        "csc",
        "POST",
        f"/v1/cases/{cid}/quality-reports",
        {
            "product_model": "YC6L-280",
            "serial_or_batch": "SN-2027-0001",
            "failure_description": "油泵密封圈处漏油",
            "quantity_affected": 1,
        },
    )

    # Quality: the report waits in "My work"; its page turns it into a supplier notice.
    quality = await people.page("quality", "/worklist")
    item = quality.locator(f"#worklist-quality .work-item[data-id='{report['report_id']}']")
    await item.wait_for()
    await shot(quality, "rect-worklist-quality", english=False)
    await item.locator("a").first.click()
    await quality.wait_for_selector("#form-notice")
    assert "油泵密封圈处漏油" in await quality.inner_text("#report-failure")
    await shot(quality, "rect-quality-report")
    # A supplier notice without a supplier: the service's 422 names the field, nothing made.
    await quality.check("#notice-supplier")
    await quality.fill("#notice-requirement", "请于期限内提交8D报告")
    await quality.fill("#notice-due", in_days(14))
    await quality.click("#form-notice button[type=submit]")
    await quality.wait_for_selector(".alert.error")
    assert "supplier_id" in await quality.inner_text(".alert.error")
    assert await quality.input_value("#notice-requirement") == "请于期限内提交8D报告"
    found = await api.call("csc", "GET", f"/v1/cases/{cid}/rectifications")
    assert found["rectifications"] == []
    # An internal notice to production, then the supplier notice.
    await quality.check("#notice-internal")
    await quality.select_option("#notice-department", "production")
    await quality.fill("#notice-requirement", "排查装配工位密封圈压装力")
    await quality.click("#form-notice button[type=submit]")
    await status_on_page(quality, "in_progress")
    internal = await api.rect(quality.url.split("/rectifications/")[1].split("?")[0])
    assert internal["kind"] == "internal_notice" and internal["department"] == "production"
    production = await people.page("production", "/worklist")
    await production.locator(
        f"#worklist-department .work-item[data-id='{internal['rectification_id']}']"
    ).wait_for()
    await quality.goto(f"{console_url}/quality-reports/{report['report_id']}")
    await quality.check("#notice-supplier")
    await quality.select_option("#notice-supplier-id", sid)
    await quality.fill("#notice-requirement", "请于期限内提交8D报告")
    await quality.fill("#notice-due", in_days(14))
    await quality.click("#form-notice button[type=submit]")
    await status_on_page(quality, "awaiting_dispatch")
    rid = quality.url.split("/rectifications/")[1].split("?")[0]
    notice = await api.rect(rid)
    assert notice["kind"] == "supplier_notice" and notice["supplier_id"] == sid
    assert notice["report_id"] == report["report_id"]

    # Supply dispatches it from "My work": the supplier is mailed the 8D link.
    await supply.goto(f"{console_url}/worklist")
    await supply.locator(
        f"#worklist-supply .work-item[data-id='{rid}'][data-action=dispatch] a"
    ).first.click()
    await supply.click("#form-dispatch button[type=submit]")
    await status_on_page(supply, "awaiting_supplier")
    [mail] = await asyncio.to_thread(
        mail_sink.wait_for, lambda m: email in str(m["To"]), timeout=60
    )
    body = mail.get_body(("plain", "html")).get_content()
    supplier_link = re.search(rf"http://\S+/supplier/8d/{rid}/[A-Za-z0-9_-]+", body)
    assert supplier_link, body

    # Supply types in the 8D answer the supplier sent, and attaches its evidence.
    async def answer(root_cause: str) -> None:
        await supply.fill("#sr-containment", "已隔离在库油泵 120 件")
        await supply.select_option("#sr-category", "material")
        await supply.fill("#sr-root-cause", root_cause)
        await supply.fill("#sr-corrective", "改用氟橡胶密封圈并验证")
        await supply.fill("#sr-preventive", "来料检验增加耐温测试")
        await supply.click("#form-8d button[type=submit]")
        await status_on_page(supply, "awaiting_verification")

    await answer("密封圈材料耐温不足")
    evidence = tmp_path / "检测报告.png"
    evidence.write_bytes(PNG + b"\0" * 1_500_000)  # past the shared 1 MiB default body limit
    await supply.set_input_files("#evidence-files", str(evidence))
    await supply.click("#form-evidence button[type=submit]")
    link = supply.locator(".evidence-link")
    await link.wait_for()
    assert await link.inner_text() == "检测报告.png"
    download = await supply.request.get(f"{console_url}{await link.get_attribute('href')}")
    assert download.status == 200 and await download.body() == evidence.read_bytes()
    assert download.headers["x-content-type-options"] == "nosniff"

    # Quality fails it; it goes back to the supplier; the reworked answer passes.
    await quality.goto(f"{console_url}/rectifications/{rid}")
    await quality.check("#verify-fail")
    await quality.fill("#verify-reason", "缺少耐温试验数据")
    await quality.click("#form-verify button[type=submit]")
    await status_on_page(quality, "awaiting_supplier")
    assert (await api.rect(rid))["last_failure_reason"] == "缺少耐温试验数据"

    await supply.goto(f"{console_url}/rectifications/{rid}")
    assert "缺少耐温试验数据" in await supply.inner_text("#rect-failure")
    assert await supply.locator("#form-8d").count() == 1
    await shot(supply, "rect-page-forms")
    await supply.screenshot(path=str(SHOTS / "rect-page-forms-full-zh.png"), full_page=True)

    # Quality's worklist is open while the supplier answers, this time on its own 8D
    # page from the link it was mailed; the list refreshes itself on the live event.
    await quality.goto(f"{console_url}/rectifications")
    await quality.wait_for_selector("#rect-worklist")
    assert await quality.locator(f".work-item[data-id='{rid}']").count() == 0
    eight_d = await people.browser.new_page()
    people.contexts.append(eight_d.context)
    await eight_d.goto(supplier_link.group(0))
    await eight_d.fill("#containment", "已隔离在库油泵 120 件")
    await eight_d.fill("#root_cause", "密封圈材料耐温不足（附 150℃ 试验数据）")
    await eight_d.select_option("#root_cause_category", "material")
    await eight_d.fill("#corrective_action", "改用氟橡胶密封圈并验证")
    await eight_d.fill("#preventive_action", "来料检验增加耐温测试")
    await eight_d.click("#submit")
    await eight_d.wait_for_selector("#answered", timeout=TIMEOUT)
    await quality.evaluate("document.body.dispatchEvent(new CustomEvent('tousu:reload'))")
    await quality.locator(f".work-item[data-id='{rid}'][data-action=verify]").wait_for()
    assert quality.url.endswith("/rectifications")
    await shot(quality, "rect-worklist")
    await quality.goto(f"{console_url}/rectifications/{rid}")
    await quality.check("#verify-pass")
    await quality.fill("#verify-comment", "复测无渗漏")
    await quality.click("#form-verify button[type=submit]")
    await status_on_page(quality, "verified")
    final = await api.rect(rid)
    assert final["status"] == "verified" and final["failed_verifications"] == 1
    assert final["root_cause"] == "密封圈材料耐温不足（附 150℃ 试验数据）"
    await shot(quality, "rect-page-supplier")

    # The documents come through the console with the person's token.
    pdf = await quality.request.get(
        f"{console_url}/rectifications/{rid}/report.pdf", timeout=PDF_TIMEOUT_MS
    )
    assert pdf.status == 200 and (await pdf.body()).startswith(b"%PDF")
    eqr = await quality.request.get(
        f"{console_url}/quality-reports/{report['report_id']}/report.pdf",
        timeout=PDF_TIMEOUT_MS,
    )
    assert eqr.status == 200 and (await eqr.body()).startswith(b"%PDF")


def test_due_badges_follow_the_company_day() -> None:
    """Time left runs to the end of the due day in Shanghai; past it is overdue."""
    from tousu_console.api.rectifications import time_left, urgency

    now = datetime(2027, 3, 1, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai
    assert time_left("2027-03-01", now) == 59 * 60 + 59
    assert time_left("2027-02-28", now) < 0
    assert urgency(in_days(-1)) == "overdue" and urgency(None) == "none"
    assert urgency(in_days(1)) == "soon" and urgency(in_days(20)) == "ok"


def test_forms_offered_follow_the_services_transition_table() -> None:
    """Recipient department only for done; Supply for supplier notices; the CSC verifies
    service instructions, Quality product ones; managers waive anything open."""
    from types import SimpleNamespace

    from tousu_console.api.rectifications import offered

    def who(*roles: str, department: str | None = None) -> Any:
        return SimpleNamespace(roles=roles, department=department)

    instruction = {"kind": "service_instruction", "status": "in_progress", "department": "sales"}
    assert offered(who("department", department="sales"), instruction) == {"done"}
    assert offered(who("department", department="logistics"), instruction) == set()
    assert offered(who("csc", department="csc"), instruction) == set()
    assert offered(who("manager", department="csc"), instruction) == {"waiver"}
    checking = {**instruction, "status": "awaiting_verification"}
    assert offered(who("csc"), checking) == {"verification"}
    assert offered(who("quality", department="quality"), checking) == set()
    notice = {"kind": "supplier_notice", "status": "awaiting_dispatch", "department": None}
    assert offered(who("supply", department="supply"), notice) == {"dispatch"}
    answered = {**notice, "status": "awaiting_supplier"}
    assert offered(who("supply"), answered) == {"supplier_response", "evidence"}
    assert offered(who("quality"), {**notice, "status": "awaiting_verification"}) == {
        "verification"
    }
    assert offered(who("admin"), {**notice, "status": "verified"}) == set()
