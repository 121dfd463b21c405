"""Issue 15's two acceptance walks, done entirely through the console in Chromium by
people signed in as their roles (one browser context each, signed in through the
provider's login page); the supplier answers on its 8D page from the link it was
mailed. Each step asserts what the page shows; the end state is read back through
the services' APIs. While one person acts, another person's open "My work" page
takes the change in live (the /live feed), without being reloaded.

1. Product quality: the agent takes the call (a new customer, product and serial)
   and reads out the reference; the CSC, its work list open, sees the new product
   case come in, opens it, records the first response, proposes a plan, records
   the customer's acceptance and issues the External Quality Information Report;
   Quality (its worklist open) issues a supplier
   notice; Supply (its worklist open) dispatches it; the supplier answers 8D;
   Quality fails it with a reason, the supplier reworks it, Quality passes it;
   the CSC marks the plan's action done and records a satisfied callback: the
   case closes.
2. Service quality: the CSC instructs a department from the case panel (the
   department's worklist open); the department reports it done; the CSC fails it
   with a reason; the department redoes it; the CSC passes it.

Screenshots (1366×768, zh) of the key steps go to var/screenshots/walk-*.png.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.console.conftest import (
    headers_of,
    live_open,
    new_complaint,
    screenshot,
    sign_in,
    submit_panel_form,
    use_language,
)
from tousu_common.devstack import Stack
from tousu_common.mailsink import MailSink
from tousu_common.oidc_dev import DevIdentityProvider
from tousu_common.testing.wait import eventually_async

pytestmark = pytest.mark.integration

WAIT = 45_000  # ms: the pipeline is asynchronous and the machine is shared
LIVE = 20_000  # ms: an open page must take a change in within this, without a reload
TIMINGS: dict[str, float] = {}


# -- people and services -------------------------------------------------------------


class People:
    """One browser context per person, each signed in through the provider's page."""

    def __init__(self, browser: Any, console_url: str, identity: DevIdentityProvider) -> None:
        self.browser, self.url, self.identity = browser, console_url, identity
        self.contexts: list[Any] = []

    async def page(self, user: str | None, path: str = "/") -> Any:
        context = await self.browser.new_context(
            locale="zh-CN", viewport={"width": 1366, "height": 768}
        )
        self.contexts.append(context)
        page = await context.new_page()
        page.set_default_timeout(WAIT)
        if user is not None:
            await sign_in(page, self.url, self.identity, user, path)
            # the language is remembered per person: another file may have left English
            await use_language(page, "zh")
        return page

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()


@pytest.fixture
async def people(
    browser: Any, console_url: str, identity: DevIdentityProvider
) -> AsyncIterator[People]:
    crowd = People(browser, console_url, identity)
    yield crowd
    await crowd.close()


class Services:
    """The services' APIs as the seed CSC: to read back what the pages changed."""

    def __init__(self, stack: Stack, identity: DevIdentityProvider) -> None:
        self.stack, self.identity = stack, identity
        self.http = httpx.AsyncClient(timeout=60)

    async def get(self, service: str, path: str, user: str = "csc") -> Any:
        answer = await self.http.get(
            f"{self.stack.url(service)}{path}", headers=headers_of(self.identity, user)
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    async def eventually(self, service: str, path: str, until: Any, what: str) -> Any:
        async def probe() -> Any:
            answer = await self.http.get(
                f"{self.stack.url(service)}{path}", headers=headers_of(self.identity, "csc")
            )
            return answer.json() if answer.status_code == 200 else None

        return await eventually_async(
            probe,
            until=lambda body: body is not None and until(body),
            timeout=90,
            interval=0.2,
            what=what,
        )

    async def case(self, cid: str) -> Any:
        return await self.get("rectification", f"/v1/cases/{cid}")

    async def rect(self, rid: str) -> Any:
        return await self.get("rectification", f"/v1/rectifications/{rid}")


@pytest.fixture
async def services(console_stack: Stack, identity: DevIdentityProvider) -> AsyncIterator[Services]:
    client = Services(console_stack, identity)
    yield client
    await client.http.aclose()


# -- page idioms ------------------------------------------------------------------------


async def keep_open(page: Any) -> None:
    """Mark the page's document (a reload or a navigation loses the mark) once its live
    stream is open: what it shows from now on came in over /live."""
    await live_open(page, timeout=WAIT)
    await page.evaluate("window.__walkKeptOpen = true")


async def appears_live(
    page: Any, selector: str, step: str, since: float, within: int = LIVE
) -> Any:
    """``selector`` shows up on the open ``page`` within ``within`` ms of ``since``
    (when the other person's action was answered), the page never reloaded."""
    item = page.locator(selector)
    await item.wait_for(timeout=within)
    TIMINGS[f"live: {step}"] = time.monotonic() - since
    assert await page.evaluate("window.__walkKeptOpen === true"), f"{step}: the page reloaded"
    return item


async def submit_panel(page: Any, form: str) -> None:
    """Submit a complaint-page panel form; the refreshed panel comes back (200)."""
    await submit_panel_form(page, form, timeout=WAIT)
    errors = await page.locator("#panel-case .alert.error").all_inner_texts()
    assert not errors, errors


async def case_status(page: Any, status: str) -> None:
    await page.wait_for_selector(f'#panel-case [data-status="{status}"]', timeout=WAIT)


async def rect_status(page: Any, status: str) -> None:
    await page.wait_for_selector(f"#rect-status[data-status={status}]", timeout=WAIT)


def rect_id_of(page: Any) -> str:
    return page.url.split("/rectifications/")[1].split("?")[0].split("#")[0]


async def answer_8d(page: Any, root_cause: str, corrective: str) -> None:
    """The supplier fills in its 8D page (the link from its mail) and sends it."""
    await page.wait_for_selector("#submit", timeout=WAIT)
    await page.fill("#containment", "已隔离在库及在途油泵共 86 件")
    await page.select_option("#root_cause_category", "material")
    await page.fill("#root_cause", root_cause)
    await page.fill("#corrective_action", corrective)
    await page.fill("#preventive_action", "来料检验增加耐温试验，每批抽检 5 件")
    await page.click("#submit")
    await page.wait_for_selector("#answered", timeout=WAIT)


async def timeline_kinds(page: Any, last: str) -> set[str]:
    """The kinds of entry on the complaint page's timeline once it shows ``last``."""
    await page.wait_for_selector(f"#panel-timeline li.entry[data-kind='{last}']", timeout=WAIT)
    kinds = await page.locator("#panel-timeline li.entry").evaluate_all(
        "items => items.map(i => i.dataset.kind)"
    )
    return set(kinds)


def a_phone() -> str:
    return f"+86 137 {secrets.randbelow(10**8):08d}"


def step(name: str, started: float) -> float:
    now = time.monotonic()
    TIMINGS[name] = now - started
    return now


@pytest.fixture(scope="module", autouse=True)
def print_timings() -> Any:
    yield
    if TIMINGS:
        print("\nwalk timings (s):")
        for name, seconds in TIMINGS.items():
            print(f"  {seconds:6.2f}  {name}")


# -- 1. the product-quality walk ---------------------------------------------------------


async def test_product_quality_walk_from_the_call_to_a_closed_case(
    console_url: str,
    people: People,
    services: Services,
    mail_sink: MailSink,
) -> None:
    began = at = time.monotonic()
    tag = secrets.token_hex(3)
    supplier_email = f"8d-{tag}@seal.example"

    # Supply keeps the supplier register: the pump's maker is added on /suppliers.
    supply = await people.page("supply", "/suppliers")
    await supply.fill("#new-code", f"W-{tag}")
    await supply.fill("#new-name", "温州密封件有限公司")
    await supply.fill("#new-parts", "油封, 密封垫")
    await supply.fill("#new-contact_name_0", "钱工")
    await supply.fill("#new-contact_email_0", supplier_email)
    await supply.click("#form-supplier-new button[type=submit]")
    await supply.wait_for_url("**/suppliers/*?saved=1", timeout=WAIT)
    supplier_id = supply.url.split("/suppliers/")[1].split("?")[0]
    at = step("supplier registered (Supply, /suppliers)", at)

    # The CSC has its rectification work open while the call comes in.
    csc = await people.page("csc", "/rectifications")
    await csc.wait_for_selector("#rect-worklist")
    await keep_open(csc)

    # -- the agent takes the call: a caller not in the register, product and serial ----
    phone, serial = a_phone(), f"YC-{tag.upper()}"
    agent = await people.page("agent", "/hotline")
    await agent.fill("#q", phone)
    await agent.click("button:has-text('查询')")
    await agent.wait_for_selector("#new-complaint", timeout=WAIT)
    assert "未登记的来电" in await agent.inner_text("#caller-card")
    assert await agent.input_value("#customer_phone") == phone
    await agent.fill("#title", "发动机漏油")
    await agent.fill("#description", "新车行驶三千公里，发动机后油封处漏油，地面有油迹")
    await agent.fill("#product_model", "YC6L-280")
    await agent.fill("#serial_number", serial)
    await agent.fill("#customer_name", "孙先生")
    await agent.click("#save-complaint")
    await agent.wait_for_url(re.compile(r".*/hotline/received/.*"), timeout=WAIT)
    saved = time.monotonic()
    reference = (await agent.inner_text("#reference")).strip()  # read out to the caller
    assert re.fullmatch(r"[A-Z]+-\d{4}-\d+", reference), reference
    received = await agent.inner_text("section.received")
    assert "孙先生" in received and "临时档案" in received
    assert f"YC6L-280 · {serial}" in received
    await screenshot(agent, "walk-hotline-received")
    cid = agent.url.split("/hotline/received/")[1].split("?")[0]
    complaint = await services.get("intake", f"/v1/complaints/{cid}")
    assert complaint["reference"] == reference and complaint["channel"] == "hotline"
    assert complaint["serial_number"] == serial and complaint["provisional_customer"] is True
    at = step("call recorded (agent, /hotline)", at)

    # An oil leak is a product-quality complaint: Quality owns the case.
    case = await services.eventually(
        "rectification", f"/v1/cases/{cid}", lambda c: True, "the case is opened"
    )
    assert case["owner_department"] == "quality"

    # Quality has "My work" open while the CSC works the case.
    quality = await people.page("quality", "/worklist")
    await quality.wait_for_selector("#worklist-quality table, #worklist-quality p.muted")
    await keep_open(quality)

    # -- the CSC: the new product case (triaged, cased) shows up in its open list ------
    row = await appears_live(
        csc,
        f"#rect-worklist .work-item[data-action=issue_quality_report]:has-text('{reference}')",
        "the call, triaged and cased → the CSC's open rectification work",
        saved,
        within=WAIT,
    )
    assert "产品质量案件：待出外质量信息报告" in await csc.inner_text("#rect-worklist")
    await screenshot(csc, "walk-csc-work-live")
    await row.locator("th a").click()
    await csc.wait_for_url(f"{console_url}/complaints/{cid}", timeout=WAIT)
    assert reference in await csc.inner_text("#complaint-header")
    await case_status(csc, "awaiting_resolution")
    assert "质量部" in await csc.inner_text("#panel-case [data-testid=case-facts]")

    await csc.select_option("#case-fr-channel", "hotline")
    await submit_panel(csc, "#case-form-first-response")
    await csc.locator("#case-form-first-response").wait_for(state="detached", timeout=WAIT)
    assert (await services.case(cid))["first_response_at"]

    await csc.fill("#case-investigation", "后油封材料耐温不足，高温下硬化开裂")
    await csc.select_option("#case-a0-kind", "repair")
    await csc.fill("#case-a0-description", "更换后油封并清洗发动机")
    await csc.fill("#case-a0-due", "2027-01-20")
    await submit_panel(csc, "#case-form-resolution")
    await case_status(csc, "resolution_proposed")
    plan = csc.locator("#panel-case [data-plan='1']")
    assert "更换后油封并清洗发动机" in await plan.inner_text()
    assert "待客户答复" in await plan.inner_text()

    await csc.select_option("#case-decision", "accept")
    await csc.select_option("#case-decision-via", "hotline")
    await csc.fill("#case-decision-comment", "客户电话同意维修方案")
    await submit_panel(csc, "#case-form-resolution-decision")
    await case_status(csc, "resolution_accepted")
    assert "客户已接受" in await csc.inner_text("#panel-case [data-plan='1']")
    await csc.wait_for_selector("#complaint-header [data-status=resolution_accepted]", timeout=LIVE)
    at = step("first response, plan, acceptance (CSC, case panel)", at)

    await csc.click("#case-quality-reports-more > summary")
    await csc.fill("#case-qr-model", "YC6L-280")
    await csc.fill("#case-qr-serial", serial)
    await csc.fill("#case-qr-failure", "发动机后油封处漏油，运行约三千公里")
    await csc.fill("#case-qr-quantity", "1")
    await submit_panel(csc, "#case-form-quality-reports")
    issued = time.monotonic()
    pdf_link = csc.locator("#panel-case a[data-pdf]")
    await pdf_link.wait_for(timeout=WAIT)
    report_id = await pdf_link.get_attribute("data-pdf")
    assert await csc.locator("#panel-case [data-report]").count() == 1
    await screenshot(csc, "walk-case-report-issued")
    await keep_open(csc)  # the CSC keeps the complaint page open until the end

    # ... and the report appears in Quality's open worklist, live.
    item = await appears_live(
        quality,
        f"#worklist-quality .work-item[data-id='{report_id}']",
        "report → Quality's open worklist",
        issued,
    )
    await screenshot(quality, "walk-quality-worklist-live")
    at = step("quality report issued and seen by Quality", at)

    # -- Quality turns the report into a supplier notice; Supply's worklist is open ----
    await supply.goto(f"{console_url}/worklist")
    await supply.wait_for_selector("#worklist-supply table, #worklist-supply p.muted")
    await keep_open(supply)

    await item.locator("a").first.click()
    await quality.wait_for_selector("#form-notice", timeout=WAIT)
    assert "发动机后油封处漏油" in await quality.inner_text("#report-failure")
    assert "尚未下发整改通知" in await quality.inner_text("section[aria-labelledby=report-notices]")
    await quality.check("#notice-supplier")
    await quality.select_option("#notice-supplier-id", supplier_id)
    await quality.fill("#notice-requirement", "请分析油封漏油原因，于期限内提交8D报告")
    await quality.fill("#notice-due", "2027-01-31")
    await quality.click("#form-notice button[type=submit]")
    await rect_status(quality, "awaiting_dispatch")
    noticed = time.monotonic()
    rid = rect_id_of(quality)
    assert "温州密封件有限公司" in await quality.inner_text(".rect-page")

    row = await appears_live(
        supply,
        f"#worklist-supply .work-item[data-id='{rid}'][data-action=dispatch]",
        "notice → Supply's open worklist",
        noticed,
    )
    await screenshot(supply, "walk-supply-worklist-live")
    at = step("notice issued (Quality) and seen by Supply", at)

    # -- Supply dispatches it: the supplier is mailed the link to its 8D page -----------
    await row.locator("a").first.click()
    await supply.click("#form-dispatch button[type=submit]")
    await rect_status(supply, "awaiting_supplier")
    assert "已发给供应商" in await supply.inner_text(".alert.ok")
    mails = await asyncio.to_thread(
        mail_sink.wait_for, lambda m: supplier_email in str(m["To"]), timeout=60
    )
    body = mails[0].get_body(("plain", "html")).get_content()
    link = re.search(rf"http://\S+/supplier/8d/{rid}/[A-Za-z0-9_-]+", body)
    assert link, body
    at = step("dispatched (Supply) and mailed", at)

    # Quality watches its worklist while the supplier answers.
    await quality.goto(f"{console_url}/worklist")
    await quality.wait_for_selector("#worklist-quality table, #worklist-quality p.muted")
    assert await quality.locator(f"#worklist-quality .work-item[data-id='{rid}']").count() == 0
    await keep_open(quality)

    supplier = await people.page(None)
    await supplier.goto(link.group(0))
    assert "温州密封件有限公司" in await supplier.inner_text("body")
    await answer_8d(supplier, "油封材料耐温不足", "改用氟橡胶油封")
    answered = time.monotonic()
    await screenshot(supplier, "walk-supplier-8d-answered")
    verify = await appears_live(
        quality,
        f"#worklist-quality .work-item[data-id='{rid}'][data-action=verify]",
        "8D answer → Quality's open worklist",
        answered,
    )
    at = step("8D answered (supplier) and seen by Quality", at)

    # -- Quality fails it with a reason; the supplier reworks it; Quality passes it ------
    await verify.locator("a").first.click()
    await rect_status(quality, "awaiting_verification")
    assert "油封材料耐温不足" in await quality.inner_text("#rect-root-cause")
    await quality.check("#verify-fail")
    await quality.fill("#verify-reason", "缺少油封耐温试验数据")
    await quality.click("#form-verify button[type=submit]")
    await rect_status(quality, "awaiting_supplier")
    assert "缺少油封耐温试验数据" in await quality.inner_text("#rect-failure")
    timeline = await quality.inner_text("#rect-timeline")
    assert "验证不通过" in timeline and "缺少油封耐温试验数据" in timeline
    await screenshot(quality, "walk-notice-failed")
    failed = await services.rect(rid)
    assert failed["status"] == "awaiting_supplier"
    assert failed["last_failure_reason"] == "缺少油封耐温试验数据"

    await supplier.goto(link.group(0))  # the same link, from its mail
    await answer_8d(
        supplier, "油封材料耐温不足（附 150℃ 耐温试验数据）", "改用氟橡胶油封，试验合格"
    )
    # Quality's report page, still open, says the notice changed under it.
    await quality.wait_for_selector(
        "#rect-changed[data-status=awaiting_verification]", timeout=LIVE
    )
    await quality.reload()
    await rect_status(quality, "awaiting_verification")
    assert "150℃" in await quality.inner_text("#rect-root-cause")
    await quality.check("#verify-pass")
    await quality.fill("#verify-comment", "复测 200 小时无渗漏")
    await quality.click("#form-verify button[type=submit]")
    await rect_status(quality, "verified")
    passed = time.monotonic()
    timeline = await quality.inner_text("#rect-timeline")
    assert "验证不通过" in timeline and "验证通过" in timeline
    await screenshot(quality, "walk-notice-verified")
    at = step("failed, reworked, passed (Quality, supplier)", at)

    # -- the CSC finishes: the plan's action done, a satisfied callback: closed ---------
    # The CSC's complaint page, open all along, shows the notice verified.
    await appears_live(
        csc,
        f"#panel-rectifications .panel-rect[data-id='{rid}']:has-text('已验证')",
        "notice verified → the CSC's open complaint page",
        passed,
    )
    await case_status(csc, "resolution_accepted")
    await csc.fill("#case-done-1-note", "已更换后油封，试车无渗漏")
    await submit_panel(csc, "#case-form-actions-1-done")
    await case_status(csc, "resolution_implemented")
    assert "已更换后油封" in await csc.inner_text("#panel-case [data-action='1'] [data-field=done]")
    await csc.select_option("#case-score", "5")
    await csc.fill("#case-callback-comment", "客户对处理非常满意")
    await submit_panel(csc, "#case-form-callback")
    # Every rectification is verified: the satisfied callback closes the case at once
    # (rectification's state table), so there is nothing left to close by hand.
    await case_status(csc, "closed")
    assert "5/5" in await csc.inner_text("#panel-case [data-field=callback]")
    assert await csc.locator("#case-form-close").count() == 0
    await csc.wait_for_selector("#complaint-header [data-status=closed]", timeout=WAIT)
    kinds = await timeline_kinds(csc, "case.complaint.closed")
    for kind in (
        "intake.received",
        "case.case.first_response_recorded",
        "case.resolution.proposed",
        "case.resolution.accepted",
        "case.callback.done",
        "rectification.quality_report",
        "rectification.dispatch",
        "rectification.record_supplier_response",
        "rectification.fail_verification",
        "rectification.pass_verification",
    ):
        assert kind in kinds, (kind, sorted(kinds))
    await csc.evaluate("window.scrollTo(0, 0)")
    await screenshot(csc, "walk-case-closed")
    at = step("action done, callback 5, closed (CSC)", at)

    # -- what the services hold --------------------------------------------------------
    closed = await services.case(cid)
    assert closed["status"] == "closed" and closed["closed_at"]
    assert closed["satisfaction_score"] == 5 and closed["first_response_at"]
    [plan_1] = closed["plans"]
    assert plan_1["decision"] == "accept" and all(a["done_at"] for a in plan_1["actions"])
    final = await services.rect(rid)
    assert (final["kind"], final["status"]) == ("supplier_notice", "verified")
    assert final["supplier_id"] == supplier_id and final["report_id"] == report_id
    assert final["failed_verifications"] == 1
    assert final["root_cause"] == "油封材料耐温不足（附 150℃ 耐温试验数据）"
    # intake's record follows (its read model hears rectification's complaint.closed)
    await services.eventually(
        "intake",
        f"/v1/complaints/{cid}",
        lambda c: c["status"] == "closed",
        "intake's record of the complaint is closed",
    )
    TIMINGS["walk 1 total"] = time.monotonic() - began


# -- 2. the service-quality walk -----------------------------------------------------------


async def test_service_quality_walk_instruction_done_failed_redone_passed(
    console_stack: Stack,
    console_url: str,
    identity: DevIdentityProvider,
    people: People,
    services: Services,
) -> None:
    began = at = time.monotonic()
    made = await new_complaint(
        console_stack,
        identity,
        title="服务站接待态度差",
        description="维修站师傅态度恶劣，让我等待了三个小时，服务太差。",
    )
    cid = str(made["id"])
    await services.eventually(
        "rectification", f"/v1/cases/{cid}", lambda c: True, "the case is opened"
    )

    # After-sales has "My work" open while the CSC instructs it.
    dept = await people.page("after_sales", "/worklist")
    await dept.wait_for_selector("#worklist-department table, #worklist-department p.muted")
    await keep_open(dept)

    csc = await people.page("csc", f"/complaints/{cid}")
    await csc.wait_for_selector("#panel-case [data-testid=case-facts]", timeout=WAIT)
    await csc.click("#case-instructions-more > summary")
    await csc.select_option("#case-instr-department", "after_sales")
    await csc.fill("#case-instr-text", "调查服务站接待流程，整改等待超时问题")
    await csc.fill("#case-instr-due", "2027-02-10")
    await submit_panel(csc, "#case-form-instructions")
    instructed = time.monotonic()
    rects = await services.get("rectification", f"/v1/cases/{cid}/rectifications")
    [instruction] = rects["rectifications"]
    assert (instruction["kind"], instruction["department"], instruction["status"]) == (
        "service_instruction",
        "after_sales",
        "in_progress",
    )
    rid, number = instruction["rectification_id"], instruction["number"]
    await csc.wait_for_selector(f"#panel-case [data-rectification='{number}']", timeout=WAIT)
    await keep_open(csc)
    at = step("instruction (CSC, case panel)", at)

    row = await appears_live(
        dept,
        f"#worklist-department .work-item[data-id='{rid}']",
        "instruction → the department's open worklist",
        instructed,
    )
    await screenshot(dept, "walk-department-worklist-live")

    # The department reports it done on the rectification's page.
    await row.locator("a").first.click()
    await rect_status(dept, "in_progress")
    assert "调查服务站接待流程" in await dept.inner_text("#rect-requirement")
    await dept.select_option("#done-category", "service")
    await dept.fill("#done-root-cause", "周末接待人员不足")
    await dept.fill("#done-corrective", "周末增派两名接待员")
    await dept.click("#form-done button[type=submit]")
    await rect_status(dept, "awaiting_verification")
    assert await dept.locator("#form-done").count() == 0
    at = step("done (department)", at)

    # The CSC's complaint page, open meanwhile, shows it waiting for verification.
    done = time.monotonic()
    waiting = await appears_live(
        csc,
        f"#panel-rectifications .panel-rect[data-id='{rid}']:has-text('待验证')",
        "done → the CSC's open complaint page",
        done,
    )
    await waiting.locator("a").first.click()
    await rect_status(csc, "awaiting_verification")
    await csc.check("#verify-fail")
    await csc.fill("#verify-reason", "回访客户，周末仍需排队两小时")
    await csc.click("#form-verify button[type=submit]")
    await rect_status(csc, "in_progress")
    failed = await services.rect(rid)
    assert failed["status"] == "in_progress"
    assert failed["last_failure_reason"] == "回访客户，周末仍需排队两小时"
    at = step("failed (CSC)", at)

    # The department's page, still open, says it changed; the reason is on it; redone.
    await dept.wait_for_selector("#rect-changed[data-status=in_progress]", timeout=LIVE)
    await dept.reload()
    await rect_status(dept, "in_progress")
    assert "周末仍需排队两小时" in await dept.inner_text("#rect-failure")
    await screenshot(dept, "walk-instruction-failed")
    await dept.select_option("#done-category", "service")
    await dept.fill("#done-root-cause", "排班未按预约量安排")
    await dept.fill("#done-corrective", "按预约量排班，等待超过 30 分钟自动提醒站长")
    await dept.click("#form-done button[type=submit]")
    await rect_status(dept, "awaiting_verification")
    at = step("redone (department)", at)

    await csc.reload()
    await rect_status(csc, "awaiting_verification")
    assert "按预约量排班" in await csc.inner_text("#rect-corrective")
    await csc.check("#verify-pass")
    await csc.fill("#verify-comment", "抽查两个周末，等待均在 30 分钟内")
    await csc.click("#form-verify button[type=submit]")
    await rect_status(csc, "verified")
    timeline = await csc.inner_text("#rect-timeline")
    assert "验证不通过" in timeline and "验证通过" in timeline
    assert "回访客户，周末仍需排队两小时" in timeline
    await screenshot(csc, "walk-instruction-verified")
    at = step("passed (CSC)", at)

    # Out of the department's worklist; on the complaint page as verified.
    await dept.goto(f"{console_url}/worklist")
    await dept.wait_for_selector("#worklist-department table, #worklist-department p.muted")
    assert await dept.locator(f".work-item[data-id='{rid}']").count() == 0
    await csc.goto(f"{console_url}/complaints/{cid}")
    verified_row = csc.locator(f"#panel-rectifications .panel-rect[data-id='{rid}']")
    await verified_row.locator("text=已验证").wait_for(timeout=WAIT)
    kinds = await timeline_kinds(csc, "rectification.pass_verification")
    for kind in (
        "rectification.instruct",
        "rectification.mark_done",
        "rectification.fail_verification",
        "rectification.pass_verification",
    ):
        assert kind in kinds, (kind, sorted(kinds))

    verified = await services.rect(rid)
    assert verified["status"] == "verified" and verified["failed_verifications"] == 1
    assert verified["corrective_action"] == "按预约量排班，等待超过 30 分钟自动提醒站长"
    case = await services.case(cid)
    assert case["open_rectifications"] == 0 and case["rectifications_total"] == 1
    TIMINGS["walk 2 total"] = time.monotonic() - began


# -- live panels: the last change of a burst reaches the page -----------------------------

CONSOLE_SRC = Path(__file__).resolve().parents[2] / "services/console/src/tousu_console"
FAKE_FEED = """
window.__feed = null;
window.EventSource = function (url) {
  this.listeners = {}; this.readyState = 1; window.__feed = this;
};
window.EventSource.CLOSED = 2;
window.EventSource.prototype.addEventListener = function (name, fn) {
  (this.listeners[name] = this.listeners[name] || []).push(fn);
};
window.EventSource.prototype.close = function () {};
window.__change = function (id) {
  var message = {data: JSON.stringify({id: id, type: "x", complaint_id: "c1"})};
  window.__feed.listeners.change.forEach(function (fn) { fn(message); });
};
"""


def live_triggers() -> list[str]:
    """Every live ``hx-trigger`` the pages use, for a complaint ``c1``, without ``load``."""
    found: set[str] = set()
    for template in (CONSOLE_SRC / "templates").rglob("*.html"):
        for trigger in re.findall(r'hx-trigger="([^"]*tousu:[^"]*)"', template.read_text()):
            trigger = re.sub(r"\{\{[^}]*\}\}", "c1", trigger).removeprefix("load, ")
            found.add(trigger)
    assert found, "no live hx-trigger in the templates"
    return sorted(found)


@pytest.mark.parametrize("trigger", live_triggers())
async def test_after_a_burst_of_changes_a_live_element_reloads_after_the_last(
    browser: Any, trigger: str
) -> None:
    """Each live element of the pages (their real ``hx-trigger``, the vendored htmx and
    console.js with a stand-in event stream) reloads after the LAST change of a burst:
    changes at 0, 600 and 650 ms. (With ``throttle:500ms``, what the pages had before,
    htmx reloads at 0 and 600 and drops the one at 650: the case's closing was never
    shown on the complaint page after a callback that closed it.)"""
    context = await browser.new_context()
    try:
        page = await context.new_page()

        async def serve(route: Any) -> None:
            url = route.request.url
            if url.endswith("/panel"):
                await route.fulfill(body="<p>reloaded</p>", content_type="text/html")
            elif url.endswith(".js"):
                name = url.rsplit("/", 1)[1]
                path = CONSOLE_SRC / "static" / ("vendor/" + name if "htmx" in name else name)
                await route.fulfill(body=path.read_text(), content_type="text/javascript")
            else:
                await route.fulfill(
                    body=(
                        f"<!DOCTYPE html><html><head><script>{FAKE_FEED}</script>"
                        "<script src='/htmx-2.0.11.min.js'></script></head>"
                        "<body data-live='/live'><div id='panel' hx-get='/panel' "
                        f"hx-trigger='{trigger}'></div>"
                        "<script src='/console.js'></script></body></html>"
                    ),
                    content_type="text/html",
                )

        await page.route("http://walks.test/**", serve)
        await page.goto("http://walks.test/")
        await page.wait_for_function("window.__feed !== null")
        await page.evaluate(
            """() => {
                 window.__requests = []; window.__last = null;
                 document.body.addEventListener('htmx:beforeRequest',
                   () => window.__requests.push(performance.now()));
                 window.__change(1);
                 setTimeout(() => window.__change(2), 600);
                 setTimeout(() => { window.__change(3); window.__last = performance.now(); }, 650);
               }"""
        )
        await page.wait_for_function(
            "() => window.__last !== null && window.__requests.some(at => at > window.__last)",
            timeout=10_000,
        )
        assert await page.evaluate("window.__requests.length") <= 3  # not one per change
    finally:
        await context.close()


async def test_a_steady_stream_of_changes_still_reloads_a_live_element_while_it_lasts(
    browser: Any,
) -> None:
    """A busy company sends changes all the time: a page that waited for a pause (htmx's
    ``delay``) would never reload. A change every 100 ms for 2 s reloads the element
    during the stream, and not once per change."""
    context = await browser.new_context()
    try:
        page = await context.new_page()

        async def serve(route: Any) -> None:
            url = route.request.url
            if url.endswith("/panel"):
                await route.fulfill(body="<p>reloaded</p>", content_type="text/html")
            elif url.endswith(".js"):
                name = url.rsplit("/", 1)[1]
                path = CONSOLE_SRC / "static" / ("vendor/" + name if "htmx" in name else name)
                await route.fulfill(body=path.read_text(), content_type="text/javascript")
            else:
                await route.fulfill(
                    body=(
                        f"<!DOCTYPE html><html><head><script>{FAKE_FEED}</script>"
                        "<script src='/htmx-2.0.11.min.js'></script></head>"
                        "<body data-live='/live'><div id='panel' hx-get='/panel' "
                        "hx-trigger='tousu:reload from:body'></div>"
                        "<script src='/console.js'></script></body></html>"
                    ),
                    content_type="text/html",
                )

        await page.route("http://walks.test/**", serve)
        await page.goto("http://walks.test/")
        await page.wait_for_function("window.__feed !== null")
        await page.evaluate(
            """() => {
                 window.__requests = []; window.__end = null;
                 document.body.addEventListener('htmx:beforeRequest',
                   () => window.__requests.push(performance.now()));
                 const started = performance.now();
                 let n = 0;
                 const timer = setInterval(() => {
                   window.__change(++n);
                   if (performance.now() - started > 2000) {
                     clearInterval(timer); window.__end = performance.now();
                   }
                 }, 100);
               }"""
        )
        await page.wait_for_function("() => window.__end !== null", timeout=10_000)
        during = await page.evaluate("window.__requests.filter(at => at < window.__end).length")
        assert during >= 2, during  # reloaded while the changes kept coming
        assert during <= 8, during  # at most about one per 0.5 s, not one per change
    finally:
        await context.close()
