"""Printable documents people sign and file: the External Quality Information Report
(外质量信息报告) and each rectification notice / instruction, as HTML and A4 PDF.

The PDF is the same HTML printed by headless Chromium (``tousu_common.browser``),
so both always agree; CJK text comes from the system's fonts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from tousu_common.auth import Staff
from tousu_common.browser import html_to_pdf
from tousu_common.errors import NOT_FOUND_RESPONSE, NotFound
from tousu_common.events.catalog import RectificationKind
from tousu_rectification.adapters.rectification_repository import RectificationRepository
from tousu_rectification.adapters.templates import document_css, render
from tousu_rectification.domain.rectification import QualityReport, Rectification

router = APIRouter(tags=["documents"])

DEPARTMENTS_ZH = {
    "csc": "客户服务中心",
    "quality": "质量部",
    "supply": "供应部",
    "sales": "销售部",
    "logistics": "物流部",
    "technical": "技术部",
    "production": "生产部",
    "design": "设计部",
    "after_sales": "售后服务部",
}
TITLES = {
    "report": ("外质量信息报告", "External Quality Information Report"),
    RectificationKind.service_instruction: ("整改指令", "Rectification Instruction"),
    RectificationKind.internal_notice: ("整改通知单", "Rectification Notice (internal)"),
    RectificationKind.supplier_notice: ("整改通知单", "Rectification Notice (supplier)"),
}
HTML = {"content": {"text/html": {}}, "description": "The document"}
PDF = {"content": {"application/pdf": {}}, "description": "The document, A4"}


def _local(request: Request, moment: datetime) -> str:
    zone = ZoneInfo(request.app.state.settings.timezone)
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _department(name: str | None) -> str | None:
    return f"{DEPARTMENTS_ZH.get(name, name)} ({name})" if name else None


def _page(
    request: Request,
    *,
    title: tuple[str, str],
    number: str,
    reference: str,
    fields: list[tuple[str, Any, bool]],
    prepared_by: str,
    prepared_at: datetime,
) -> str:
    settings = request.app.state.settings
    return render(
        "document.html",
        css=document_css(),
        company_name=settings.company_name,
        company_logo_text=settings.company_logo_text,
        title_zh=title[0],
        title_en=title[1],
        number=number,
        reference=reference,
        fields=fields,
        prepared_by=prepared_by,
        prepared_on=_local(request, prepared_at)[:10],
        printed_at=_local(request, datetime.now(UTC)),
    )


def report_html(request: Request, report: QualityReport, notices: list[Rectification]) -> str:
    fields = [
        ("报告编号 Report no.", report.number, False),
        ("投诉编号 Complaint", report.case.reference, False),
        ("签发日期 Issued", _local(request, report.issued_at), False),
        ("签发人 Issued by", f"客户服务中心 CSC · {report.issued_by}", False),
        ("产品型号 Product", report.product_model, False),
        ("编号/批次 Serial / batch", report.serial_or_batch, False),
        ("影响数量 Quantity affected", report.quantity_affected, False),
        ("故障描述 Failure description", report.failure_description, True),
        ("整改通知 Notices", ", ".join(n.number for n in notices) or None, False),
    ]
    return _page(
        request,
        title=TITLES["report"],
        number=report.number,
        reference=report.case.reference,
        fields=fields,
        prepared_by=report.issued_by,
        prepared_at=report.issued_at,
    )


def notice_html(request: Request, rect: Rectification, report: QualityReport | None) -> str:
    recipient = (
        f"供应商 Supplier: {rect.supplier.name}" if rect.supplier else _department(rect.department)
    )
    fields: list[tuple[str, Any, bool]] = [
        ("通知编号 Notice no.", rect.number, False),
        ("投诉编号 Complaint", rect.case.reference, False),
        ("签发日期 Issued", _local(request, rect.created_at), False),
        ("接收方 To", recipient, False),
    ]
    if report is not None:
        fields += [
            ("质量信息报告 Report", report.number, False),
            ("产品型号 Product", report.product_model, False),
            ("编号/批次 Serial / batch", report.serial_or_batch, False),
            ("影响数量 Quantity affected", report.quantity_affected, False),
            ("故障描述 Failure description", report.failure_description, True),
        ]
    fields += [
        ("整改要求 Requirement", rect.requirement, True),
        ("完成期限 Due date", rect.due_date.isoformat(), False),
        ("状态 Status", rect.status.value, False),
    ]
    if rect.root_cause:
        fields.append(("原因分析 Root cause", rect.root_cause, True))
    if rect.corrective_action:
        fields.append(("纠正措施 Corrective action", rect.corrective_action, True))
    return _page(
        request,
        title=TITLES[rect.kind],
        number=rect.number,
        reference=rect.case.reference,
        fields=fields,
        prepared_by=rect.created_by,
        prepared_at=rect.created_at,
    )


async def _report(request: Request, report_id: UUID) -> str:
    async with request.app.state.db.sessions() as session:
        rects = RectificationRepository(session)
        report = await rects.get_report(report_id)
        if report is None:
            raise NotFound(f"no quality report {report_id}")
        notices = [
            r
            for r in await rects.for_complaint(report.case.complaint_id)
            if r.report_id == report_id
        ]
    return report_html(request, report, notices)


async def _notice(request: Request, rectification_id: UUID) -> tuple[str, str]:
    async with request.app.state.db.sessions() as session:
        rects = RectificationRepository(session)
        rect = await rects.get(rectification_id)
        if rect is None:
            raise NotFound(f"no rectification {rectification_id}")
        report = await rects.get_report(rect.report_id) if rect.report_id else None
    return notice_html(request, rect, report), rect.number


def _pdf(content: bytes, name: str) -> Response:
    return Response(
        content,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{name}.pdf"'},
    )


@router.get(
    "/v1/quality-reports/{report_id}/report.html",
    response_class=Response,
    responses={200: HTML, **NOT_FOUND_RESPONSE},
    summary="The report, printable HTML",
)
async def quality_report_html(request: Request, report_id: UUID, principal: Staff) -> HTMLResponse:
    return HTMLResponse(await _report(request, report_id))


@router.get(
    "/v1/quality-reports/{report_id}/report.pdf",
    response_class=Response,
    responses={200: PDF, **NOT_FOUND_RESPONSE},
    summary="The report, A4 PDF",
)
async def quality_report_pdf(request: Request, report_id: UUID, principal: Staff) -> Response:
    html = await _report(request, report_id)
    async with request.app.state.db.sessions() as session:
        report = await RectificationRepository(session).get_report(report_id)
    if report is None:
        raise RuntimeError("report is not set")
    return _pdf(await html_to_pdf(html), report.number)


@router.get(
    "/v1/rectifications/{rectification_id}/report.html",
    response_class=Response,
    responses={200: HTML, **NOT_FOUND_RESPONSE},
    summary="The notice, printable HTML",
)
async def notice_html_route(
    request: Request, rectification_id: UUID, principal: Staff
) -> HTMLResponse:
    html, _ = await _notice(request, rectification_id)
    return HTMLResponse(html)


@router.get(
    "/v1/rectifications/{rectification_id}/report.pdf",
    response_class=Response,
    responses={200: PDF, **NOT_FOUND_RESPONSE},
    summary="The notice, A4 PDF",
)
async def notice_pdf_route(request: Request, rectification_id: UUID, principal: Staff) -> Response:
    html, number = await _notice(request, rectification_id)
    return _pdf(await html_to_pdf(html), number)
