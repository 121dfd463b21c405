"""What the rectification APIs answer with (built from the domain objects)."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from pydantic import BaseModel

from tousu_common.events.catalog import RectificationKind, RootCauseCategory
from tousu_rectification.adapters.rectification_orm import EvidenceRow
from tousu_rectification.domain.rectification import (
    HistoryRecord,
    QualityReport,
    Rectification,
    RectificationStatus,
)


class RectificationHistoryView(BaseModel):
    action: str
    from_status: RectificationStatus | None
    to_status: RectificationStatus
    at: datetime
    by: str
    note: str


class EvidenceView(BaseModel):
    evidence_id: UUID
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_at: datetime
    uploaded_by: str


class RectificationView(BaseModel):
    rectification_id: UUID
    number: str
    kind: RectificationKind
    status: RectificationStatus
    complaint_id: UUID
    case_id: UUID
    reference: str
    report_id: UUID | None
    department: str | None
    supplier_id: UUID | None
    supplier_name: str | None
    requirement: str
    due_date: date
    created_by: str
    created_at: datetime
    root_cause_category: RootCauseCategory | None
    root_cause: str | None
    corrective_action: str | None
    containment: str | None
    preventive_action: str | None
    evidence_count: int
    dispatched_at: datetime | None
    responded_at: datetime | None
    settled_at: datetime | None
    verification_comment: str | None
    last_failure_reason: str | None
    failed_verifications: int
    waiver_reason: str | None
    version: int
    history: list[RectificationHistoryView] = []
    evidence: list[EvidenceView] = []

    @classmethod
    def of(
        cls,
        rect: Rectification,
        history: list[HistoryRecord] | None = None,
        evidence: list[EvidenceRow] | None = None,
    ) -> RectificationView:
        return cls(
            rectification_id=rect.rectification_id,
            number=rect.number,
            kind=rect.kind,
            status=rect.status,
            complaint_id=rect.case.complaint_id,
            case_id=rect.case.case_id,
            reference=rect.case.reference,
            report_id=rect.report_id,
            department=rect.department,
            supplier_id=rect.supplier.supplier_id if rect.supplier else None,
            supplier_name=rect.supplier.name if rect.supplier else None,
            requirement=rect.requirement,
            due_date=rect.due_date,
            created_by=rect.created_by,
            created_at=rect.created_at,
            root_cause_category=rect.root_cause_category,
            root_cause=rect.root_cause,
            corrective_action=rect.corrective_action,
            containment=rect.containment,
            preventive_action=rect.preventive_action,
            evidence_count=rect.evidence_count,
            dispatched_at=rect.dispatched_at,
            responded_at=rect.responded_at,
            settled_at=rect.settled_at,
            verification_comment=rect.verification_comment,
            last_failure_reason=rect.last_failure_reason,
            failed_verifications=rect.failed_verifications,
            waiver_reason=rect.waiver_reason,
            version=rect.version,
            history=[
                RectificationHistoryView(
                    action=h.action,
                    from_status=h.from_status,
                    to_status=h.to_status,
                    at=h.at,
                    by=h.by,
                    note=h.note,
                )
                for h in history or []
            ],
            evidence=[
                EvidenceView(
                    evidence_id=e.evidence_id,
                    filename=e.filename,
                    content_type=e.content_type,
                    size=e.size,
                    sha256=e.sha256,
                    uploaded_at=e.uploaded_at,
                    uploaded_by=e.uploaded_by,
                )
                for e in evidence or []
            ],
        )


class QualityReportView(BaseModel):
    report_id: UUID
    number: str
    complaint_id: UUID
    case_id: UUID
    reference: str
    product_model: str | None
    serial_or_batch: str | None
    failure_description: str
    quantity_affected: int
    issued_by: str
    issued_at: datetime
    notice_count: int

    @classmethod
    def of(cls, report: QualityReport) -> QualityReportView:
        return cls(
            report_id=report.report_id,
            number=report.number,
            complaint_id=report.case.complaint_id,
            case_id=report.case.case_id,
            reference=report.case.reference,
            product_model=report.product_model,
            serial_or_batch=report.serial_or_batch,
            failure_description=report.failure_description,
            quantity_affected=report.quantity_affected,
            issued_by=report.issued_by,
            issued_at=report.issued_at,
            notice_count=report.notice_count,
        )


class CaseRectificationsView(BaseModel):
    complaint_id: UUID
    quality_reports: list[QualityReportView]
    rectifications: list[RectificationView]
