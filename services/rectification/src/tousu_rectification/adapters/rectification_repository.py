"""Loading and saving rectifications, quality reports and suppliers; the SQL lives here.

Saving writes, in the caller's transaction, the row (guarded by its version),
one history row per transition and the public events to the outbox — so a
transition is recorded completely or not at all.

As in ``repository.py``, the statements of the command paths are built once
below (Core) and run with their values as parameters, instead of the ORM's
``Session.get`` and flush and a statement rebuilt on every call.
"""

from __future__ import annotations

import functools
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from tousu_common.errors import Conflict
from tousu_common.events import ComplaintCategory, new_event
from tousu_common.events.catalog import (
    Channel,
    FeedbackAnswer,
    RectificationKind,
    RootCauseCategory,
)
from tousu_common.messaging.outbox import add_event
from tousu_rectification.adapters.evidence import StoredFile, Upload, store
from tousu_rectification.adapters.orm import Base, CaseRow
from tousu_rectification.adapters.rectification_orm import (
    EvidenceRow,
    QualityReportRow,
    SupplierRow,
)
from tousu_rectification.domain.rectification import (
    CaseRef,
    HistoryRecord,
    QualityReport,
    Rectification,
    RectificationStatus,
    SupplierRef,
)
from tousu_rectification.domain.status import ENDED

SOURCE = "tousu/rectification"


class CaseAwaitingReport(NamedTuple):
    """An open product-quality case still without an External Quality Information Report."""

    case_id: UUID
    complaint_id: UUID
    reference: str
    status: str


class StaleRectification(Conflict):
    """Someone else changed the rectification since it was loaded; reload and retry."""

    code = "stale_rectification"


# -- the statements (built once) ---------------------------------------------------

_rects = Base.metadata.tables["rectifications"]
_rect_history = Base.metadata.tables["rectification_history"]
_reports = Base.metadata.tables["quality_reports"]
_counters = Base.metadata.tables["document_counters"]

_GET = sa.select(_rects).where(
    _rects.c.rectification_id == sa.bindparam("rectification_id", type_=sa.Uuid())
)
_FOR_COMPLAINT = (
    sa.select(_rects)
    .where(_rects.c.complaint_id == sa.bindparam("complaint_id", type_=sa.Uuid()))
    .order_by(_rects.c.created_at, _rects.c.number)
)
_HISTORY = (
    sa.select(_rect_history)
    .where(_rect_history.c.rectification_id == sa.bindparam("rectification_id", type_=sa.Uuid()))
    .order_by(_rect_history.c.id)
)
_GET_REPORT = sa.select(_reports).where(
    _reports.c.report_id == sa.bindparam("report_id", type_=sa.Uuid())
)
_INSERT = sa.insert(_rects)
_INSERT_HISTORY = sa.insert(_rect_history)
_INSERT_REPORT = sa.insert(_reports)
_COUNT_NOTICE = (
    sa.update(_reports)
    .where(_reports.c.report_id == sa.bindparam("key_report_id"))
    .values(notice_count=_reports.c.notice_count + 1)
)

#: What a transition may change (the rest is fixed when the rectification is created).
_CHANGING = (
    "status",
    "root_cause_category",
    "root_cause",
    "corrective_action",
    "containment",
    "preventive_action",
    "evidence_count",
    "dispatched_at",
    "responded_at",
    "settled_at",
    "verification_comment",
    "last_failure_reason",
    "failed_verifications",
    "waiver_reason",
    "feedback_sent_at",
    "feedback_answer",
    "feedback_answered_at",
    "feedback_answer_via",
)
#: The optimistic lock: a copy loaded at another version matches no row.
_SAVE = (
    sa.update(_rects)
    .where(
        _rects.c.rectification_id == sa.bindparam("key_rectification_id"),
        _rects.c.version == sa.bindparam("loaded_version"),
    )
    .values({name: sa.bindparam(name) for name in (*_CHANGING, "version")})
    .returning(_rects.c.version)
)


@functools.cache
def _next_number_statement(dialect: str) -> sa.Executable:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(_counters)
        .on_conflict_do_update(
            index_elements=["prefix", "year"], set_={"last": _counters.c.last + 1}
        )
        .returning(_counters.c.last)
    )


async def next_number(session: AsyncSession, prefix: str, year: int) -> str:
    """The next document number of a kind and year, e.g. ``RN-2026-0001``. Atomic on
    both backends (an upsert), so concurrent issuers never get the same number."""
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    result = await session.execute(
        _next_number_statement(dialect), {"prefix": prefix, "year": year, "last": 1}
    )
    last = result.scalar_one()
    return f"{prefix}-{year}-{last:04d}"


def _rect_values(rect: Rectification) -> dict[str, Any]:
    return {
        "status": rect.status.value,
        "root_cause_category": rect.root_cause_category.value if rect.root_cause_category else None,
        "root_cause": rect.root_cause,
        "corrective_action": rect.corrective_action,
        "containment": rect.containment,
        "preventive_action": rect.preventive_action,
        "evidence_count": rect.evidence_count,
        "dispatched_at": rect.dispatched_at,
        "responded_at": rect.responded_at,
        "settled_at": rect.settled_at,
        "verification_comment": rect.verification_comment,
        "last_failure_reason": rect.last_failure_reason,
        "failed_verifications": rect.failed_verifications,
        "waiver_reason": rect.waiver_reason,
        "feedback_sent_at": rect.feedback_sent_at,
        "feedback_answer": rect.feedback_answer.value if rect.feedback_answer else None,
        "feedback_answered_at": rect.feedback_answered_at,
        "feedback_answer_via": rect.feedback_answer_via.value if rect.feedback_answer_via else None,
    }


def _rect_from_row(row: Any) -> Rectification:
    return Rectification(
        rectification_id=row.rectification_id,
        case=CaseRef(row.case_id, row.complaint_id, row.reference),
        kind=RectificationKind(row.kind),
        number=row.number,
        status=RectificationStatus(row.status),
        requirement=row.requirement,
        due_date=row.due_date,
        created_by=row.created_by,
        created_at=row.created_at,
        department=row.department,
        supplier=SupplierRef(row.supplier_id, row.supplier_name or "") if row.supplier_id else None,
        report_id=row.report_id,
        root_cause_category=RootCauseCategory(row.root_cause_category)
        if row.root_cause_category
        else None,
        root_cause=row.root_cause,
        corrective_action=row.corrective_action,
        containment=row.containment,
        preventive_action=row.preventive_action,
        evidence_count=row.evidence_count,
        dispatched_at=row.dispatched_at,
        responded_at=row.responded_at,
        settled_at=row.settled_at,
        verification_comment=row.verification_comment,
        last_failure_reason=row.last_failure_reason,
        failed_verifications=row.failed_verifications,
        waiver_reason=row.waiver_reason,
        feedback_sent_at=row.feedback_sent_at,
        feedback_answer=FeedbackAnswer(row.feedback_answer) if row.feedback_answer else None,
        feedback_answered_at=row.feedback_answered_at,
        feedback_answer_via=Channel(row.feedback_answer_via) if row.feedback_answer_via else None,
        version=row.version,
    )


def _report_from_row(row: Any) -> QualityReport:
    return QualityReport(
        report_id=row.report_id,
        case=CaseRef(row.case_id, row.complaint_id, row.reference),
        number=row.number,
        product_model=row.product_model,
        serial_or_batch=row.serial_or_batch,
        failure_description=row.failure_description,
        quantity_affected=row.quantity_affected,
        issued_by=row.issued_by,
        issued_at=row.issued_at,
        notice_count=row.notice_count,
    )


class RectificationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- rectifications ------------------------------------------------------------

    async def add(self, rect: Rectification) -> None:
        await self.session.execute(
            _INSERT,
            {
                "rectification_id": rect.rectification_id,
                "complaint_id": rect.case.complaint_id,
                "case_id": rect.case.case_id,
                "reference": rect.case.reference,
                "kind": rect.kind.value,
                "number": rect.number,
                "requirement": rect.requirement,
                "due_date": rect.due_date,
                "created_by": rect.created_by,
                "created_at": rect.created_at,
                "department": rect.department,
                "supplier_id": rect.supplier.supplier_id if rect.supplier else None,
                "supplier_name": rect.supplier.name if rect.supplier else None,
                "report_id": rect.report_id,
                "version": rect.version,
                **_rect_values(rect),
            },
        )
        await self._record(rect.rectification_id, rect.history, rect.events)

    async def save(self, rect: Rectification) -> None:
        """Store a changed rectification unless it changed since it was loaded."""
        result = await self.session.execute(
            _SAVE,
            {
                "key_rectification_id": rect.rectification_id,
                "loaded_version": rect.version,
                "version": rect.version + 1,
                **_rect_values(rect),
            },
        )
        saved = result.scalar()
        if saved is None:
            raise StaleRectification(
                f"rectification {rect.number} was changed by someone else; reload it"
            )
        rect.version = saved
        await self._record(rect.rectification_id, rect.history, rect.events)

    async def next_number(self, prefix: str, year: int) -> str:
        """The next document number of a kind and year (see :func:`next_number`)."""
        return await next_number(self.session, prefix, year)

    async def get(self, rectification_id: UUID) -> Rectification | None:
        result = await self.session.execute(_GET, {"rectification_id": rectification_id})
        row = result.first()
        return _rect_from_row(row) if row else None

    async def for_complaint(self, complaint_id: UUID) -> list[Rectification]:
        rows = await self.session.execute(_FOR_COMPLAINT, {"complaint_id": complaint_id})
        return [_rect_from_row(row) for row in rows]

    async def open_ones(self, *conditions: Any) -> list[Rectification]:
        rows = await self.session.execute(
            sa.select(_rects)
            .where(
                _rects.c.status.notin_(
                    [RectificationStatus.verified.value, RectificationStatus.waived.value]
                ),
                *conditions,
            )
            .order_by(_rects.c.due_date, _rects.c.number)
        )
        return [_rect_from_row(row) for row in rows]

    async def history(self, rectification_id: UUID) -> list[HistoryRecord]:
        rows = await self.session.execute(_HISTORY, {"rectification_id": rectification_id})
        return [
            HistoryRecord(
                action=row.action,
                from_status=RectificationStatus(row.from_status) if row.from_status else None,
                to_status=RectificationStatus(row.to_status),
                at=row.at,
                by=row.actor,
                note=row.note,
            )
            for row in rows
        ]

    # -- evidence --------------------------------------------------------------------

    async def store_evidence(
        self,
        data_dir: Path,
        rectification_id: UUID,
        files: list[Upload],
        *,
        by: str,
        at: datetime,
    ) -> list[StoredFile]:
        """Write the files under ``data_dir`` and their rows in this transaction; the
        caller removes the files (:func:`evidence.remove`) if the transaction fails."""
        stored: list[StoredFile] = []
        for upload in files:
            saved = store(
                data_dir, rectification_id, upload.filename, upload.content, upload.mime, upload.ext
            )
            stored.append(saved)
            self.session.add(
                EvidenceRow(
                    evidence_id=saved.evidence_id,
                    rectification_id=rectification_id,
                    filename=saved.filename,
                    content_type=saved.content_type,
                    size=saved.size,
                    sha256=saved.sha256,
                    stored_name=saved.stored_name,
                    uploaded_at=at,
                    uploaded_by=by,
                )
            )
        await self.session.flush()
        return stored

    async def evidence(self, rectification_id: UUID) -> list[EvidenceRow]:
        rows = await self.session.scalars(
            sa.select(EvidenceRow)
            .where(EvidenceRow.rectification_id == rectification_id)
            .order_by(EvidenceRow.uploaded_at, EvidenceRow.filename)
        )
        return list(rows)

    # -- quality reports -----------------------------------------------------------------

    async def add_report(self, report: QualityReport) -> None:
        await self.session.execute(
            _INSERT_REPORT,
            {
                "report_id": report.report_id,
                "complaint_id": report.case.complaint_id,
                "case_id": report.case.case_id,
                "reference": report.case.reference,
                "number": report.number,
                "product_model": report.product_model,
                "serial_or_batch": report.serial_or_batch,
                "failure_description": report.failure_description,
                "quantity_affected": report.quantity_affected,
                "issued_by": report.issued_by,
                "issued_at": report.issued_at,
                "notice_count": report.notice_count,
            },
        )
        await self._record(None, [], report.events)
        report.events.clear()

    async def count_notice(self, report: QualityReport) -> None:
        """One more notice issued from the report (an increment, safe under concurrency)."""
        await self.session.execute(_COUNT_NOTICE, {"key_report_id": report.report_id})

    async def get_report(self, report_id: UUID) -> QualityReport | None:
        row = (await self.session.execute(_GET_REPORT, {"report_id": report_id})).first()
        return _report_from_row(row) if row else None

    async def reports_for_complaint(self, complaint_id: UUID) -> list[QualityReport]:
        rows = await self.session.scalars(
            sa.select(QualityReportRow)
            .where(QualityReportRow.complaint_id == complaint_id)
            .order_by(QualityReportRow.issued_at)
        )
        return [_report_from_row(row) for row in rows]

    async def reports_without_notices(self) -> list[QualityReport]:
        rows = await self.session.scalars(
            sa.select(QualityReportRow)
            .where(QualityReportRow.notice_count == 0)
            .order_by(QualityReportRow.issued_at)
        )
        return [_report_from_row(row) for row in rows]

    def _awaiting_report(self) -> tuple[sa.ColumnElement[bool], ...]:
        return (
            CaseRow.category == ComplaintCategory.product_quality.value,
            CaseRow.status.notin_([status.value for status in ENDED]),
            CaseRow.complaint_id.notin_(sa.select(QualityReportRow.complaint_id)),
        )

    async def count_cases_awaiting_report(self) -> int:
        """How many open product-quality cases have no quality report yet."""
        count = await self.session.scalar(
            sa.select(sa.func.count()).select_from(CaseRow).where(*self._awaiting_report())
        )
        return count or 0

    async def cases_awaiting_report(self, *, offset: int, limit: int) -> list[CaseAwaitingReport]:
        """A slice of those cases, oldest first (ties by case id, so pages never overlap)."""
        rows = await self.session.execute(
            sa.select(CaseRow.case_id, CaseRow.complaint_id, CaseRow.reference, CaseRow.status)
            .where(*self._awaiting_report())
            .order_by(CaseRow.opened_at, CaseRow.case_id)
            .offset(offset)
            .limit(limit)
        )
        return [CaseAwaitingReport(*row) for row in rows]

    # -- suppliers -------------------------------------------------------------------------

    async def supplier(self, supplier_id: UUID) -> SupplierRow | None:
        return await self.session.get(SupplierRow, supplier_id, populate_existing=True)

    async def _record(
        self, rectification_id: UUID | None, history: list[HistoryRecord], events: list[Any]
    ) -> None:
        if history and rectification_id is None:
            raise RuntimeError("rectification_id is not set")
        for payload in events:
            await add_event(self.session, new_event(payload, source=SOURCE))
        if history:
            await self.session.execute(
                _INSERT_HISTORY,
                [
                    {
                        "rectification_id": rectification_id,
                        "action": record.action,
                        "from_status": record.from_status.value if record.from_status else None,
                        "to_status": record.to_status.value,
                        "at": record.at,
                        "actor": record.by,
                        "note": record.note,
                    }
                    for record in history
                ],
            )
        history.clear()
        events.clear()
