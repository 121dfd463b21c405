"""Rectification APIs: service instructions, quality reports, notices, and every
transition of a rectification (done, dispatch, supplier answer, verification, waiver).

Who may do what is decided by the domain's transition table (role *and*
department); these routes only need a member of staff and turn domain errors
into 403 / 404 / 409 / 422 bodies.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Literal
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import APIRouter, File, Request, Response, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from tousu_common.auth import Principal, Staff, require_roles
from tousu_common.errors import NOT_FOUND_RESPONSE, ErrorBody, Forbidden, InvalidInput, NotFound
from tousu_common.events.catalog import RootCauseCategory
from tousu_common.filetypes import MEDIA_EXTENSIONS
from tousu_common.openapi import file_responses, multipart_encoding
from tousu_common.patterns import NON_SPACE, IsoDate
from tousu_rectification.adapters import supplier_links
from tousu_rectification.adapters.evidence import StoredFile, evidence_dir, read_uploads, remove
from tousu_rectification.adapters.rectification_repository import RectificationRepository
from tousu_rectification.api.deps import unit_of_work
from tousu_rectification.api.rectification_views import (
    CaseRectificationsView,
    QualityReportView,
    RectificationView,
)
from tousu_rectification.domain.rectification import (
    RECIPIENT_DEPARTMENTS,
    Action,
    EightD,
    IllegalRectificationTransition,
    transitions_for,
)
from tousu_rectification.handlers import rectifications as commands

router = APIRouter(tags=["rectifications"])

CONFLICT = {409: {"model": ErrorBody, "description": "Not legal in the current status, or stale"}}
RESPONSES = {**NOT_FOUND_RESPONSE, **CONFLICT}

Text = Annotated[str, Field(min_length=1, max_length=20_000)]
Short = Annotated[str, Field(min_length=1, max_length=100)]


def _now_and_today(request: Request) -> tuple[datetime, date]:
    """Now (UTC), and today's date where the company is (due dates are local dates)."""
    now = datetime.now(UTC)
    return now, now.astimezone(ZoneInfo(request.app.state.settings.timezone)).date()


async def _view(request: Request, rectification_id: UUID) -> RectificationView:
    async with request.app.state.db.sessions() as session:
        rects = RectificationRepository(session)
        rect = await rects.get(rectification_id)
        if rect is None:
            raise NotFound(f"no rectification {rectification_id}")
        return RectificationView.of(
            rect, await rects.history(rectification_id), await rects.evidence(rectification_id)
        )


# -- issuing -------------------------------------------------------------------------


#: Who a rectification can be sent to, in the document as the service checks it.
RecipientDepartment = Literal[tuple(sorted(RECIPIENT_DEPARTMENTS))]  # type: ignore[valid-type]


class InstructionIn(BaseModel):
    department: RecipientDepartment = Field(examples=["logistics"])
    instruction: Text
    due_date: IsoDate = Field(description="Today or later (the company's time zone)")


@router.post(
    "/v1/cases/{complaint_id}/instructions",
    status_code=201,
    response_model=RectificationView,
    summary="CSC: instruct a functional department to investigate and rectify",
    responses=RESPONSES,
)
async def post_instruction(
    request: Request, complaint_id: UUID, body: InstructionIn, principal: Staff
) -> RectificationView:
    now, today = _now_and_today(request)
    async with unit_of_work(request) as uow:
        rect = await commands.instruct(
            uow,
            complaint_id,
            department=body.department,
            instruction=body.instruction,
            due_date=body.due_date,
            actor=principal,
            at=now,
            today=today,
        )
    return await _view(request, rect.rectification_id)


class QualityReportIn(BaseModel):
    product_model: str | None = Field(default=None, max_length=100)
    serial_or_batch: str | None = Field(default=None, max_length=100)
    failure_description: Text
    quantity_affected: int = Field(ge=1, le=1_000_000_000)


@router.post(
    "/v1/cases/{complaint_id}/quality-reports",
    status_code=201,
    response_model=QualityReportView,
    summary="CSC: issue an External Quality Information Report (外质量信息报告)",
    responses=RESPONSES,
)
async def post_quality_report(
    request: Request, complaint_id: UUID, body: QualityReportIn, principal: Staff
) -> QualityReportView:
    now, today = _now_and_today(request)
    async with unit_of_work(request) as uow:
        report = await commands.issue_report(
            uow,
            complaint_id,
            product_model=body.product_model,
            serial_or_batch=body.serial_or_batch,
            failure_description=body.failure_description,
            quantity_affected=body.quantity_affected,
            actor=principal,
            at=now,
            today=today,
        )
    return QualityReportView.of(report)


@router.get(
    "/v1/cases/{complaint_id}/rectifications",
    response_model=CaseRectificationsView,
    summary="A complaint's quality reports and rectifications",
    responses=NOT_FOUND_RESPONSE,
)
async def get_case_rectifications(
    request: Request, complaint_id: UUID, principal: Staff
) -> CaseRectificationsView:
    async with request.app.state.db.sessions() as session:
        rects = RectificationRepository(session)
        reports = await rects.reports_for_complaint(complaint_id)
        items = await rects.for_complaint(complaint_id)
    return CaseRectificationsView(
        complaint_id=complaint_id,
        quality_reports=[QualityReportView.of(r) for r in reports],
        rectifications=[RectificationView.of(r) for r in items],
    )


@router.get(
    "/v1/quality-reports/{report_id}",
    response_model=QualityReportView,
    summary="One External Quality Information Report",
    responses=NOT_FOUND_RESPONSE,
)
async def get_quality_report(
    request: Request, report_id: UUID, principal: Staff
) -> QualityReportView:
    async with request.app.state.db.sessions() as session:
        report = await RectificationRepository(session).get_report(report_id)
    if report is None:
        raise NotFound(f"no quality report {report_id}")
    return QualityReportView.of(report)


class InternalNoticeIn(BaseModel):
    """A notice to one of our own departments."""

    recipient: Literal["internal"]
    department: RecipientDepartment = Field(description="Production, design, logistics…")
    requirement: Text
    due_date: IsoDate = Field(description="Today or later (the company's time zone)")


class SupplierNoticeIn(BaseModel):
    """A notice to a supplier (answered 8D style)."""

    recipient: Literal["supplier"]
    supplier_id: UUID
    requirement: Text
    due_date: IsoDate = Field(description="Today or later (the company's time zone)")


#: The recipient decides which fields are required: one schema per recipient, so the
#: document says what the service checks.
NoticeIn = Annotated[InternalNoticeIn | SupplierNoticeIn, Field(discriminator="recipient")]


@router.post(
    "/v1/quality-reports/{report_id}/notices",
    status_code=201,
    response_model=RectificationView,
    summary="Quality: turn a report into a rectification notice (internal or supplier)",
    responses={
        **NOT_FOUND_RESPONSE,
        409: {
            "model": ErrorBody,
            "description": "Not legal in the current status, or (`supplier_id`) no such "
            "active supplier",
        },
    },
)
async def post_notice(
    request: Request, report_id: UUID, body: NoticeIn, principal: Staff
) -> RectificationView:
    now, today = _now_and_today(request)
    async with unit_of_work(request) as uow:
        rect = await commands.issue_notice(
            uow,
            report_id,
            department=body.department if isinstance(body, InternalNoticeIn) else None,
            supplier_id=body.supplier_id if isinstance(body, SupplierNoticeIn) else None,
            requirement=body.requirement,
            due_date=body.due_date,
            actor=principal,
            at=now,
            today=today,
        )
    return await _view(request, rect.rectification_id)


# -- one rectification -------------------------------------------------------------------


@router.get(
    "/v1/rectifications/{rectification_id}",
    response_model=RectificationView,
    summary="A rectification with its history and evidence",
    responses=NOT_FOUND_RESPONSE,
)
async def get_rectification(
    request: Request, rectification_id: UUID, principal: Staff
) -> RectificationView:
    return await _view(request, rectification_id)


class DoneIn(BaseModel):
    root_cause_category: RootCauseCategory
    root_cause: Text
    corrective_action: Text


@router.post(
    "/v1/rectifications/{rectification_id}/done",
    response_model=RectificationView,
    summary="Recipient department: root cause and corrective action recorded, done",
    responses=RESPONSES,
)
async def post_done(
    request: Request, rectification_id: UUID, body: DoneIn, principal: Staff
) -> RectificationView:
    actor, (now, _) = principal, _now_and_today(request)
    async with unit_of_work(request) as uow:
        await commands.change(
            uow,
            rectification_id,
            lambda rect: rect.mark_done(
                root_cause_category=body.root_cause_category,
                root_cause=body.root_cause,
                corrective_action=body.corrective_action,
                actor=actor,
                at=now,
            ),
            actor=actor,
            at=now,
        )
    return await _view(request, rectification_id)


@router.post(
    "/v1/rectifications/{rectification_id}/dispatch",
    response_model=RectificationView,
    summary="Supply: the supplier notice goes to the supplier (notify e-mails it)",
    responses=RESPONSES,
)
async def post_dispatch(
    request: Request, rectification_id: UUID, principal: Staff
) -> RectificationView:
    actor, (now, _) = principal, _now_and_today(request)
    async with unit_of_work(request) as uow:
        await commands.change(
            uow,
            rectification_id,
            lambda rect: rect.dispatch(actor=actor, at=now),
            actor=actor,
            at=now,
        )
    return await _view(request, rectification_id)


class EightDIn(BaseModel):
    """The supplier's answer, 8D style."""

    containment: Text
    root_cause: Text
    root_cause_category: RootCauseCategory
    corrective_action: Text
    preventive_action: Text

    def answer(self) -> EightD:
        return EightD(
            containment=self.containment,
            root_cause=self.root_cause,
            root_cause_category=self.root_cause_category,
            corrective_action=self.corrective_action,
            preventive_action=self.preventive_action,
        )


@router.post(
    "/v1/rectifications/{rectification_id}/supplier-response",
    response_model=RectificationView,
    summary="Supply: enter the supplier's 8D answer (received by mail, phone, …)",
    responses=RESPONSES,
)
async def post_supplier_response(
    request: Request, rectification_id: UUID, body: EightDIn, principal: Staff
) -> RectificationView:
    actor, (now, _) = principal, _now_and_today(request)
    async with unit_of_work(request) as uow:
        await commands.change(
            uow,
            rectification_id,
            lambda rect: rect.record_supplier_response(
                body.answer(), evidence_count=0, actor=actor, at=now
            ),
            actor=actor,
            at=now,
        )
    return await _view(request, rectification_id)


class VerificationIn(BaseModel):
    # A failed verification needs a reason with a character that is not white space.
    model_config = ConfigDict(
        json_schema_extra={
            "if": {"properties": {"passed": {"const": False}}},
            "then": {"required": ["reason"], "properties": {"reason": {"pattern": NON_SPACE}}},
        }
    )

    passed: StrictBool
    comment: str = Field(default="", max_length=5000)
    reason: str = Field(default="", max_length=5000, description="Required when not passed.")


@router.post(
    "/v1/rectifications/{rectification_id}/verification",
    response_model=RectificationView,
    summary="Verifier (CSC for service, Quality for product): passed, or failed with reason",
    responses=RESPONSES,
)
async def post_verification(
    request: Request, rectification_id: UUID, body: VerificationIn, principal: Staff
) -> RectificationView:
    actor, (now, _) = principal, _now_and_today(request)
    async with unit_of_work(request) as uow:
        if body.passed:
            await commands.verify_passed(
                uow, rectification_id, comment=body.comment, actor=actor, at=now
            )
        else:
            await commands.change(
                uow,
                rectification_id,
                lambda rect: rect.fail_verification(reason=body.reason, actor=actor, at=now),
                actor=actor,
                at=now,
            )
    return await _view(request, rectification_id)


class WaiverIn(BaseModel):
    reason: Annotated[str, Field(min_length=1, max_length=5000, pattern=NON_SPACE)]


@router.post(
    "/v1/rectifications/{rectification_id}/waiver",
    response_model=RectificationView,
    summary="Manager: waive a rectification, with a reason",
    responses=RESPONSES,
)
async def post_waiver(
    request: Request, rectification_id: UUID, body: WaiverIn, principal: Staff
) -> RectificationView:
    actor, (now, _) = principal, _now_and_today(request)
    async with unit_of_work(request) as uow:
        await commands.waive(uow, rectification_id, reason=body.reason, actor=actor, at=now)
    return await _view(request, rectification_id)


@router.post(
    "/v1/rectifications/{rectification_id}/evidence",
    response_model=RectificationView,
    summary="Supply: attach evidence the supplier sent by other means (PDF, images)",
    responses=RESPONSES,
    openapi_extra=multipart_encoding(files=MEDIA_EXTENSIONS),
)
async def post_evidence(
    request: Request,
    rectification_id: UUID,
    principal: Staff,
    files: Annotated[
        list[UploadFile], File(min_length=1, description="PDF, PNG, JPEG, GIF, TIFF or WebP")
    ],
) -> RectificationView:
    settings = request.app.state.settings
    async with request.app.state.db.sessions() as session:
        current = await RectificationRepository(session).get(rectification_id)
    if current is None:
        raise NotFound(f"no rectification {rectification_id}")
    if not transitions_for(Action.attach_evidence, current.kind):
        raise IllegalRectificationTransition(f"a {current.kind} takes no supplier evidence")
    if not current.may(Action.attach_evidence, principal):
        raise Forbidden("only Supply (role supply) attaches evidence to a supplier notice")
    accepted, problems = await read_uploads(
        files, max_bytes=settings.evidence_max_bytes, max_files=settings.evidence_max_files
    )
    if problems or not accepted:
        problems = problems or [("files", "at least one non-empty file")]
        raise InvalidInput(
            "; ".join(f"{field}: {problem}" for field, problem in problems),
            fields=[{"field": "files", "problem": problem} for _, problem in problems],
        )
    now = datetime.now(UTC)
    stored: list[StoredFile] = []
    try:
        async with unit_of_work(request) as uow:
            await commands.attach_evidence(
                uow,
                rectification_id,
                files=accepted,
                data_dir=settings.data_dir,
                stored=stored,
                actor=principal,
                at=now,
            )
    except BaseException:
        remove(settings.data_dir, rectification_id, stored)
        raise
    return await _view(request, rectification_id)


# -- supplier contact (for notify) and evidence ---------------------------------------------


class SupplierContactView(BaseModel):
    rectification_id: UUID
    supplier_id: UUID
    supplier_name: str
    email: str | None
    language: str
    response_url: str


@router.get(
    "/v1/rectifications/{rectification_id}/supplier-contact",
    response_model=SupplierContactView,
    summary="Where a supplier notice goes: the supplier's e-mail and the 8D response link",
    responses=NOT_FOUND_RESPONSE,
)
async def get_supplier_contact(
    request: Request,
    rectification_id: UUID,
    principal: Annotated[Principal, require_roles("service", "supply")],
) -> SupplierContactView:
    async with request.app.state.db.sessions() as session:
        rects = RectificationRepository(session)
        rect = await rects.get(rectification_id)
        if rect is None or rect.supplier is None:
            raise NotFound(f"no supplier notice {rectification_id}")
        supplier = await rects.supplier(rect.supplier.supplier_id)
    if supplier is None:
        raise NotFound(f"supplier {rect.supplier.supplier_id} no longer exists")
    email = next((c.get("email") for c in supplier.contacts if c.get("email")), None)
    return SupplierContactView(
        rectification_id=rectification_id,
        supplier_id=supplier.supplier_id,
        supplier_name=supplier.name,
        email=email,
        language=supplier.language,
        response_url=supplier_links.response_url(request.app.state.settings, rectification_id),
    )


@router.get(
    "/v1/rectifications/{rectification_id}/evidence/{evidence_id}",
    summary="Download one evidence file of an 8D answer",
    response_class=Response,
    responses={**NOT_FOUND_RESPONSE, **file_responses(MEDIA_EXTENSIONS)},
)
async def get_evidence(
    request: Request, rectification_id: UUID, evidence_id: UUID, principal: Staff
) -> FileResponse:
    async with request.app.state.db.sessions() as session:
        files = await RectificationRepository(session).evidence(rectification_id)
    found = next((f for f in files if f.evidence_id == evidence_id), None)
    if found is None:
        raise NotFound(f"no evidence {evidence_id}")
    path = evidence_dir(request.app.state.settings.data_dir, rectification_id) / found.stored_name
    return FileResponse(
        path,
        media_type=found.content_type,
        filename=found.filename,
        headers={"X-Content-Type-Options": "nosniff"},
    )
