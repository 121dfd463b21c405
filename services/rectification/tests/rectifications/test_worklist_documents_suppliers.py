"""Worklists by role and department, printable documents (HTML and PDF), and the
supplier register."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

import httpx
import pypdfium2
import pytest

from tousu_common.events import ComplaintCategory

from .conftest import in_days

pytestmark = pytest.mark.integration


async def product_case_with_notices(
    api: httpx.AsyncClient, as_: Callable[..., dict[str, str]], complaint_id: UUID
) -> dict[str, Any]:
    supplier = await api.post(
        "/v1/suppliers",
        json={
            "code": f"W-{complaint_id.hex[:8]}",
            "name": "宁波轴承厂",
            "parts_supplied": ["轴承"],
        },
        headers=as_("quality", department="quality"),
    )
    report = await api.post(
        f"/v1/cases/{complaint_id}/quality-reports",
        json={
            "product_model": "YC6L-280",
            "serial_or_batch": "B-77",
            "failure_description": "轴承异响，拆检发现滚道剥落",
            "quantity_affected": 4,
        },
        headers=as_("csc"),
    )
    quality = as_("quality", department="quality")
    internal = await api.post(
        f"/v1/quality-reports/{report.json()['report_id']}/notices",
        json={
            "recipient": "internal",
            "department": "production",
            "requirement": "装配复查",
            "due_date": in_days(1),
        },
        headers=quality,
    )
    to_supplier = await api.post(
        f"/v1/quality-reports/{report.json()['report_id']}/notices",
        json={
            "recipient": "supplier",
            "supplier_id": supplier.json()["supplier_id"],
            "requirement": "提交8D",
            "due_date": in_days(20),
        },
        headers=quality,
    )
    return {
        "report": report.json(),
        "internal": internal.json(),
        "supplier": to_supplier.json(),
    }


async def worklist(
    api: httpx.AsyncClient, headers: dict[str, str], scope: str = "mine"
) -> list[tuple[str, str | None]]:
    answer = await api.get(f"/v1/worklist?scope={scope}&limit=200", headers=headers)
    assert answer.status_code == 200, answer.text
    return [(item["action"], item["number"]) for item in answer.json()["items"]]


async def test_each_role_and_department_sees_its_own_open_actions(
    api: httpx.AsyncClient,
    as_: Callable[..., dict[str, str]],
    open_case: Callable[..., Awaitable[UUID]],
) -> None:
    untouched = await open_case(ComplaintCategory.product_quality)
    complaint_id = await open_case(ComplaintCategory.product_quality)
    csc = as_("csc", department="csc")
    assert ("issue_quality_report", None) in await worklist(api, csc)
    docs = await product_case_with_notices(api, as_, complaint_id)
    internal, supplier = docs["internal"]["number"], docs["supplier"]["number"]

    production = as_("department", department="production")
    assert await worklist(api, production) == [("mark_done", internal)]
    assert await worklist(api, production, "due_soon") == [("mark_done", internal)]
    assert await worklist(api, production, "overdue") == []
    assert await worklist(api, as_("department", department="design")) == []
    assert ("dispatch", supplier) in await worklist(api, as_("supply", department="supply"))
    quality_items = await worklist(api, as_("quality", department="quality"))
    assert ("verify", internal) not in quality_items
    csc_items = await worklist(api, csc)
    reported = [n for a, n in csc_items if a == "issue_quality_report"]
    assert len(reported) == 1  # only the untouched case still needs a report
    assert all(a != "mark_done" for a, _ in csc_items)
    assert {("supervise", internal), ("supervise", supplier)} <= set(
        await worklist(api, as_("manager"))
    )

    done = {"root_cause_category": "workmanship", "root_cause": "r", "corrective_action": "c"}
    rid = docs["internal"]["rectification_id"]
    await api.post(f"/v1/rectifications/{rid}/done", json=done, headers=production)
    assert await worklist(api, production) == []
    assert ("verify", internal) in await worklist(api, as_("quality", department="quality"))
    assert untouched  # still listed for the CSC
    page = await api.get("/v1/worklist?scope=mine&limit=1&offset=0", headers=as_("manager"))
    assert page.json()["limit"] == 1 and len(page.json()["items"]) == 1
    assert page.json()["total"] >= 2
    assert (await api.get("/v1/worklist?scope=later", headers=csc)).status_code == 422
    assert (await api.get("/v1/worklist")).status_code == 401


async def test_report_and_notice_print_as_html_and_a4_pdf_with_number_and_chinese(
    api: httpx.AsyncClient,
    as_: Callable[..., dict[str, str]],
    open_case: Callable[..., Awaitable[UUID]],
) -> None:
    complaint_id = await open_case(ComplaintCategory.product_quality)
    docs = await product_case_with_notices(api, as_, complaint_id)
    report, notice = docs["report"], docs["supplier"]
    staff = as_("quality", department="quality")

    html = await api.get(f"/v1/quality-reports/{report['report_id']}/report.html", headers=staff)
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    for text in (
        report["number"],
        "外质量信息报告",
        "轴承异响",
        "B-77",
        "编制",
        "审核",
        "批准",
        notice["number"],
        report["reference"],
        "示例动力股份有限公司",
        "size: A4",
    ):
        assert text in html.text, text
    notice_html = await api.get(
        f"/v1/rectifications/{notice['rectification_id']}/report.html", headers=staff
    )
    for text in (notice["number"], "整改通知单", "宁波轴承厂", "提交8D", notice["due_date"]):
        assert text in notice_html.text, text

    pdf = await api.get(
        f"/v1/rectifications/{notice['rectification_id']}/report.pdf", headers=staff
    )
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    document = pypdfium2.PdfDocument(pdf.content)
    try:
        page = document[0]
        width, height = page.get_size()
        text = page.get_textpage().get_text_range()
    finally:
        document.close()
    assert abs(width - 595.3) < 1.5 and abs(height - 841.9) < 1.5  # A4 in points
    assert notice["number"] in text
    assert "整改通知单" in text and "宁波轴承厂" in text

    assert (
        await api.get(f"/v1/quality-reports/{report['report_id']}/report.html")
    ).status_code == 401
    missing = await api.get(f"/v1/rectifications/{UUID(int=3)}/report.pdf", headers=staff)
    assert missing.status_code == 404


async def test_supplier_register_crud_is_for_supply_quality_and_admin(
    api: httpx.AsyncClient, as_: Callable[..., dict[str, str]]
) -> None:
    supply = as_("supply", department="supply")
    body = {
        "code": "S-CRUD-1",
        "name": "苏州电装",
        "language": "zh",
        "contacts": [{"name": "孙经理", "email": "sun@dz.example", "phone": "+86 512 8888"}],
        "parts_supplied": ["起动机"],
    }
    created = await api.post("/v1/suppliers", json=body, headers=supply)
    assert created.status_code == 201
    sid = created.json()["supplier_id"]
    assert (await api.post("/v1/suppliers", json=body, headers=supply)).status_code == 409
    for role in ("csc", "agent", "department", "manager"):
        assert (await api.get("/v1/suppliers", headers=as_(role))).status_code == 403
    bad = await api.post(
        "/v1/suppliers",
        json={**body, "code": "S-2", "contacts": [{"name": "x", "email": "not-mail"}]},
        headers=supply,
    )
    assert bad.status_code == 422 and bad.json()["error"]["fields"][0]["field"].startswith(
        "contacts"
    )
    found = await api.get("/v1/suppliers?q=起动", headers=as_("quality"))
    assert [s["code"] for s in found.json()["items"]] == ["S-CRUD-1"]
    update = {**body, "name": "苏州电装有限公司", "version": 1}
    updated = await api.put(f"/v1/suppliers/{sid}", json=update, headers=as_("admin"))
    assert updated.status_code == 200 and updated.json()["version"] == 2
    stale = await api.put(f"/v1/suppliers/{sid}", json=update, headers=supply)
    assert stale.status_code == 409
    assert (await api.delete(f"/v1/suppliers/{sid}", headers=supply)).status_code == 204
    assert (await api.get(f"/v1/suppliers/{sid}", headers=supply)).status_code == 404


async def test_supply_sees_overdue_and_due_soon_supplier_notices(
    api: httpx.AsyncClient,
    db: Any,
    as_: Callable[..., dict[str, str]],
    open_case: Callable[..., Awaitable[UUID]],
) -> None:
    from datetime import date, timedelta

    import sqlalchemy as sa

    from tousu_rectification.adapters.rectification_orm import RectificationRow

    complaint_id = await open_case(ComplaintCategory.product_quality)
    docs = await product_case_with_notices(api, as_, complaint_id)
    supply = as_("supply", department="supply")
    rid = docs["supplier"]["rectification_id"]
    await api.post(f"/v1/rectifications/{rid}/dispatch", headers=supply)
    assert ("chase_supplier", docs["supplier"]["number"]) in await worklist(api, supply)
    assert await worklist(api, supply, "overdue") == []
    async with db.transaction() as session:  # the due date passes
        await session.execute(
            sa.update(RectificationRow)
            .where(RectificationRow.rectification_id == UUID(rid))
            .values(due_date=date.today() - timedelta(days=2))
        )
    overdue = await api.get("/v1/worklist?scope=overdue", headers=supply)
    assert [(i["action"], i["number"], i["overdue"]) for i in overdue.json()["items"]] == [
        ("chase_supplier", docs["supplier"]["number"], True)
    ]
    assert await worklist(api, supply, "due_soon") == []
