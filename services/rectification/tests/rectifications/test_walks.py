"""The rectification walks over the API, in-process, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from uuid import UUID

import httpx
import pytest

from tousu_common.db import Database
from tousu_common.events import ComplaintCategory

from .conftest import in_days, outbox_types

pytestmark = pytest.mark.integration


async def test_service_instruction_failed_verification_goes_back_and_then_passes(
    api: httpx.AsyncClient,
    db: Database,
    as_: Callable[..., dict[str, str]],
    open_case: Callable[..., Awaitable[UUID]],
) -> None:
    complaint_id = await open_case()
    csc = as_("csc", department="csc", sub="csc-li")
    logistics = as_("department", department="logistics", sub="log-wang")

    created = await api.post(
        f"/v1/cases/{complaint_id}/instructions",
        json={
            "department": "logistics",
            "instruction": "查明送货延误原因并整改",
            "due_date": in_days(7),
        },
        headers=csc,
    )
    assert created.status_code == 201, created.text
    rect = created.json()
    assert rect["number"].startswith("RI-") and rect["status"] == "in_progress"
    rid = rect["rectification_id"]

    done = {
        "root_cause_category": "logistics",
        "root_cause": "调度失误",
        "corrective_action": "改排班",
    }
    assert (
        await api.post(f"/v1/rectifications/{rid}/done", json=done, headers=logistics)
    ).status_code == 200
    failed = await api.post(
        f"/v1/rectifications/{rid}/verification",
        json={"passed": False, "reason": "回访仍有延误"},
        headers=csc,
    )
    assert failed.status_code == 200, failed.text
    assert failed.json()["status"] == "in_progress"
    assert failed.json()["last_failure_reason"] == "回访仍有延误"
    redone = await api.post(f"/v1/rectifications/{rid}/done", json=done, headers=logistics)
    assert redone.json()["status"] == "awaiting_verification"
    passed = await api.post(
        f"/v1/rectifications/{rid}/verification",
        json={"passed": True, "comment": "连续两周准时"},
        headers=csc,
    )
    assert passed.status_code == 200
    body = passed.json()
    assert body["status"] == "verified" and body["failed_verifications"] == 1
    assert [(h["action"], h["to_status"], h["by"]) for h in body["history"]] == [
        ("instruct", "in_progress", "csc-li"),
        ("mark_done", "awaiting_verification", "log-wang"),
        ("fail_verification", "in_progress", "csc-li"),
        ("mark_done", "awaiting_verification", "log-wang"),
        ("pass_verification", "verified", "csc-li"),
    ]
    assert (await outbox_types(db, complaint_id))[1:] == [
        "rectification.instructed",
        "rectification.done",
        "rectification.verification_failed",
        "rectification.done",
        "rectification.verification_passed",
    ]


async def test_product_complaint_report_supplier_notice_dispatch_answer_verify(
    api: httpx.AsyncClient,
    db: Database,
    as_: Callable[..., dict[str, str]],
    open_case: Callable[..., Awaitable[UUID]],
) -> None:
    complaint_id = await open_case(ComplaintCategory.product_quality)
    csc, quality = as_("csc", department="csc"), as_("quality", department="quality")
    supply = as_("supply", department="supply")
    supplier = await api.post(
        "/v1/suppliers",
        json={
            "code": "S-PUMP-01",
            "name": "无锡油泵有限公司",
            "language": "zh",
            "contacts": [{"name": "赵工", "email": "zhao@pump.example", "phone": "+86 510 1234"}],
            "parts_supplied": ["油泵", "喷油器"],
        },
        headers=supply,
    )
    assert supplier.status_code == 201, supplier.text
    report = await api.post(
        f"/v1/cases/{complaint_id}/quality-reports",
        json={
            "product_model": "YC6L-280",
            "serial_or_batch": "B2026-11",
            "failure_description": "油泵密封圈漏油",
            "quantity_affected": 12,
        },
        headers=csc,
    )
    assert report.status_code == 201, report.text
    assert report.json()["number"].startswith("EQR-")
    report_id = report.json()["report_id"]
    notice = await api.post(
        f"/v1/quality-reports/{report_id}/notices",
        json={
            "recipient": "supplier",
            "supplier_id": supplier.json()["supplier_id"],
            "requirement": "提交8D报告，更换密封圈材料",
            "due_date": in_days(14),
        },
        headers=quality,
    )
    assert notice.status_code == 201, notice.text
    rect = notice.json()
    assert rect["number"].startswith("RN-") and rect["status"] == "awaiting_dispatch"
    assert rect["supplier_name"] == "无锡油泵有限公司"
    rid = rect["rectification_id"]

    dispatched = await api.post(f"/v1/rectifications/{rid}/dispatch", headers=supply)
    assert dispatched.json()["status"] == "awaiting_supplier"
    contact = await api.get(f"/v1/rectifications/{rid}/supplier-contact", headers=as_("service"))
    assert contact.status_code == 200
    assert contact.json()["email"] == "zhao@pump.example"
    assert contact.json()["response_url"].startswith(
        f"http://rectification.example/supplier/8d/{rid}/"
    )
    answer = {
        "containment": "隔离库存",
        "root_cause": "密封圈材料耐温不足",
        "root_cause_category": "material",
        "corrective_action": "改用氟橡胶",
        "preventive_action": "来料检验增加耐温测试",
    }
    responded = await api.post(
        f"/v1/rectifications/{rid}/supplier-response", json=answer, headers=supply
    )
    assert responded.json()["status"] == "awaiting_verification"
    failed = await api.post(
        f"/v1/rectifications/{rid}/verification",
        json={"passed": False, "reason": "样件仍渗漏"},
        headers=quality,
    )
    assert failed.json()["status"] == "awaiting_supplier"
    await api.post(f"/v1/rectifications/{rid}/supplier-response", json=answer, headers=supply)
    passed = await api.post(
        f"/v1/rectifications/{rid}/verification", json={"passed": True}, headers=quality
    )
    assert passed.json()["status"] == "verified"
    assert (await outbox_types(db, complaint_id))[1:] == [
        "quality_report.issued",
        "rectification.notice_issued",
        "rectification.notice_dispatched",
        "rectification.supplier_responded",
        "rectification.verification_failed",
        "rectification.supplier_responded",
        "rectification.verification_passed",
    ]
    listing = await api.get(f"/v1/cases/{complaint_id}/rectifications", headers=csc)
    assert listing.json()["quality_reports"][0]["notice_count"] == 1
    assert [r["number"] for r in listing.json()["rectifications"]] == [rect["number"]]


async def test_internal_notice_goes_to_the_department_and_quality_verifies(
    api: httpx.AsyncClient,
    as_: Callable[..., dict[str, str]],
    open_case: Callable[..., Awaitable[UUID]],
) -> None:
    complaint_id = await open_case(ComplaintCategory.product_quality)
    report = await api.post(
        f"/v1/cases/{complaint_id}/quality-reports",
        json={"failure_description": "装配扭矩不足", "quantity_affected": 3},
        headers=as_("csc"),
    )
    notice = await api.post(
        f"/v1/quality-reports/{report.json()['report_id']}/notices",
        json={"recipient": "internal", "department": "production", "requirement": "复核扭矩",
              "due_date": in_days(5)},
        headers=as_("quality", department="quality"),
    )  # fmt: skip
    assert notice.json()["kind"] == "internal_notice" and notice.json()["status"] == "in_progress"
    rid = notice.json()["rectification_id"]
    done = {"root_cause_category": "workmanship", "root_cause": "漏打", "corrective_action": "防错"}
    design = await api.post(
        f"/v1/rectifications/{rid}/done", json=done, headers=as_("department", department="design")
    )
    assert design.status_code == 403
    production = as_("department", department="production")
    assert (
        await api.post(f"/v1/rectifications/{rid}/done", json=done, headers=production)
    ).status_code == 200
    csc_verifies = await api.post(
        f"/v1/rectifications/{rid}/verification", json={"passed": True}, headers=as_("csc")
    )
    assert csc_verifies.status_code == 403
    failed = await api.post(
        f"/v1/rectifications/{rid}/verification",
        json={"passed": False, "reason": "抽检不合格"},
        headers=as_("quality", department="quality"),
    )
    assert failed.json()["status"] == "in_progress"


async def test_manager_waives_with_a_reason(
    api: httpx.AsyncClient,
    db: Database,
    as_: Callable[..., dict[str, str]],
    open_case: Callable[..., Awaitable[UUID]],
) -> None:
    complaint_id = await open_case()
    rect = await api.post(
        f"/v1/cases/{complaint_id}/instructions",
        json={"department": "sales", "instruction": "培训", "due_date": in_days(3)},
        headers=as_("csc"),
    )
    rid = rect.json()["rectification_id"]
    no_reason = await api.post(
        f"/v1/rectifications/{rid}/waiver", json={"reason": ""}, headers=as_("manager")
    )
    assert no_reason.status_code == 422
    assert no_reason.json()["error"]["fields"][0]["field"] == "reason"
    waived = await api.post(
        f"/v1/rectifications/{rid}/waiver",
        json={"reason": "客户撤诉，无需整改"},
        headers=as_("manager"),
    )
    assert waived.status_code == 200
    assert waived.json()["status"] == "waived"
    assert waived.json()["waiver_reason"] == "客户撤诉，无需整改"
    assert (await outbox_types(db, complaint_id))[-1] == "rectification.waived"


async def test_bad_input_names_the_field_and_changes_nothing(
    api: httpx.AsyncClient,
    db: Database,
    as_: Callable[..., dict[str, str]],
    open_case: Callable[..., Awaitable[UUID]],
) -> None:
    complaint_id = await open_case()
    before = await outbox_types(db)
    cases = [
        ({"department": "marketing", "instruction": "x", "due_date": in_days(1)}, "department"),
        ({"department": "sales", "instruction": "", "due_date": in_days(1)}, "instruction"),
        ({"department": "sales", "instruction": "x", "due_date": in_days(-2)}, "due_date"),
        ({"department": "sales", "instruction": "x", "due_date": "tomorrow"}, "due_date"),
    ]
    for body, field in cases:
        answer = await api.post(
            f"/v1/cases/{complaint_id}/instructions", json=body, headers=as_("csc")
        )
        assert answer.status_code == 422, (body, answer.text)
        assert [f["field"] for f in answer.json()["error"]["fields"]] == [field]
    unknown = await api.post(
        "/v1/cases/00000000-0000-0000-0000-000000000001/instructions",
        json={"department": "sales", "instruction": "x", "due_date": in_days(1)},
        headers=as_("csc"),
    )
    assert unknown.status_code == 404
    no_supplier = await api.post(
        "/v1/quality-reports/00000000-0000-0000-0000-000000000001/notices",
        json={"recipient": "supplier", "requirement": "x", "due_date": in_days(1)},
        headers=as_("quality"),
    )
    assert no_supplier.status_code == 422
    assert no_supplier.json()["error"]["fields"][0]["field"] == "supplier_id"
    assert await outbox_types(db) == before


async def test_feedback_requested_complaints_get_the_verified_result(
    api: httpx.AsyncClient,
    db: Database,
    as_: Callable[..., dict[str, str]],
    open_case: Callable[..., Awaitable[UUID]],
) -> None:
    from datetime import UTC, datetime

    from tousu_rectification.adapters.repository import CaseRepository

    complaint_id = await open_case()
    async with db.transaction() as session:
        # What rectification keeps from complaint.received (the case part consumes it).
        await CaseRepository(session).record_facts(
            complaint_id, "TS-2026-000001", received_at=datetime.now(UTC), feedback_requested=True
        )
    rect = await api.post(
        f"/v1/cases/{complaint_id}/instructions",
        json={"department": "technical", "instruction": "改进安装指导", "due_date": in_days(3)},
        headers=as_("csc"),
    )
    rid = rect.json()["rectification_id"]
    done = {
        "root_cause_category": "documentation",
        "root_cause": "手册缺页",
        "corrective_action": "补页",
    }
    await api.post(
        f"/v1/rectifications/{rid}/done",
        json=done,
        headers=as_("department", department="technical"),
    )
    await api.post(
        f"/v1/rectifications/{rid}/verification", json={"passed": True}, headers=as_("csc")
    )
    assert (await outbox_types(db, complaint_id))[-2:] == [
        "rectification.verification_passed",
        "rectification.feedback_requested",
    ]


async def test_a_notice_to_a_supplier_that_does_not_exist_is_409_naming_supplier_id(
    api: httpx.AsyncClient,
    as_: Callable[..., dict[str, str]],
    open_case: Callable[..., Awaitable[UUID]],
) -> None:
    complaint_id = await open_case(ComplaintCategory.product_quality)
    csc, quality = as_("csc", department="csc"), as_("quality", department="quality")
    report = await api.post(
        f"/v1/cases/{complaint_id}/quality-reports",
        json={"failure_description": "油泵密封圈漏油", "quantity_affected": 1},
        headers=csc,
    )
    assert report.status_code == 201, report.text
    notice = await api.post(
        f"/v1/quality-reports/{report.json()['report_id']}/notices",
        json={
            "recipient": "supplier",
            "supplier_id": "00000000-0000-4000-8000-000000000000",
            "requirement": "提交8D报告",
            "due_date": in_days(14),
        },
        headers=quality,
    )
    assert notice.status_code == 409, notice.text
    assert notice.json()["error"]["fields"] == [
        {"field": "supplier_id", "problem": "no such active supplier"}
    ]
