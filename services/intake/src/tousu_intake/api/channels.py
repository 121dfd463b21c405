"""``/v1/channels/*``: complaints that arrive some other way than the hotline —
the key-account line, a fax gateway, a letter or a walk-in entered by an agent."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse

from tousu_common.auth import Principal, require_roles
from tousu_common.errors import ErrorBody, InvalidInput
from tousu_common.events import Channel
from tousu_common.openapi import multipart_encoding
from tousu_common.patterns import DATE_TIME_PATTERN, NON_SPACE
from tousu_intake.adapters.ocr import OCR_TYPES
from tousu_intake.api.complaints import ComplaintCreated, IdempotencyKey, receipt_response
from tousu_intake.api.uploads import read_upload, read_uploads
from tousu_intake.config import MAX_FILES
from tousu_intake.domain.commands import ReceiveComplaint, ReceiveFromChannel
from tousu_intake.domain.customers import EMAIL_PATTERN, normalise_phone, phone_pattern
from tousu_intake.domain.files import ALLOWED_TYPES
from tousu_intake.handlers.documents import receive_document
from tousu_intake.handlers.receive import Idempotency, receive, receive_complaint, replay_if_known

router = APIRouter(prefix="/v1/channels", tags=["channels"])

AgentOrCsc = Annotated[Principal, require_roles("agent", "csc")]
Agent = Annotated[Principal, require_roles("agent")]
Gateway = Annotated[Principal, require_roles("gateway")]

CONFLICT = {
    409: {
        "model": ErrorBody,
        "description": "Idempotency key reused with another body, or no customer `customer_id`",
    }
}
FAX_CONFLICT = {
    409: {"model": ErrorBody, "description": "`message_id` reused with another document"}
}


@router.post(
    "/key-account",
    status_code=201,
    response_model=ComplaintCreated,
    summary="The dedicated line for strategic and key customers",
    description="Same body as `POST /v1/complaints`; always flagged `key_account` so triage "
    "gives it the shortened SLA and a direct owner.",
    responses=CONFLICT,
)
async def key_account(
    request: Request,
    command: ReceiveComplaint,
    principal: AgentOrCsc,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    receipt = await receive_complaint(
        request.app.state.db,
        request.app.state.settings,
        command,
        principal,
        idempotency_key,
        channel=Channel.key_account,
    )
    return receipt_response(receipt)


def _received_at(raw: str | None) -> datetime | None:
    if raw is None or not raw.strip():
        return None
    try:
        value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput.about("received_at", "not an ISO 8601 date-time") from exc
    if value.tzinfo is None:
        raise InvalidInput.about("received_at", "needs a time zone (e.g. +08:00 or Z)")
    now = datetime.now(UTC)
    if value > now + timedelta(minutes=5):
        raise InvalidInput.about("received_at", "is in the future")
    if value < now - timedelta(days=30):
        raise InvalidInput.about("received_at", "is more than 30 days ago")
    return value.astimezone(UTC)


@router.post(
    "/fax",
    status_code=201,
    response_model=ComplaintCreated,
    summary="A fax from the fax gateway (TIFF or PDF), OCR'd into a complaint",
    description="Multipart: `document` (TIFF, multi-page allowed, or PDF), `sender_fax`, "
    "optional `received_at` (ISO 8601 with zone) and `message_id` (the gateway's id: a "
    "retry with the same id returns the first answer). When the read is poor (calibrated: "
    "doubtful words, key fields off their pattern) the "
    "complaint is filed with status `needs_transcription`; the fax machine's header line "
    "is kept on the attachment's `document_info`. The same `message_id` with another "
    "document is a 409 naming `message_id`.",
    responses=FAX_CONFLICT,
    openapi_extra=multipart_encoding(document=sorted(OCR_TYPES)),
)
async def fax(
    request: Request,
    principal: Gateway,
    document: Annotated[UploadFile, File(description="The fax: TIFF or PDF")],
    sender_fax: Annotated[
        str, Form(max_length=40, pattern=phone_pattern(), description="The sender's fax number")
    ],
    received_at: Annotated[
        str | None,
        Form(
            max_length=40,
            pattern=DATE_TIME_PATTERN,
            json_schema_extra={"format": "date-time"},
            description="When the gateway received it, with its zone: the last 30 days",
        ),
    ] = None,
    message_id: Annotated[str | None, Form(max_length=150)] = None,
    language: Annotated[Literal["zh", "en"], Form()] = "zh",
) -> JSONResponse:
    settings = request.app.state.settings
    db = request.app.state.db
    try:
        normalise_phone(sender_fax, settings.default_country_code)
    except ValueError as exc:
        raise InvalidInput.about("sender_fax", str(exc)) from exc
    when = _received_at(received_at)
    incoming = await read_upload(settings, document, "document")
    idempotency = None
    if message_id is not None:
        fingerprint = hashlib.sha256(incoming.data + b"\x00" + sender_fax.encode()).hexdigest()
        idempotency = Idempotency(
            principal.subject, f"fax:{message_id}", fingerprint, field="message_id"
        )
        earlier = await replay_if_known(db, idempotency, settings)
        if earlier is not None:  # a retry: answer without reading the fax again
            return receipt_response(earlier)
    command = ReceiveFromChannel(
        channel=Channel.fax,
        description="",
        customer_fax=sender_fax,
        language=language,
        received_at=when,
    )
    receipt, _ = await receive_document(
        db, settings, command, incoming, received_by=principal.subject, idempotency=idempotency
    )
    return receipt_response(receipt)


async def _paper_channel(
    request: Request,
    principal: Principal,
    channel: Channel,
    *,
    text: str | None,
    title: str | None,
    scan: UploadFile | None,
    files: list[UploadFile] | None,
    customer_name: str | None,
    customer_phone: str | None,
    customer_email: str | None,
    customer_fax: str | None,
    customer_id: UUID | None,
    product_model: str | None,
    serial_number: str | None,
    language: str,
    idempotency_key: str | None,
) -> JSONResponse:
    settings = request.app.state.settings
    db = request.app.state.db
    attachments = await read_uploads(settings, files)
    document = await read_upload(settings, scan, "scan") if scan and scan.filename else None
    typed = (text or "").strip()
    if not typed and document is None:
        raise InvalidInput.about("text", "give the typed text, a scan, or both")
    command = ReceiveFromChannel(
        channel=channel,
        title=(title or "").strip() or None,
        description=typed,
        customer_name=(customer_name or "").strip() or None,
        customer_phone=customer_phone,
        customer_email=customer_email,
        customer_fax=customer_fax,
        customer_id=customer_id,
        product_model=(product_model or "").strip() or None,
        serial_number=(serial_number or "").strip() or None,
        language=language,
        files=tuple(attachments),
    )
    idempotency = None
    if idempotency_key is not None:
        digest = hashlib.sha256(command.fingerprint().encode())
        if document is not None:
            digest.update(hashlib.sha256(document.data).digest())
        idempotency = Idempotency(principal.subject, idempotency_key, digest.hexdigest())
        earlier = await replay_if_known(db, idempotency, settings)
        if earlier is not None:
            return receipt_response(earlier)
    if document is None:
        receipt = await receive(
            db, settings, command, received_by=principal.subject, idempotency=idempotency
        )
    else:
        receipt, _ = await receive_document(
            db, settings, command, document, received_by=principal.subject, idempotency=idempotency
        )
    return receipt_response(receipt)


PAPER_DESCRIPTION = (
    "Multipart form: `text` (typed) and/or `scan` (TIFF, PDF, PNG or JPEG; OCR'd like a fax), "
    "optional `files`, the customer's `customer_name` / `customer_phone` / `customer_email` / "
    "`customer_fax` or `customer_id`, `product_model`, `serial_number`, `language`."
)

Text = Annotated[str | None, Form(max_length=20_000)]
Small = Annotated[str | None, Form(max_length=200)]
PhoneForm = Annotated[str | None, Form(max_length=40, pattern=phone_pattern())]
EmailForm = Annotated[str | None, Form(max_length=254, pattern=EMAIL_PATTERN)]


#: The form's files, and that it needs typed text (with a non-space character), a
#: scan, or both; FastAPI's own schema of the form sits beside it (``$ref``).
PAPER_OPENAPI = multipart_encoding(scan=sorted(OCR_TYPES), files=ALLOWED_TYPES)
PAPER_OPENAPI["requestBody"]["required"] = True  # every field is optional, the form is not
PAPER_OPENAPI["requestBody"]["content"]["multipart/form-data"]["schema"] = {
    "anyOf": [
        {"required": ["text"], "properties": {"text": {"pattern": NON_SPACE}}},
        {"required": ["scan"]},
    ]
}


def _paper_route(path: str, channel: Channel, summary: str) -> None:
    """Letter and walk-in take the same form; only the channel differs."""

    async def paper(
        request: Request,
        principal: Agent,
        text: Text = None,
        title: Small = None,
        scan: Annotated[UploadFile | None, File()] = None,
        files: Annotated[list[UploadFile] | None, File(max_length=MAX_FILES)] = None,
        customer_name: Small = None,
        customer_phone: PhoneForm = None,
        customer_email: EmailForm = None,
        customer_fax: PhoneForm = None,
        customer_id: Annotated[UUID | None, Form()] = None,
        product_model: Small = None,
        serial_number: Small = None,
        language: Annotated[Literal["zh", "en"], Form()] = "zh",
        idempotency_key: IdempotencyKey = None,
    ) -> JSONResponse:
        values = _form(locals())
        return await _paper_channel(request, principal, channel, **values)

    paper.__name__ = channel.value  # the OpenAPI operation id stays letter / visit
    router.post(
        path,
        status_code=201,
        response_model=ComplaintCreated,
        summary=summary,
        description=PAPER_DESCRIPTION,
        responses=CONFLICT,
        openapi_extra=PAPER_OPENAPI,
    )(paper)


_paper_route("/letter", Channel.letter, "A letter, typed in and/or scanned")
_paper_route(
    "/visit", Channel.visit, "A walk-in visit, typed in (and/or a document the visitor brought)"
)


def _form(values: dict) -> dict:  # type: ignore[type-arg]
    return {k: v for k, v in values.items() if k not in ("request", "principal", "channel")}
