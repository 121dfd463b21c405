"""The seed process's two rectification walks through the real system (broker,
intake → routing → rectification, SQLite and PostgreSQL), up to closing:

- a service-quality complaint: instruction → done → verification failed → redone
  → passed; the customer is satisfied while the rectification is still open, so
  the complaint closes only when it is verified;
- a product-quality complaint with a supplier: report → notice → dispatched →
  the supplier answers the 8D form through its token link in headless Chromium
  (with an evidence file) → verified → closed.

Each asserts the event sequence on ``tousu.cases``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tousu_common.devstack import Stack
from tousu_common.testing.helpers import header, read_topic
from tousu_common.testing.wait import eventually_async

from ..conftest import complaint_body

pytestmark = pytest.mark.integration

RECTIFICATION_EVENTS = {
    "rectification.instructed",
    "quality_report.issued",
    "rectification.notice_issued",
    "rectification.notice_dispatched",
    "rectification.supplier_responded",
    "rectification.done",
    "rectification.verification_passed",
    "rectification.verification_failed",
    "rectification.waived",
    "rectification.feedback_requested",
    "callback.done",
    "complaint.closed",
}
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 64


def in_days(days: int) -> str:
    return (date.today() + timedelta(days=days)).isoformat()


async def ok(response: Awaitable[httpx.Response], status: int = 200) -> dict[str, Any]:
    answer = await response
    assert answer.status_code == status, answer.text
    return answer.json()


async def case_events(stack: Stack, complaint_id: str, last: str) -> list[str]:
    """The types on tousu.cases for this complaint, read until ``last`` arrives."""

    def mine(records: list[Any]) -> list[str]:
        return [header(r, "ce_type") for r in records if r.key == complaint_id.encode()]

    records = await read_topic(
        stack.bootstrap, "tousu.cases", until=lambda rs: last in mine(rs), timeout=30
    )
    return [t for t in mine(records) if t in RECTIFICATION_EVENTS]


async def file_and_open_case(
    client: httpx.AsyncClient, stack: Stack, auth: Callable[..., dict[str, str]], **body: Any
) -> str:
    created = await ok(
        client.post(
            f"{stack.url('intake')}/v1/complaints",
            json=complaint_body(**body),
            headers=auth("agent"),
        ),
        201,
    )
    complaint_id = created["id"]

    async def case() -> Any:
        answer = await client.get(
            f"{stack.url('rectification')}/v1/cases/{complaint_id}", headers=auth("csc")
        )
        return answer.json() if answer.status_code == 200 else None

    await eventually_async(case, timeout=40, interval=0.1)
    return complaint_id


async def satisfy_customer(
    client: httpx.AsyncClient, stack: Stack, auth: Callable[..., dict[str, str]], cid: str
) -> dict[str, Any]:
    """Plan proposed, accepted, carried out; the callback says satisfied (5)."""
    base = f"{stack.url('rectification')}/v1/cases/{cid}"
    csc = auth("csc", department="csc")
    await ok(
        client.post(
            f"{base}/resolution",
            json={
                "investigation": "已查明原因",
                "actions": [
                    {"kind": "explanation", "description": "致歉并说明", "due_date": in_days(2)}
                ],
            },
            headers=csc,
        )
    )
    await ok(client.post(f"{base}/resolution/decision", json={"decision": "accept"}, headers=csc))
    await ok(client.post(f"{base}/actions/1/done", json={}, headers=csc))
    return await ok(
        client.post(f"{base}/callback", json={"score": 5, "comment": "满意"}, headers=auth("agent"))
    )


async def test_service_quality_instruction_fails_verification_is_redone_and_closes(
    stack: Stack, auth: Callable[..., dict[str, str]]
) -> None:
    rect_url = stack.url("rectification")
    csc = auth("csc", department="csc", sub="csc-zhou")
    technical = auth("department", department="after_sales", sub="as-liu")
    async with httpx.AsyncClient(timeout=20) as client:
        cid = await file_and_open_case(
            client,
            stack,
            auth,
            title="服务站师傅态度很差",
            description="维修站师傅态度恶劣，让我等待了三个小时，服务太差。",
            product_model=None,
            serial_number=None,
        )
        case = await ok(client.get(f"{rect_url}/v1/cases/{cid}", headers=csc))
        assert case["category"] == "service_quality"

        rect = await ok(
            client.post(
                f"{rect_url}/v1/cases/{cid}/instructions",
                json={
                    "department": "after_sales",
                    "instruction": "调查服务站接待流程并整改",
                    "due_date": in_days(7),
                },
                headers=csc,
            ),
            201,
        )
        rid = rect["rectification_id"]
        done = {
            "root_cause_category": "service",
            "root_cause": "排班不足",
            "corrective_action": "增派人员",
        }
        step = f"{rect_url}/v1/rectifications/{rid}"
        await ok(client.post(f"{step}/done", json=done, headers=technical))
        await ok(
            client.post(
                f"{step}/verification", json={"passed": False, "reason": "抽查仍超时"}, headers=csc
            )
        )
        # The customer is satisfied while the rectification is still open: no closing yet.
        satisfied = await satisfy_customer(client, stack, auth, cid)
        assert satisfied["status"] == "satisfied" and satisfied["open_rectifications"] == 1
        wrong = await client.post(
            f"{step}/done", json=done, headers=auth("department", department="sales")
        )
        assert wrong.status_code == 403
        await ok(client.post(f"{step}/done", json=done, headers=technical))
        verified = await ok(client.post(f"{step}/verification", json={"passed": True}, headers=csc))
        assert verified["status"] == "verified"
        closed = await ok(client.get(f"{rect_url}/v1/cases/{cid}", headers=csc))
        assert closed["status"] == "closed" and closed["open_rectifications"] == 0

    assert await case_events(stack, cid, "complaint.closed") == [
        "rectification.instructed",
        "rectification.done",
        "rectification.verification_failed",
        "callback.done",
        "rectification.done",
        "rectification.verification_passed",
        "complaint.closed",
    ]


async def test_product_quality_supplier_answers_8d_through_the_link_in_a_browser(
    stack: Stack, auth: Callable[..., dict[str, str]], page: Any, tmp_path: Path
) -> None:
    rect_url = stack.url("rectification")
    csc = auth("csc", department="csc")
    quality = auth("quality", department="quality", sub="qa-chen")
    supply = auth("supply", department="supply", sub="sp-he")
    async with httpx.AsyncClient(timeout=60) as client:
        cid = await file_and_open_case(client, stack, auth)
        supplier = await ok(
            client.post(
                f"{rect_url}/v1/suppliers",
                json={
                    "code": f"S-{cid[:8]}",
                    "name": "无锡油泵有限公司",
                    "language": "zh",
                    "contacts": [{"name": "赵工", "email": "zhao@pump.example"}],
                    "parts_supplied": ["油泵"],
                },
                headers=supply,
            ),
            201,
        )
        report = await ok(
            client.post(
                f"{rect_url}/v1/cases/{cid}/quality-reports",
                json={
                    "product_model": "YC6L-280",
                    "serial_or_batch": "SN-2026-0001",
                    "failure_description": "油泵密封圈处漏油",
                    "quantity_affected": 1,
                },
                headers=csc,
            ),
            201,
        )
        notice = await ok(
            client.post(
                f"{rect_url}/v1/quality-reports/{report['report_id']}/notices",
                json={
                    "recipient": "supplier",
                    "supplier_id": supplier["supplier_id"],
                    "requirement": "请于期限内提交8D报告",
                    "due_date": in_days(14),
                },
                headers=quality,
            ),
            201,
        )
        rid = notice["rectification_id"]
        await ok(client.post(f"{rect_url}/v1/rectifications/{rid}/dispatch", headers=supply))
        contact = await ok(
            client.get(
                f"{rect_url}/v1/rectifications/{rid}/supplier-contact", headers=auth("service")
            )
        )
        link = contact["response_url"]
        assert link.startswith(f"{rect_url}/supplier/8d/{rid}/")

        # A wrong token: 404, and nothing changes.
        wrong = await client.get(link[:-3] + "abc")
        assert wrong.status_code == 404

        evidence = tmp_path / "检测报告.png"
        evidence.write_bytes(PNG)
        await page.goto(link)
        assert await page.locator("#notice-number").inner_text() == notice["number"]
        await page.fill("#containment", "已隔离在库油泵 120 件")
        await page.fill("#root_cause", "密封圈材料耐温不足")
        await page.select_option("#root_cause_category", "material")
        await page.fill("#corrective_action", "改用氟橡胶密封圈并验证")
        await page.fill("#preventive_action", "来料检验增加耐温测试")
        await page.set_input_files("#evidence", str(evidence))
        await page.click("#submit")
        await page.wait_for_selector("#answered", timeout=15_000)

        answered = await ok(client.get(f"{rect_url}/v1/rectifications/{rid}", headers=quality))
        assert answered["status"] == "awaiting_verification"
        assert answered["containment"] == "已隔离在库油泵 120 件"
        assert [e["filename"] for e in answered["evidence"]] == ["检测报告.png"]
        assert answered["history"][-1]["by"] == f"supplier:{supplier['supplier_id']}"

        satisfied = await satisfy_customer(client, stack, auth, cid)
        assert satisfied["status"] == "satisfied"
        await ok(
            client.post(
                f"{rect_url}/v1/rectifications/{rid}/verification",
                json={"passed": True, "comment": "复测无渗漏"},
                headers=quality,
            )
        )
        closed = await ok(client.get(f"{rect_url}/v1/cases/{cid}", headers=csc))
        assert closed["status"] == "closed"

    assert await case_events(stack, cid, "complaint.closed") == [
        "quality_report.issued",
        "rectification.notice_issued",
        "rectification.notice_dispatched",
        "rectification.supplier_responded",
        "callback.done",
        "rectification.verification_passed",
        "complaint.closed",
    ]
