"""Receiving a complaint on any channel: customer, reference, row, attachments, event —
one transaction, once per idempotency key.

Every channel (hotline, key-account, fax, letter, visit, web, e-mail) builds a
:class:`ReceiveFromChannel` and calls :func:`receive`; the hotline's JSON
command goes through :func:`receive_complaint`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from tousu_common.auth import Principal
from tousu_common.db import Database
from tousu_common.errors import Conflict, InvalidInput
from tousu_common.events import Channel
from tousu_common.logs import bind
from tousu_intake.adapters.attachments import store_attachments
from tousu_intake.adapters.customers import CustomerRepository
from tousu_intake.adapters.repository import ComplaintRepository, IdempotencyStore
from tousu_intake.adapters.unit_of_work import ConcurrentWrite, Session
from tousu_intake.config import Settings
from tousu_intake.domain.commands import ReceiveComplaint, ReceiveFromChannel
from tousu_intake.domain.customers import (
    Contact,
    ContactKind,
    CustomerRecord,
    CustomerSummary,
    Product,
    normalise_contact,
    normalise_serial,
)
from tousu_intake.domain.files import check_files
from tousu_intake.domain.model import Complaint, CustomerLink, first_line, format_reference
from tousu_intake.domain.tracking import token_hash, tracking_token
from tousu_intake.handlers.feedback import remember_filing_wish


@dataclass(frozen=True)
class Receipt:
    status_code: int
    body: dict[str, Any]
    replayed: bool = False


@dataclass(frozen=True)
class Idempotency:
    """Who asked (``principal``), their key, and the request's fingerprint;
    ``field`` names the key in a 409 (the header, or the fax gateway's message_id)."""

    principal: str
    key: str
    request_hash: str
    field: str = "Idempotency-Key"


async def receive_complaint(
    db: Database,
    settings: Settings,
    command: ReceiveComplaint,
    principal: Principal,
    idempotency_key: str | None,
    *,
    channel: Channel | None = None,
) -> Receipt:
    """The hotline (and key-account) JSON command."""
    channel = channel or command.channel
    request_hash = hashlib.sha256(
        (command.model_dump_json() + channel.value).encode()
        if channel is not command.channel
        else command.model_dump_json().encode()
    ).hexdigest()
    idempotency = (
        None
        if idempotency_key is None
        else Idempotency(principal.subject, idempotency_key, request_hash)
    )
    return await receive(
        db,
        settings,
        command.for_channel(channel),
        received_by=principal.subject,
        idempotency=idempotency,
    )


async def receive(
    db: Database,
    settings: Settings,
    command: ReceiveFromChannel,
    *,
    received_by: str,
    idempotency: Idempotency | None = None,
) -> Receipt:
    """File a complaint from any channel. The answer includes the customer's
    ``tracking_token`` (not stored; see :mod:`tousu_intake.domain.tracking`)."""
    _check_lengths(command)  # bad input fails before any work
    contacts = _contacts(settings, command)
    check_files(settings, list(command.files))
    try:
        receipt = await _receive_once(db, settings, command, contacts, received_by, idempotency)
    except ConcurrentWrite:
        if idempotency is None:
            raise
        # A concurrent request with the same key committed first: answer as it did.
        async with db.transaction() as session:
            earlier = await IdempotencyStore(session).get(idempotency.principal, idempotency.key)
        if earlier is None:
            raise
        receipt = _replay(earlier.status_code, earlier.response, earlier.request_hash, idempotency)
    return _with_token(settings, receipt)


async def replay_if_known(
    db: Database, idempotency: Idempotency, settings: Settings
) -> Receipt | None:
    """The earlier answer to this key, if any (lets a channel skip costly work such as
    OCR for a retried request)."""
    async with db.sessions() as session:
        earlier = await IdempotencyStore(session).get(idempotency.principal, idempotency.key)
    if earlier is None:
        return None
    receipt = _replay(earlier.status_code, earlier.response, earlier.request_hash, idempotency)
    return _with_token(settings, receipt)


#: Longest value each field of :class:`ReceiveFromChannel` may have (columns and event).
_MAX_LENGTHS = {
    "title": 200,
    "description": 20_000,
    "customer_name": 200,
    "customer_phone": 40,
    "customer_email": 254,
    "customer_fax": 40,
    "product_model": 100,
    "serial_number": 100,
}


def _check_lengths(command: ReceiveFromChannel) -> None:
    problems = [
        {"field": field, "problem": f"longer than {limit} characters"}
        for field, limit in _MAX_LENGTHS.items()
        if len(getattr(command, field) or "") > limit
    ]
    if command.language not in ("zh", "en"):
        problems.append({"field": "language", "problem": "must be zh or en"})
    if problems:
        summary = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
        raise InvalidInput(f"invalid complaint: {summary}", fields=problems)


def _contacts(settings: Settings, command: ReceiveFromChannel) -> list[Contact]:
    contacts = []
    for kind, field, raw in (
        (ContactKind.phone, "customer_phone", command.customer_phone),
        (ContactKind.email, "customer_email", command.customer_email),
        (ContactKind.fax, "customer_fax", command.customer_fax),
    ):
        if raw is None or not raw.strip():
            continue
        try:
            value = normalise_contact(kind, raw, settings.default_country_code)
        except ValueError as exc:
            raise InvalidInput(
                f"{field}: {exc}", fields=[{"field": field, "problem": str(exc)}]
            ) from exc
        contacts.append(Contact(kind, value, raw.strip()))
    return contacts


async def link_customer(
    session: Session, command: ReceiveFromChannel, contacts: list[Contact]
) -> tuple[CustomerLink, str | None]:
    """The customer the complaint belongs to (and its name), creating a provisional
    one for an unknown sender. Only the customer's own row is read: the register's
    contacts and products are not needed to file a complaint."""
    customers = CustomerRepository(session)
    customer: CustomerSummary | CustomerRecord | None
    if command.customer_id is not None:
        customer = await customers.summary(command.customer_id)
        if customer is None:
            # What exists is state: a 409 like any other refusal the body cannot show.
            raise Conflict(
                "customer_id: no such customer",
                fields=[{"field": "customer_id", "problem": "no such customer"}],
            )
    else:
        by_kind = {c.kind: c.value for c in contacts}
        customer = await customers.match(
            phone=by_kind.get(ContactKind.phone),
            email=by_kind.get(ContactKind.email),
            fax=by_kind.get(ContactKind.fax),
        )
        if customer is None:
            products = (
                [Product(normalise_serial(command.serial_number), command.product_model)]
                if command.serial_number
                else []
            )
            customer = await customers.create_provisional(
                name=command.customer_name,
                language=command.language,
                contacts=contacts,
                products=products,
            )
    link = CustomerLink(
        customer_id=customer.id,
        tier=customer.tier,
        segment=customer.segment,
        provisional=customer.provisional,
    )
    return link, customer.name


async def _receive_once(
    db: Database,
    settings: Settings,
    command: ReceiveFromChannel,
    contacts: list[Contact],
    received_by: str,
    idempotency: Idempotency | None,
) -> Receipt:
    async with db.transaction() as session:
        keys = IdempotencyStore(session)
        if idempotency is not None:
            earlier = await keys.get(idempotency.principal, idempotency.key)
            if earlier is not None:
                return _replay(
                    earlier.status_code, earlier.response, earlier.request_hash, idempotency
                )
        link, customer_name = await link_customer(session, command, contacts)
        complaints = ComplaintRepository(session)
        now = datetime.now(UTC)
        received_at = command.received_at or now
        year = received_at.astimezone(ZoneInfo(settings.timezone)).year
        serial = await complaints.next_reference_serial(year)
        phone = next((c.value for c in contacts if c.kind is ContactKind.phone), None)
        complaint = Complaint.receive(
            reference=format_reference(settings.reference_prefix, year, serial),
            channel=command.channel,
            title=(command.title or first_line(command.description) or "—")[:200],
            description=command.description,
            # A provisional customer's name is a placeholder, never a name to greet.
            customer_name=(
                command.customer_name or (None if link.provisional else customer_name) or ""
            )[:200],
            customer_phone=command.customer_phone,
            customer_email=command.customer_email,
            customer_fax=command.customer_fax,
            phone_key=phone,
            product_model=command.product_model,
            serial_number=command.serial_number,
            language=command.language,
            received_at=received_at,
            received_by=received_by,
            customer=link,
            attachment_count=len(command.files),
            needs_transcription=command.needs_transcription,
            ocr_confidence=command.ocr_confidence,
            feedback_requested=command.feedback_requested,
        )
        complaint.tracking_token_hash = token_hash(
            tracking_token(settings.jwt_secret.get_secret_value(), complaint.id)
        )
        bind(complaint_id=str(complaint.id))
        await complaints.add(complaint)
        if command.feedback_requested:
            await remember_filing_wish(session, complaint.id, at=received_at, via=command.channel)
        attachments = await store_attachments(
            session, settings, complaint.id, list(command.files), source=command.channel.value
        )
        body = {
            "id": str(complaint.id),
            "reference": complaint.reference,
            "status": complaint.status,
            "channel": complaint.channel.value,
            "received_at": complaint.received_at.isoformat(),
            "customer_id": str(link.customer_id),
            "provisional_customer": link.provisional,
            "key_account": complaint.key_account,
            "needs_transcription": command.needs_transcription,
            "attachments": [str(a.id) for a in attachments],
        }
        if idempotency is not None:
            await keys.put(
                idempotency.principal, idempotency.key, idempotency.request_hash, 201, body
            )
    return Receipt(201, body)


def _with_token(settings: Settings, receipt: Receipt) -> Receipt:
    """Add the tracking token to the answer; it is derived, so replays get it too
    without it ever being stored."""
    token = tracking_token(settings.jwt_secret.get_secret_value(), receipt.body["id"])
    return Receipt(receipt.status_code, {**receipt.body, "tracking_token": token}, receipt.replayed)


def _replay(
    status_code: int, body: dict[str, Any], stored_hash: str, idempotency: Idempotency
) -> Receipt:
    if stored_hash != idempotency.request_hash:
        name = idempotency.field
        raise Conflict(
            f"{name} was already used for a different request",
            fields=[{"field": name, "problem": "reused with a different body"}],
        )
    return Receipt(status_code, body, replayed=True)
