"""The Customer Service Centre's screens, driven in Chromium against the real stack:
the manual triage queue and the triage panel (a person's triage, reassignment,
duplicates), the case panel through a whole customer resolution (first response,
plan, the customer's answer, actions, callback, a refused close, closing, reopening),
an instruction to a department, an External Quality Information Report and its PDF
through the console, the CSC's worklist section, and what an agent may not do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.console.conftest import (
    PDF_TIMEOUT_MS,
    headers_of,
    new_complaint,
    sign_in,
    submit_panel_form,
)
from tousu_common.devstack import Stack
from tousu_common.oidc_dev import DevIdentityProvider
from tousu_common.testing.wait import eventually_async

pytestmark = pytest.mark.integration

#: Text no default triage rule matches (routing's own tests use it): the manual queue.
UNMATCHED = {"title": "其他问题", "description": "希望贵公司能在我们县城开一家门店。"}
SCREENSHOTS = Path("var/screenshots")
WAIT = 45_000  # ms: the pipeline is asynchronous and the machine is shared


# -- helpers -------------------------------------------------------------------------


async def api(
    stack: Stack, identity: DevIdentityProvider, service: str, path: str, user: str = "csc"
) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.get(f"{stack.url(service)}{path}", headers=headers_of(identity, user))


async def api_post(
    stack: Stack, identity: DevIdentityProvider, service: str, path: str, body: Any, user: str
) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=30) as client:
        answer = await client.post(
            f"{stack.url(service)}{path}", json=body, headers=headers_of(identity, user)
        )
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


async def read(
    stack: Stack, identity: DevIdentityProvider, service: str, path: str, **kw: Any
) -> dict[str, Any]:
    """The service's answer once it exists (and ``until`` holds)."""

    async def probe() -> dict[str, Any] | None:
        answer = await api(stack, identity, service, path)
        return answer.json() if answer.status_code == 200 else None

    until = kw.pop("until", None)
    return await eventually_async(
        probe,
        until=(lambda body: body is not None and until(body)) if until else bool,
        timeout=kw.pop("timeout", 60),
        what=f"{service} {path}",
    )


async def case_of(stack: Stack, identity: DevIdentityProvider, cid: str) -> dict[str, Any]:
    answer = await api(stack, identity, "rectification", f"/v1/cases/{cid}")
    assert answer.status_code == 200, answer.text
    return answer.json()


def screenshot_path(name: str) -> str:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return str(SCREENSHOTS / name)


async def screenshot(page: Any, name: str, top: str | None = None) -> None:
    """A 1366×768 picture of the screen; ``top``: scroll that element to the top first."""
    await page.set_viewport_size({"width": 1366, "height": 768})
    if top:
        await page.locator(top).evaluate("element => element.scrollIntoView()")
    await page.screenshot(path=screenshot_path(name))


async def in_english(page: Any, name: str, ready: str, top: str | None = None) -> None:
    """Screenshot the page in English, then back to Chinese (the choice is remembered
    for the person, and the other tests expect Chinese)."""
    await page.click("header >> text=English")
    await page.wait_for_selector("text=Sign out", timeout=WAIT)
    try:
        await page.wait_for_selector(ready, timeout=WAIT)
        await screenshot(page, name, top)
    finally:
        await page.click("header >> text=中文")
        await page.wait_for_selector("text=退出", timeout=WAIT)


async def case_status(page: Any, status: str) -> None:
    await page.wait_for_selector(f'#panel-case [data-status="{status}"]', timeout=WAIT)


async def submit(page: Any, form: str) -> None:
    """Submit a case/triage panel form and wait for the refreshed panel."""
    await submit_panel_form(page, form, timeout=WAIT)


async def no_alert(page: Any, panel: str) -> None:
    alerts = await page.locator(f"{panel} .alert.error").all_inner_texts()
    assert not alerts, alerts


# -- triage --------------------------------------------------------------------------


async def test_an_unmatched_complaint_waits_in_the_queue_and_the_csc_triages_and_reassigns_it(
    console_stack: Stack, console_url: str, identity: DevIdentityProvider, page: Any
) -> None:
    made = await new_complaint(console_stack, identity, **UNMATCHED)
    cid, reference = str(made["id"]), made["reference"]
    queued = await read(
        console_stack,
        identity,
        "routing",
        f"/v1/triage/{cid}",
        until=lambda b: b["status"] == "manual_triage",
    )
    assert queued["category"] is None

    await sign_in(page, console_url, identity, "csc", path="/triage")
    row = page.locator("#triage-queue tbody tr", has_text=reference)
    await row.wait_for(timeout=WAIT)
    assert "待人工分派" in await row.inner_text()
    await screenshot(page, "triage-queue-zh.png")
    await in_english(page, "triage-queue-en.png", f"#triage-queue >> text={reference}")

    await row.locator(f"a:text('{reference}')").click()
    await page.wait_for_url(f"{console_url}/complaints/{cid}", timeout=WAIT)
    form = "#triage-override"
    await page.wait_for_selector(form, timeout=WAIT)
    await page.select_option("#triage-category", "delivery")
    await page.select_option("#triage-urgency", "important")
    await page.select_option("#triage-owner", "logistics")
    await page.fill("#triage-reason", "客户说的是到货延误")
    await submit(page, form)
    await no_alert(page, "#panel-triage")
    assert "物流部" in await page.inner_text('#panel-triage [data-field="owner_department"]')
    triaged = await read(console_stack, identity, "routing", f"/v1/triage/{cid}")
    assert (triaged["status"], triaged["category"], triaged["urgency"]) == (
        "triaged",
        "delivery",
        "important",
    )
    assert triaged["owner_department"] == "logistics" and triaged["decided_by"]
    assert triaged["rule_id"] is None

    # reassign: the clocks carry on, the owner changes, the history says why
    await page.click("#triage-reassign-more > summary")
    await page.select_option("#reassign-department", "sales")
    await page.fill("#reassign-reason", "涉及合同条款，转销售部")
    await submit(page, "#triage-reassign")
    await no_alert(page, "#panel-triage")
    assert "销售部" in await page.inner_text('#panel-triage [data-field="owner_department"]')
    moved = await read(console_stack, identity, "routing", f"/v1/triage/{cid}")
    assert moved["owner_department"] == "sales"
    history = (await api(console_stack, identity, "routing", f"/v1/triage/{cid}/history")).json()
    assert history[-1]["owner_department"] == "sales"
    assert history[-1]["reason"] == "涉及合同条款，转销售部"
    # the complaint left the queue
    queue = (
        await api(console_stack, identity, "routing", "/v1/worklists/triage-queue?limit=200")
    ).json()
    assert cid not in {item["complaint_id"] for item in queue["items"]}
    # and rectification opened its case for the new owner
    case = await read(
        console_stack,
        identity,
        "rectification",
        f"/v1/cases/{cid}",
        until=lambda c: c["owner_department"] == "sales",
    )
    assert case["status"] == "awaiting_resolution"


async def test_the_csc_links_a_duplicate_by_reference_and_unlinks_it(
    console_stack: Stack, console_url: str, identity: DevIdentityProvider, page: Any
) -> None:
    phone = "+86 139 0000 7731"
    original = await new_complaint(console_stack, identity, customer_phone=phone)
    repeat = await new_complaint(console_stack, identity, customer_phone=phone, **UNMATCHED)
    cid = str(repeat["id"])
    await read(console_stack, identity, "routing", f"/v1/triage/{original['id']}")
    await read(
        console_stack,
        identity,
        "routing",
        f"/v1/triage/{cid}",
        until=lambda b: b["status"] in ("manual_triage", "duplicate"),
    )
    await sign_in(page, console_url, identity, "csc", path=f"/complaints/{cid}")
    await page.click("#triage-link-more > summary")
    await page.fill("#link-original", original["reference"])
    await page.fill("#link-reason", "同一客户同一问题")
    await submit(page, "#triage-link")
    await no_alert(page, "#panel-triage")
    linked = await read(
        console_stack,
        identity,
        "routing",
        f"/v1/triage/{cid}",
        until=lambda b: b["duplicate_of"] == str(original["id"]),
    )
    assert linked["status"] == "duplicate"
    assert original["reference"] in await page.inner_text(
        '#panel-triage [data-field="duplicate_of"]'
    )
    await submit(page, "#triage-unlink")
    await no_alert(page, "#panel-triage")
    unlinked = await read(
        console_stack,
        identity,
        "routing",
        f"/v1/triage/{cid}",
        until=lambda b: b["duplicate_of"] is None,
    )
    assert unlinked["status"] != "duplicate"


# -- the case --------------------------------------------------------------------------


async def test_the_csc_walks_a_case_from_first_response_to_closing_and_reopens_it(
    console_stack: Stack, console_url: str, identity: DevIdentityProvider, page: Any
) -> None:
    made = await new_complaint(console_stack, identity)
    cid = str(made["id"])
    await read(console_stack, identity, "rectification", f"/v1/cases/{cid}")
    await sign_in(page, console_url, identity, "csc", path=f"/complaints/{cid}")
    await case_status(page, "awaiting_resolution")
    assert await page.locator("#case-form-close").count() == 0  # not legal yet
    # the panel holds a half-filled form through live reloads (csc/_keep_edits.html)
    assert await page.get_attribute("#panel-case", "data-keep-edits") == "1"

    # first response
    await page.select_option("#case-fr-channel", "hotline")
    await submit(page, "#case-form-first-response")
    await no_alert(page, "#panel-case")
    assert await page.locator("#case-form-first-response").count() == 0
    assert (await case_of(console_stack, identity, cid))["first_response_at"]

    # a plan: a repair and a compensation
    await page.fill("#case-investigation", "油底壳密封垫老化导致漏油")
    await page.select_option("#case-a0-kind", "repair")
    await page.fill("#case-a0-description", "更换油底壳密封垫")
    await page.fill("#case-a0-due", "2027-01-20")
    await page.select_option("#case-a1-kind", "compensation")
    await page.fill("#case-a1-description", "误工补偿")
    await page.fill("#case-a1-due", "2027-01-10")
    # a compensation without an amount: rectification names the field, the form keeps
    # what was typed, nothing is proposed
    await submit(page, "#case-form-resolution")
    alert = page.locator("#panel-case .alert.error")
    await alert.wait_for(timeout=WAIT)
    assert "actions.1.amount" in await alert.inner_text()
    assert await page.input_value("#case-a0-description") == "更换油底壳密封垫"
    assert await page.input_value("#case-a1-kind") == "compensation"
    assert (await case_of(console_stack, identity, cid))["plans"] == []
    await page.fill("#case-a1-amount", "800.50")
    await page.fill("#case-a1-currency", "CNY")
    await submit(page, "#case-form-resolution")
    await no_alert(page, "#panel-case")
    await case_status(page, "resolution_proposed")
    case = await case_of(console_stack, identity, cid)
    assert case["status"] == "resolution_proposed" and case["plan_version"] == 1
    [plan] = case["plans"]
    assert [(a["kind"], a["due_date"]) for a in plan["actions"]] == [
        ("repair", "2027-01-20"),
        ("compensation", "2027-01-10"),
    ]
    assert float(plan["actions"][1]["amount"]) == 800.50
    assert plan["actions"][1]["currency"] == "CNY"
    assert plan["investigation"] == "油底壳密封垫老化导致漏油"
    assert "800.50 CNY" in await page.inner_text("#panel-case [data-plan='1']")

    # the customer accepts (recorded by the CSC on the phone)
    await page.select_option("#case-decision", "accept")
    await page.select_option("#case-decision-via", "hotline")
    await page.fill("#case-decision-comment", "客户同意")
    await submit(page, "#case-form-resolution-decision")
    await no_alert(page, "#panel-case")
    await case_status(page, "resolution_accepted")
    case = await case_of(console_stack, identity, cid)
    assert case["plans"][0]["decision"] == "accept" and case["resolution_accepted_at"]
    await screenshot(page, "case-panel-zh.png", "#panel-case")
    await in_english(
        page, "case-panel-en.png", '#panel-case [data-status="resolution_accepted"]', "#panel-case"
    )

    # an instruction to a functional department (a rectification on the case)
    await page.click("#case-instructions-more > summary")
    await page.select_option("#case-instr-department", "logistics")
    await page.fill("#case-instr-text", "核查配件发运包装，防止运输中密封件受损")
    await page.fill("#case-instr-due", "2027-02-01")
    await submit(page, "#case-form-instructions")
    await no_alert(page, "#panel-case")
    rects = (
        await api(console_stack, identity, "rectification", f"/v1/cases/{cid}/rectifications")
    ).json()
    [instruction] = rects["rectifications"]
    assert (instruction["kind"], instruction["department"], instruction["status"]) == (
        "service_instruction",
        "logistics",
        "in_progress",
    )
    assert instruction["due_date"] == "2027-02-01"
    await page.wait_for_selector(
        f"#panel-case [data-rectification='{instruction['number']}']", timeout=WAIT
    )

    # both actions done
    for number in (1, 2):
        await page.fill(f"#case-done-{number}-note", f"第{number}项已完成")
        await submit(page, f"#case-form-actions-{number}-done")
        await no_alert(page, "#panel-case")
    await case_status(page, "resolution_implemented")
    case = await case_of(console_stack, identity, cid)
    assert all(a["done_at"] for a in case["plans"][0]["actions"]) and case["implemented_at"]

    # callback 5: satisfied, but the instruction is still open
    await page.select_option("#case-score", "5")
    await page.fill("#case-callback-comment", "客户非常满意")
    await submit(page, "#case-form-callback")
    await no_alert(page, "#panel-case")
    await case_status(page, "satisfied")
    case = await case_of(console_stack, identity, cid)
    assert case["satisfaction_score"] == 5 and case["status"] == "satisfied"

    # close: refused, the unmet condition shown, nothing changed
    await submit(page, "#case-form-close")
    alert = page.locator("#panel-case .alert.error")
    await alert.wait_for(timeout=WAIT)
    shown = await alert.inner_text()
    assert "rectifications" in shown and "not verified or waived" in shown
    assert "整改尚未验证或豁免" in await page.inner_text("[data-testid=close-conditions]")
    after = await case_of(console_stack, identity, cid)
    assert after["status"] == "satisfied" and after["version"] == case["version"]

    # the department reports it done, the CSC verifies it: the case closes by itself
    rid = instruction["rectification_id"]
    done = {
        "root_cause_category": "logistics",
        "root_cause": "包装不当",
        "corrective_action": "改用加固包装",
    }
    await api_post(
        console_stack,
        identity,
        "rectification",
        f"/v1/rectifications/{rid}/done",
        done,
        "logistics",
    )
    await api_post(
        console_stack,
        identity,
        "rectification",
        f"/v1/rectifications/{rid}/verification",
        {"passed": True, "comment": "已核实"},
        "csc",
    )
    closed = await read(
        console_stack,
        identity,
        "rectification",
        f"/v1/cases/{cid}",
        until=lambda c: c["status"] == "closed",
    )
    assert closed["closed_at"]
    await page.reload()
    await case_status(page, "closed")
    assert await page.locator("#case-form-close").count() == 0

    # reopen with a reason: back to investigating, a new plan owed
    await page.fill("#case-reopen-reason", "客户来电：仍有渗油")
    await submit(page, "#case-form-reopen")
    await no_alert(page, "#panel-case")
    await case_status(page, "awaiting_resolution")
    reopened = await case_of(console_stack, identity, cid)
    assert reopened["status"] == "awaiting_resolution" and reopened["reopen_count"] == 1
    assert reopened["history"][-1]["detail"] == "客户来电：仍有渗油"
    assert "1" in await page.inner_text('#panel-case [data-field="reopen_count"]')
    assert await page.locator("#case-form-resolution").count() == 1


async def test_the_csc_issues_a_quality_report_gets_its_pdf_and_waits_on_the_customer(
    console_stack: Stack, console_url: str, identity: DevIdentityProvider, page: Any
) -> None:
    made = await new_complaint(console_stack, identity, product_model="WP10.336E53")
    cid = str(made["id"])
    await read(console_stack, identity, "rectification", f"/v1/cases/{cid}")
    await sign_in(page, console_url, identity, "csc", path=f"/complaints/{cid}")
    await page.click("#case-quality-reports-more > summary")
    await page.fill("#case-qr-model", "WP10.336E53")
    await page.fill("#case-qr-serial", "B2027-0412")
    await page.fill("#case-qr-failure", "发动机后油封处漏油，运行约三千公里")
    await page.fill("#case-qr-quantity", "3")
    await submit(page, "#case-form-quality-reports")
    await no_alert(page, "#panel-case")
    rects = (
        await api(console_stack, identity, "rectification", f"/v1/cases/{cid}/rectifications")
    ).json()
    [report] = rects["quality_reports"]
    assert report["quantity_affected"] == 3 and report["serial_or_batch"] == "B2027-0412"
    link = page.locator(f"#panel-case a[data-pdf='{report['report_id']}']")
    await link.wait_for(timeout=WAIT)
    href = await link.get_attribute("href")
    assert href == f"/quality-reports/{report['report_id']}/report.pdf"
    pdf = await page.request.get(f"{console_url}{href}", timeout=PDF_TIMEOUT_MS)
    assert pdf.status == 200, await pdf.text()
    assert pdf.headers["content-type"].startswith("application/pdf")
    assert (await pdf.body()).startswith(b"%PDF")
    # without a session the console sends the browser to sign in, not the PDF
    async with httpx.AsyncClient(follow_redirects=False, timeout=30) as client:
        anonymous = await client.get(f"{console_url}{href}")
    assert anonymous.status_code == 303

    # waiting on the customer pauses the clocks; their answer ends the wait
    await page.click("#case-customer-wait-more > summary")
    await page.fill("#case-wait-reason", "等客户提供行驶证照片")
    await submit(page, "#case-form-customer-wait")
    await no_alert(page, "#panel-case")
    await page.wait_for_selector("#case-form-customer-wait-end", timeout=WAIT)
    assert "等客户提供行驶证照片" in await page.inner_text("[data-testid=case-facts]")
    waiting = await case_of(console_stack, identity, cid)
    assert waiting["waiting_on_customer"] and waiting["wait_reason"] == "等客户提供行驶证照片"
    await submit(page, "#case-form-customer-wait-end")
    await no_alert(page, "#panel-case")
    assert not (await case_of(console_stack, identity, cid))["waiting_on_customer"]
    await page.wait_for_selector("#case-customer-wait-more", timeout=WAIT)


async def test_the_csc_worklist_lists_open_cases_with_time_left(
    console_stack: Stack, console_url: str, identity: DevIdentityProvider, page: Any
) -> None:
    made = await new_complaint(console_stack, identity)
    cid, reference = str(made["id"]), made["reference"]
    await read(console_stack, identity, "rectification", f"/v1/cases/{cid}")
    await sign_in(page, console_url, identity, "csc", path="/worklist?csc_due=all")
    section = page.locator("#worklist-csc")
    row = section.locator("tbody tr", has_text=reference)
    try:
        await row.wait_for(timeout=WAIT)
    except Exception:  # more than a page of open cases: filter to its department
        case = await case_of(console_stack, identity, cid)
        await page.goto(f"{console_url}/worklist?csc_department={case['owner_department']}")
        await row.wait_for(timeout=WAIT)
    text = await row.inner_text()
    assert "调查中" in text
    assert await row.locator(".badge").count() == 1  # time left to the first response


# -- what an agent may not do ------------------------------------------------------------


async def test_an_agent_sees_no_case_forms_and_a_forged_post_gets_the_services_403(
    console_stack: Stack, console_url: str, identity: DevIdentityProvider, page: Any
) -> None:
    made = await new_complaint(console_stack, identity)
    cid = str(made["id"])
    before = await read(console_stack, identity, "rectification", f"/v1/cases/{cid}")
    await sign_in(page, console_url, identity, "agent", path=f"/complaints/{cid}")
    await case_status(page, "awaiting_resolution")
    await page.wait_for_selector('#panel-triage [data-field="status"]', timeout=WAIT)
    assert await page.locator("#panel-case [data-testid=case-forms]").count() == 0
    assert await page.locator("#panel-case form").count() == 0
    assert await page.locator("#panel-triage form").count() == 0

    csrf = await page.get_attribute("header input[name=csrf]", "value")
    forged = await page.request.post(
        f"{console_url}/complaints/{cid}/panels/case/first-response",
        form={"csrf": csrf, "channel": "hotline"},
    )
    assert forged.status == 403
    body = await forged.text()
    assert "没有权限" in body and "only csc" in body
    plan = await page.request.post(
        f"{console_url}/complaints/{cid}/panels/case/resolution",
        form={
            "csrf": csrf,
            "action-0-kind": "repair",
            "action-0-description": "x",
            "action-0-due_date": "2027-03-01",
        },
    )
    assert plan.status == 403
    after = await case_of(console_stack, identity, cid)
    assert after["version"] == before["version"] and after["first_response_at"] is None
    assert after["plans"] == []


async def test_a_rejected_plan_asks_for_a_revised_one(
    console_stack: Stack, console_url: str, identity: DevIdentityProvider, page: Any
) -> None:
    made = await new_complaint(console_stack, identity)
    cid = str(made["id"])
    await read(console_stack, identity, "rectification", f"/v1/cases/{cid}")
    await sign_in(page, console_url, identity, "csc", path=f"/complaints/{cid}")
    await case_status(page, "awaiting_resolution")
    await page.select_option("#case-a0-kind", "explanation")
    await page.fill("#case-a0-description", "说明保修条款")
    await page.fill("#case-a0-due", "2027-01-05")
    await submit(page, "#case-form-resolution")
    await case_status(page, "resolution_proposed")
    await page.select_option("#case-decision", "reject")
    await page.fill("#case-decision-comment", "客户要求更换")
    await submit(page, "#case-form-resolution-decision")
    await no_alert(page, "#panel-case")
    await case_status(page, "resolution_rejected")
    assert "提出修订方案" in await page.inner_text("#case-form-resolution")
    await page.select_option("#case-a0-kind", "replace")
    await page.fill("#case-a0-description", "更换发动机总成")
    await page.fill("#case-a0-due", "2027-02-15")
    await submit(page, "#case-form-resolution")
    await no_alert(page, "#panel-case")
    await case_status(page, "resolution_proposed")
    case = await case_of(console_stack, identity, cid)
    assert case["plan_version"] == 2
    assert [p["decision"] for p in case["plans"]] == ["reject", None]
    assert case["plans"][0]["comment"] == "客户要求更换"
    assert case["plans"][1]["actions"][0]["kind"] == "replace"
    # both versions are on the panel, the newest first
    versions = await page.locator("#panel-case [data-plan]").evaluate_all(
        "sections => sections.map(s => s.dataset.plan)"
    )
    assert versions == ["2", "1"]


async def test_owner_department_staff_get_the_owners_forms_and_another_department_none(
    console_stack: Stack, console_url: str, identity: DevIdentityProvider, browser: Any
) -> None:
    made = await new_complaint(console_stack, identity)  # an oil leak: Quality owns it
    cid = str(made["id"])
    case = await read(console_stack, identity, "rectification", f"/v1/cases/{cid}")
    assert case["owner_department"] == "quality"
    for user, owner in (("quality", True), ("sales", False)):
        context = await browser.new_context(locale="zh-CN")
        try:
            page = await context.new_page()
            await sign_in(page, console_url, identity, user, path=f"/complaints/{cid}")
            await case_status(page, "awaiting_resolution")
            forms = page.locator("#panel-case form")
            if owner:
                assert await page.locator("#case-form-first-response").count() == 1
                assert await page.locator("#case-form-resolution").count() == 1
                for csc_only in ("instructions", "quality-reports", "close", "reopen"):
                    assert await page.locator(f"#case-form-{csc_only}").count() == 0
            else:
                assert await forms.count() == 0
                # routing shows a department only its own complaints: said in the panel
                alert = page.locator("#panel-triage .alert.error")
                await alert.wait_for(timeout=WAIT)
                assert "没有权限" in await alert.inner_text()
            assert await page.locator("#panel-triage form").count() == 0
        finally:
            await context.close()
