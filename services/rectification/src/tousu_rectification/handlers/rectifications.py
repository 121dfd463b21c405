"""Commands on rectifications and quality reports: load, call the domain, save.

Each function takes the caller's unit of work (:func:`~tousu_rectification.
adapters.unit_of_work.unit_of_work`, one transaction), so the state change,
its history and its outbox events commit together, with the case's count.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from uuid import UUID

from tousu_common.auth import Principal
from tousu_common.errors import Conflict, NotFound
from tousu_rectification.adapters.evidence import StoredFile, Upload
from tousu_rectification.adapters.unit_of_work import CaseUnitOfWork
from tousu_rectification.domain.model import Case
from tousu_rectification.domain.rectification import (
    CaseRef,
    EightD,
    QualityReport,
    Rectification,
    RectificationStatus,
    SupplierRef,
)

REPORT_PREFIX = "EQR"  # External Quality Information Report, 外质量信息报告
NOTICE_PREFIX = "RN"  # rectification notice, 整改通知单
INSTRUCTION_PREFIX = "RI"  # rectification instruction, 整改指令


def _ref(case: Case) -> CaseRef:
    return CaseRef(case.case_id, case.complaint_id, case.reference)


async def instruct(
    uow: CaseUnitOfWork,
    complaint_id: UUID,
    *,
    department: str,
    instruction: str,
    due_date: date,
    actor: Principal,
    at: datetime,
    today: date,
) -> Rectification:
    case = await uow.cases.require(complaint_id)
    rect = Rectification.instruct(
        _ref(case),
        number=await uow.rectifications.next_number(INSTRUCTION_PREFIX, today.year),
        department=department,
        instruction=instruction,
        due_date=due_date,
        actor=actor,
        at=at,
        today=today,
    )
    await uow.rectifications.add(rect)
    case.rectification_opened(by=actor, at=at, detail=rect.number)
    await uow.cases.save(case)
    return rect


async def issue_report(
    uow: CaseUnitOfWork,
    complaint_id: UUID,
    *,
    product_model: str | None,
    serial_or_batch: str | None,
    failure_description: str,
    quantity_affected: int,
    actor: Principal,
    at: datetime,
    today: date,
) -> QualityReport:
    case = await uow.cases.require(complaint_id)
    report = QualityReport.issue(
        _ref(case),
        number=await uow.rectifications.next_number(REPORT_PREFIX, today.year),
        product_model=product_model,
        serial_or_batch=serial_or_batch,
        failure_description=failure_description,
        quantity_affected=quantity_affected,
        actor=actor,
        at=at,
    )
    await uow.rectifications.add_report(report)
    return report


async def issue_notice(
    uow: CaseUnitOfWork,
    report_id: UUID,
    *,
    department: str | None,
    supplier_id: UUID | None,
    requirement: str,
    due_date: date,
    actor: Principal,
    at: datetime,
    today: date,
) -> Rectification:
    rects = uow.rectifications
    report = await rects.get_report(report_id)
    if report is None:
        raise NotFound(f"no quality report {report_id}")
    case = await uow.cases.require(report.case.complaint_id)
    supplier = None
    if supplier_id is not None:
        row = await rects.supplier(supplier_id)
        if row is None or not row.active:
            # A referenced resource that does not exist is a conflict with the state,
            # as for a referenced customer: the body itself is schema-valid.
            raise Conflict(
                "supplier_id: no such active supplier",
                fields=[{"field": "supplier_id", "problem": "no such active supplier"}],
            )
        supplier = SupplierRef(row.supplier_id, row.name)
    rect = Rectification.issue_notice(
        report,
        number=await rects.next_number(NOTICE_PREFIX, today.year),
        department=department,
        supplier=supplier,
        requirement=requirement,
        due_date=due_date,
        actor=actor,
        at=at,
        today=today,
    )
    await rects.add(rect)
    await rects.count_notice(report)
    case.rectification_opened(by=actor, at=at, detail=rect.number)
    await uow.cases.save(case)
    return rect


async def change(
    uow: CaseUnitOfWork,
    rectification_id: UUID,
    command: Callable[[Rectification], None],
    *,
    actor: Principal,
    at: datetime,
) -> Rectification:
    """Load a rectification, apply one domain method, save it (version-checked).

    When that settles it (verified or waived), the case counts it off in the same
    transaction, after the rectification's own event — so a case that only waited
    for this rectification closes now and ``complaint.closed`` follows on the topic."""
    return await _apply(uow, await _load(uow, rectification_id), command, actor=actor, at=at)


async def _load(uow: CaseUnitOfWork, rectification_id: UUID) -> Rectification:
    rect = await uow.rectifications.get(rectification_id)
    if rect is None:
        raise NotFound(f"no rectification {rectification_id}")
    return rect


async def _apply(
    uow: CaseUnitOfWork,
    rect: Rectification,
    command: Callable[[Rectification], None],
    *,
    actor: Principal,
    at: datetime,
) -> Rectification:
    """:func:`change` on a rectification the caller has loaded already."""
    command(rect)
    await uow.rectifications.save(rect)
    if rect.settled:
        case = await uow.cases.require(rect.case.complaint_id)
        case.rectification_settled(
            by=actor,
            at=at,
            waived=rect.status is RectificationStatus.waived,
            detail=rect.number,
        )
        await uow.cases.save(case)
    return rect


async def verify_passed(
    uow: CaseUnitOfWork, rectification_id: UUID, *, comment: str, actor: Principal, at: datetime
) -> Rectification:
    """Verified; tells the customer too when the complaint asked for feedback."""
    rect = await _load(uow, rectification_id)
    facts = await uow.cases.facts(rect.case.complaint_id)
    feedback = facts is not None and facts.feedback_requested
    return await _apply(
        uow,
        rect,
        lambda r: r.pass_verification(
            comment=comment, feedback_requested=feedback, actor=actor, at=at
        ),
        actor=actor,
        at=at,
    )


async def waive(
    uow: CaseUnitOfWork, rectification_id: UUID, *, reason: str, actor: Principal, at: datetime
) -> Rectification:
    return await change(
        uow,
        rectification_id,
        lambda rect: rect.waive(reason=reason, actor=actor, at=at),
        actor=actor,
        at=at,
    )


async def attach_evidence(
    uow: CaseUnitOfWork,
    rectification_id: UUID,
    *,
    files: list[Upload],
    data_dir: Path,
    stored: list[StoredFile],
    actor: Principal,
    at: datetime,
) -> Rectification:
    """Evidence the supplier sent by other means, attached by Supply. The files
    written are appended to ``stored`` as they are, so the caller can remove them
    if the transaction fails after all."""
    names = ", ".join(upload.filename for upload in files)[:2000]
    rect = await change(
        uow,
        rectification_id,
        lambda rect: rect.attach_evidence(count=len(files), names=names, actor=actor, at=at),
        actor=actor,
        at=at,
    )
    stored += await uow.rectifications.store_evidence(
        data_dir, rectification_id, files, by=actor.subject, at=at
    )
    return rect


async def record_supplier_answer(
    uow: CaseUnitOfWork,
    rectification_id: UUID,
    answer: EightD,
    *,
    files: list[Upload],
    data_dir: Path,
    stored: list[StoredFile],
    actor: Principal,
    at: datetime,
) -> Rectification:
    """The supplier's 8D answer from the response link, with its evidence files
    (appended to ``stored`` as written, as for :func:`attach_evidence`)."""
    rect = await uow.rectifications.get(rectification_id)
    if rect is None:
        raise RuntimeError("current is not set")
    rect.record_supplier_response(answer, evidence_count=len(files), actor=actor, at=at)
    await uow.rectifications.save(rect)
    stored += await uow.rectifications.store_evidence(
        data_dir, rectification_id, files, by=actor.subject, at=at
    )
    return rect
