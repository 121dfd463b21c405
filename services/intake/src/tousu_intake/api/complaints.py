"""``/v1/complaints``: what call-centre agents use while the caller is on the line —
create, list mine, search, read, amend, withdraw, download attachments — and the contact
endpoint other services read with a service token."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, File, Form, Header, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from tousu_common.auth import Principal, Staff, require_roles
from tousu_common.errors import (
    NOT_FOUND_RESPONSE,
    ErrorBody,
    Forbidden,
    InvalidInput,
    NotFound,
)
from tousu_common.events.catalog import AmendmentKind, Channel
from tousu_common.openapi import file_responses, multipart_encoding
from tousu_common.paging import WHOLE_NUMBER, Page
from tousu_common.patterns import NON_SPACE, IsoDate
from tousu_intake.adapters.attachments import attachment_path, get_attachment, list_attachments
from tousu_intake.adapters.contacts import ComplaintContact, contacts_of
from tousu_intake.adapters.customers import CustomerRepository
from tousu_intake.adapters.repository import ComplaintFilter, ComplaintQueries, ComplaintRepository
from tousu_intake.api.schemas import AmendmentView, AttachmentView, ComplaintSummary
from tousu_intake.api.uploads import read_uploads
from tousu_intake.config import MAX_FILES, Settings
from tousu_intake.domain.commands import ReceiveComplaint
from tousu_intake.domain.customers import (
    normalise_phone,
    normalise_serial,
    phone_pattern,
)
from tousu_intake.domain.files import ALLOWED_TYPES
from tousu_intake.domain.tracking import tracking_token, tracking_url
from tousu_intake.handlers.amend import amend_complaint
from tousu_intake.handlers.receive import Receipt, receive_complaint
from tousu_intake.handlers.withdraw import MAX_REASON, withdraw_complaint

router = APIRouter(prefix="/v1/complaints", tags=["complaints"])

Agent = Annotated[Principal, require_roles("agent")]
AgentOrCsc = Annotated[Principal, require_roles("agent", "csc")]
_contact_roles = require_roles("service", "agent", "csc")


async def _contact_reader(
    request: Request, principal: Annotated[Principal, _contact_roles]
) -> Principal:
    """Staff who talk to customers, or a Tousu service. With an identity provider a
    ``service`` token counts only from the clients in ``contact_clients`` (notify's):
    another client holding the role does not read customers' contacts."""
    settings: Settings = request.app.state.settings
    if (
        settings.oidc_issuer
        and not principal.has_any("agent", "csc")
        and principal.client_id not in settings.contact_clients
    ):
        raise Forbidden(f"client {principal.client_id!r} may not read customers' contacts")
    return principal


ContactReader = Annotated[Principal, Depends(_contact_reader)]

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Retrying with the same key returns the first answer; no second complaint.",
    ),
]


class ComplaintCreated(BaseModel):
    id: UUID
    reference: str
    status: str
    channel: str
    received_at: datetime
    customer_id: UUID
    provisional_customer: bool
    key_account: bool
    needs_transcription: bool
    attachments: list[UUID]
    tracking_token: str


class ComplaintView(BaseModel):
    """A complaint as staff see it, contact details included (never in events or logs)."""

    id: UUID
    reference: str
    status: str
    channel: str
    title: str
    description: str
    customer_name: str
    customer_phone: str | None
    customer_email: str | None
    customer_fax: str | None
    customer_id: UUID | None
    customer_tier: str
    customer_segment: str | None
    key_account: bool
    provisional_customer: bool
    product_model: str | None
    serial_number: str | None
    language: str
    received_at: datetime
    received_by: str
    ocr_confidence: float | None
    attachments: list[AttachmentView]
    amendments: list[AmendmentView]


class ContactView(BaseModel):
    """How to reach the customer about one complaint (agreement 1: notify reads this)."""

    complaint_id: UUID
    reference: str
    customer_name: str | None
    email: str | None
    phone: str | None
    fax: str | None
    language: Literal["zh", "en"]
    tracking_url: str | None
    customer_tier: str
    key_account: bool
    #: The Message-ID of the customer's e-mail that filed the complaint, for notify to
    #: answer it (In-Reply-To / References: one conversation in the customer's mail
    #: program). Personal data like the address, so served here and never on an event.
    email_message_id: str | None = None


class AmendmentCreated(BaseModel):
    id: UUID
    complaint_id: UUID
    reference: str
    kind: str
    text: str
    by: str
    from_customer: bool
    amended_at: datetime
    attachments: list[UUID]


class WithdrawComplaint(BaseModel):
    """Why the customer no longer wants the complaint handled."""

    model_config = ConfigDict(extra="forbid")

    reason: Annotated[
        str,
        StringConstraints(
            strip_whitespace=True, min_length=1, max_length=MAX_REASON, pattern=NON_SPACE
        ),
    ]


class ComplaintWithdrawnView(BaseModel):
    complaint_id: UUID
    reference: str
    status: str
    reason: str
    by: str
    withdrawn_at: datetime


def receipt_response(receipt: Receipt) -> JSONResponse:
    headers = {"Location": f"/v1/complaints/{receipt.body['id']}"}
    if receipt.replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(receipt.body, status_code=receipt.status_code, headers=headers)


@router.post(
    "",
    status_code=201,
    response_model=ComplaintCreated,
    summary="Record a hotline complaint",
    description="Linked to `customer_id` if given, else to the customer with that phone / "
    "e-mail / fax, else to a new provisional customer. The answer carries the customer's "
    "`tracking_token` (read it out or send it; it is not shown again).",
    responses={
        409: {
            "model": ErrorBody,
            "description": "Idempotency-Key reused with another body, or no customer `customer_id`",
        }
    },
)
async def create_complaint(
    request: Request,
    command: ReceiveComplaint,
    principal: Agent,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    settings = request.app.state.settings
    receipt = await receive_complaint(
        request.app.state.db, settings, command, principal, idempotency_key
    )
    return receipt_response(receipt)


@router.get(
    "",
    response_model=Page[ComplaintSummary],
    summary="My recent complaints, or a search by reference / phone / customer / serial "
    "number / text / status / channel / day received, newest first, with the total count",
)
async def list_complaints(
    request: Request,
    principal: Staff,
    mine: Annotated[bool, Query(description="Only complaints I recorded")] = False,
    reference: Annotated[str | None, Query(max_length=32)] = None,
    phone: Annotated[str | None, Query(max_length=40, pattern=phone_pattern())] = None,
    customer_id: UUID | None = None,
    status: Annotated[str | None, Query(max_length=30)] = None,
    channel: Channel | None = None,
    key_account: bool | None = None,
    customer_name: Annotated[
        str | None, Query(min_length=1, max_length=200, description="Part of the caller's name")
    ] = None,
    open_only: Annotated[
        bool, Query(alias="open", description="Only complaints not closed or withdrawn")
    ] = False,
    serial: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=100,
            pattern=NON_SPACE,
            description="A product serial number (blanks and case aside): complaints that "
            "name it, and complaints naming none from a customer registered with it",
        ),
    ] = None,
    q: Annotated[
        str | None,
        Query(
            min_length=2,
            max_length=200,
            pattern=NON_SPACE,
            description="Part of the title or description, any case",
        ),
    ] = None,
    received_from: Annotated[
        IsoDate | None,
        Query(description="Received on or after this day (the company's time zone)"),
    ] = None,
    received_to: Annotated[
        IsoDate | None,
        Query(description="Received on or before this day (the company's time zone)"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100), WHOLE_NUMBER] = 20,
    offset: Annotated[int, Query(ge=0, le=100_000), WHOLE_NUMBER] = 0,
) -> Page[ComplaintSummary]:
    settings = request.app.state.settings
    if received_from is not None and received_to is not None and received_to < received_from:
        raise InvalidInput.about("query.received_to", "must not be before received_from")
    zone = ZoneInfo(settings.timezone)
    async with request.app.state.db.sessions() as session:
        phone_key = None
        customer_ids: tuple[UUID, ...] | None = (customer_id,) if customer_id else None
        if phone is not None:
            try:
                phone_key = normalise_phone(phone, settings.default_country_code)
            except ValueError as exc:
                raise InvalidInput(
                    f"phone: {exc}", fields=[{"field": "phone", "problem": str(exc)}]
                ) from exc
            if customer_ids is None:
                found = await CustomerRepository(session).find(
                    phone="+" + phone_key, default_country_code=settings.default_country_code
                )
                customer_ids = tuple(c.id for c in found)
        rows, total = await ComplaintQueries(session).search(
            ComplaintFilter(
                received_by=principal.subject if mine else None,
                reference=reference,
                phone_key=phone_key,
                customer_ids=customer_ids,
                status=status,
                channel=channel.value if channel else None,
                key_account=key_account,
                open_only=open_only,
                customer_name=customer_name,
                serial=normalise_serial(serial) if serial is not None else None,
                text=q.strip() if q is not None else None,
                received_from=_start_of_day(received_from, zone),
                received_to=_start_of_day(received_to, zone, next_day=True),
            ),
            limit=limit,
            offset=offset,
        )
    return Page[ComplaintSummary](
        items=[ComplaintSummary.of(row) for row in rows], total=total, limit=limit, offset=offset
    )


def _start_of_day(day: date | None, zone: ZoneInfo, *, next_day: bool = False) -> datetime | None:
    """The instant ``day`` (or the day after it) begins in ``zone``; None — no bound —
    for no day, or one at the ends of the calendar where there is no such instant."""
    if day is None:
        return None
    try:
        if next_day:
            day += timedelta(days=1)
        return datetime.combine(day, time.min, zone).astimezone(UTC)
    except OverflowError:
        return None


@router.get(
    "/{complaint_id:uuid}",
    response_model=ComplaintView,
    summary="One complaint, with its attachments and amendments",
    responses=NOT_FOUND_RESPONSE,
)
async def get_complaint(request: Request, complaint_id: UUID, principal: Staff) -> ComplaintView:
    async with request.app.state.db.sessions() as session:
        complaint = await ComplaintRepository(session).get(complaint_id)
        if complaint is None:
            raise NotFound(f"complaint {complaint_id} does not exist")
        attachments = await list_attachments(session, complaint_id)
        amendments = await ComplaintQueries(session).amendments(complaint_id)
    values = {
        name: getattr(complaint, name)
        for name in ComplaintView.model_fields
        if name not in ("attachments", "amendments", "channel")
    }
    return ComplaintView(
        **values,
        channel=complaint.channel.value,
        attachments=[AttachmentView.of(a) for a in attachments],
        amendments=[AmendmentView.of(a) for a in amendments],
    )


@router.post(
    "/{complaint_id}/amendments",
    status_code=201,
    response_model=AmendmentCreated,
    summary="Add a follow-up note or a second call (with optional files)",
    responses=NOT_FOUND_RESPONSE,
    openapi_extra=multipart_encoding(files=ALLOWED_TYPES),
)
async def add_amendment(
    request: Request,
    complaint_id: UUID,
    principal: AgentOrCsc,
    # An empty form field reads as missing: the text needs a non-space character.
    text: Annotated[str, Form(min_length=1, max_length=20_000, pattern=NON_SPACE)],
    kind: Annotated[Literal["note", "call"], Form()] = "note",
    files: Annotated[
        list[UploadFile] | None,
        File(max_length=MAX_FILES, description="Optional attachments (at most the default limit)"),
    ] = None,
) -> AmendmentCreated:
    settings = request.app.state.settings
    incoming = await read_uploads(settings, files)
    amendment = await amend_complaint(
        request.app.state.db,
        settings,
        complaint_id=complaint_id,
        kind=AmendmentKind(kind),
        text=text,
        by=principal.subject,
        # A second call is the customer speaking; a note is the agent's own.
        from_customer=kind == "call",
        files=incoming,
    )
    return AmendmentCreated(
        id=amendment.id,
        complaint_id=amendment.complaint_id,
        reference=amendment.reference,
        kind=amendment.kind.value,
        text=amendment.text,
        by=amendment.by,
        from_customer=amendment.from_customer,
        amended_at=amendment.amended_at,
        attachments=amendment.attachments,
    )


@router.post(
    "/{complaint_id}/withdraw",
    response_model=ComplaintWithdrawnView,
    summary="Withdraw a complaint (the customer no longer wants it handled)",
    description="Sets the status to `withdrawn` and emits `complaint.withdrawn` (routing "
    "stops its clocks, rectification closes the case as withdrawn). 409 if the complaint "
    "is already withdrawn or closed; nothing is written then.",
    responses={
        **NOT_FOUND_RESPONSE,
        409: {"model": ErrorBody, "description": "Already withdrawn or closed"},
    },
)
async def withdraw(
    request: Request, complaint_id: UUID, body: WithdrawComplaint, principal: AgentOrCsc
) -> ComplaintWithdrawnView:
    withdrawal = await withdraw_complaint(
        request.app.state.db, complaint_id=complaint_id, reason=body.reason, by=principal.subject
    )
    return ComplaintWithdrawnView(
        complaint_id=withdrawal.complaint_id,
        reference=withdrawal.reference,
        status=withdrawal.status,
        reason=withdrawal.reason,
        by=withdrawal.by,
        withdrawn_at=withdrawal.withdrawn_at,
    )


@router.get(
    "/{complaint_id}/attachments/{attachment_id}",
    summary="Download an attachment",
    response_class=FileResponse,
    responses={**NOT_FOUND_RESPONSE, **file_responses(ALLOWED_TYPES)},
)
async def download_attachment(
    request: Request, complaint_id: UUID, attachment_id: UUID, principal: Staff
) -> FileResponse:
    settings = request.app.state.settings
    async with request.app.state.db.sessions() as session:
        row = await get_attachment(session, attachment_id)
    if row is None or row.complaint_id != complaint_id:
        raise NotFound(f"attachment {attachment_id} of complaint {complaint_id} does not exist")
    path = attachment_path(settings, row.storage_path)
    if not path.is_file():
        raise NotFound(f"attachment {attachment_id}: the file is missing from storage")
    return FileResponse(
        path,
        media_type=row.content_type,
        filename=row.filename,
        content_disposition_type="attachment",
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"},
    )


@router.get(
    "/{complaint_id}/contact",
    response_model=ContactView,
    summary="How to reach the customer (for notify; service token)",
    responses=NOT_FOUND_RESPONSE,
)
async def get_contact(
    request: Request, complaint_id: UUID, principal: ContactReader
) -> ContactView:
    async with request.app.state.db.sessions() as session:
        found = await contacts_of(session, [complaint_id])
    if complaint_id not in found:
        raise NotFound(f"complaint {complaint_id} does not exist")
    return _contact_view(request.app.state.settings, found[complaint_id])


MAX_CONTACTS = 100


class ContactsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: Annotated[list[UUID], Field(min_length=1, max_length=MAX_CONTACTS)]


class ContactsView(BaseModel):
    """The contacts of the asked complaints that exist (unknown ids are left out)."""

    contacts: list[ContactView]


@router.post(
    "/contacts",
    response_model=ContactsView,
    summary="How to reach the customers of up to 100 complaints at once (for notify)",
)
async def get_contacts(
    request: Request, query: ContactsQuery, principal: ContactReader
) -> ContactsView:
    """Notify's delivery worker claims deliveries in batches; one read for the batch
    instead of one HTTP request per message (it was a quarter of notify's busy time)."""
    async with request.app.state.db.sessions() as session:
        found = await contacts_of(session, list(dict.fromkeys(query.ids)))
    settings = request.app.state.settings
    return ContactsView(contacts=[_contact_view(settings, contact) for contact in found.values()])


def _contact_view(settings: Settings, contact: ComplaintContact) -> ContactView:
    token = tracking_token(settings.jwt_secret.get_secret_value(), contact.complaint_id)
    return ContactView(
        complaint_id=contact.complaint_id,
        reference=contact.reference,
        customer_name=contact.customer_name,
        email=contact.email,
        phone=contact.phone,
        fax=contact.fax,
        language=contact.language if contact.language in ("zh", "en") else "zh",  # type: ignore[arg-type]
        tracking_url=(
            tracking_url(settings.tracking_base_url, contact.reference, token)
            if contact.tracked
            else None
        ),
        customer_tier=contact.customer_tier,
        key_account=contact.key_account,
        email_message_id=contact.email_message_id,
    )
