"""Tables for rectifications, quality reports, suppliers and their evidence files.

Registered on the service's one ``Base`` (``adapters/orm.py`` imports this
module), so migrations and the model check see them.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tousu_common.db import BigIntPK, UTCDateTime
from tousu_rectification.adapters.orm import Base


class QualityReportRow(Base):
    """External Quality Information Report (外质量信息报告)."""

    __tablename__ = "quality_reports"

    report_id: Mapped[UUID] = mapped_column(sa.Uuid, primary_key=True)
    complaint_id: Mapped[UUID] = mapped_column(sa.Uuid, index=True)
    case_id: Mapped[UUID] = mapped_column(sa.Uuid)
    reference: Mapped[str] = mapped_column(sa.String(32))
    number: Mapped[str] = mapped_column(sa.String(30), unique=True)
    product_model: Mapped[str | None] = mapped_column(sa.String(100))
    serial_or_batch: Mapped[str | None] = mapped_column(sa.String(100))
    failure_description: Mapped[str] = mapped_column(sa.Text)
    quantity_affected: Mapped[int] = mapped_column(sa.Integer)
    issued_by: Mapped[str] = mapped_column(sa.String(100))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    notice_count: Mapped[int] = mapped_column(sa.Integer)


class RectificationRow(Base):
    __tablename__ = "rectifications"

    rectification_id: Mapped[UUID] = mapped_column(sa.Uuid, primary_key=True)
    complaint_id: Mapped[UUID] = mapped_column(sa.Uuid, index=True)
    case_id: Mapped[UUID] = mapped_column(sa.Uuid)
    reference: Mapped[str] = mapped_column(sa.String(32))
    kind: Mapped[str] = mapped_column(sa.String(30))
    number: Mapped[str] = mapped_column(sa.String(30), unique=True)
    status: Mapped[str] = mapped_column(sa.String(30), index=True)
    requirement: Mapped[str] = mapped_column(sa.Text)
    due_date: Mapped[date] = mapped_column(sa.Date)
    created_by: Mapped[str] = mapped_column(sa.String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    department: Mapped[str | None] = mapped_column(sa.String(50), index=True)
    supplier_id: Mapped[UUID | None] = mapped_column(sa.Uuid, index=True)
    supplier_name: Mapped[str | None] = mapped_column(sa.String(200))
    report_id: Mapped[UUID | None] = mapped_column(sa.Uuid, index=True)
    root_cause_category: Mapped[str | None] = mapped_column(sa.String(30))
    root_cause: Mapped[str | None] = mapped_column(sa.Text)
    corrective_action: Mapped[str | None] = mapped_column(sa.Text)
    containment: Mapped[str | None] = mapped_column(sa.Text)
    preventive_action: Mapped[str | None] = mapped_column(sa.Text)
    evidence_count: Mapped[int] = mapped_column(sa.Integer)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verification_comment: Mapped[str | None] = mapped_column(sa.Text)
    last_failure_reason: Mapped[str | None] = mapped_column(sa.Text)
    failed_verifications: Mapped[int] = mapped_column(sa.Integer)
    waiver_reason: Mapped[str | None] = mapped_column(sa.Text)
    # The plan and result fed back to the customer (when they asked), and their answer.
    feedback_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    feedback_answer: Mapped[str | None] = mapped_column(sa.String(20))
    feedback_answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    feedback_answer_via: Mapped[str | None] = mapped_column(sa.String(20))
    # Bumped on every save; a save from a stale copy matches no row (409).
    version: Mapped[int] = mapped_column(sa.Integer)


class RectificationHistoryRow(Base):
    """One row per transition; never updated."""

    __tablename__ = "rectification_history"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    rectification_id: Mapped[UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("rectifications.rectification_id"), index=True
    )
    action: Mapped[str] = mapped_column(sa.String(40))
    from_status: Mapped[str | None] = mapped_column(sa.String(30))
    to_status: Mapped[str] = mapped_column(sa.String(30))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(sa.String(100))
    note: Mapped[str] = mapped_column(sa.Text)


class EvidenceRow(Base):
    """A file a supplier (or Supply) attached to an 8D answer; the bytes live on disk."""

    __tablename__ = "rectification_evidence"

    evidence_id: Mapped[UUID] = mapped_column(sa.Uuid, primary_key=True)
    rectification_id: Mapped[UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("rectifications.rectification_id"), index=True
    )
    filename: Mapped[str] = mapped_column(sa.String(200))
    content_type: Mapped[str] = mapped_column(sa.String(100))
    size: Mapped[int] = mapped_column(sa.Integer)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    stored_name: Mapped[str] = mapped_column(sa.String(200))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    uploaded_by: Mapped[str] = mapped_column(sa.String(100))


class SupplierRow(Base):
    """Supplier register (配套厂). Contacts are personal data: never put in events."""

    __tablename__ = "suppliers"

    supplier_id: Mapped[UUID] = mapped_column(sa.Uuid, primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(50), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    language: Mapped[str] = mapped_column(sa.String(10))
    contacts: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON)
    parts_supplied: Mapped[list[str]] = mapped_column(sa.JSON)
    active: Mapped[bool] = mapped_column(sa.Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(sa.Integer)


class DocumentCounterRow(Base):
    """Last number given per document prefix and year (EQR-2026-0001, RN-2026-0001)."""

    __tablename__ = "document_counters"

    prefix: Mapped[str] = mapped_column(sa.String(10), primary_key=True)
    year: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    last: Mapped[int] = mapped_column(sa.Integer)
