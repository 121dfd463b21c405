"""Receiving a complaint: reference, row, event — one transaction, once per key."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError

from tousu_common.auth import Principal
from tousu_common.db import Database
from tousu_common.errors import Conflict
from tousu_common.logs import bind
from tousu_intake.adapters.repository import ComplaintRepository, IdempotencyStore
from tousu_intake.config import Settings
from tousu_intake.domain.commands import ReceiveComplaint
from tousu_intake.domain.model import Complaint, format_reference


@dataclass(frozen=True)
class Receipt:
    status_code: int
    body: dict[str, Any]
    replayed: bool = False


async def receive_complaint(
    db: Database,
    settings: Settings,
    command: ReceiveComplaint,
    principal: Principal,
    idempotency_key: str | None,
) -> Receipt:
    request_hash = hashlib.sha256(command.model_dump_json().encode()).hexdigest()
    try:
        return await _receive_once(db, settings, command, principal, idempotency_key, request_hash)
    except IntegrityError:
        if idempotency_key is None:
            raise
        # A concurrent request with the same key committed first: answer as it did.
        async with db.transaction() as session:
            earlier = await IdempotencyStore(session).get(principal.subject, idempotency_key)
        if earlier is None:
            raise
        return _replay(earlier.status_code, earlier.response, earlier.request_hash, request_hash)


async def _receive_once(
    db: Database,
    settings: Settings,
    command: ReceiveComplaint,
    principal: Principal,
    idempotency_key: str | None,
    request_hash: str,
) -> Receipt:
    async with db.transaction() as session:
        keys = IdempotencyStore(session)
        if idempotency_key is not None:
            earlier = await keys.get(principal.subject, idempotency_key)
            if earlier is not None:
                return _replay(
                    earlier.status_code, earlier.response, earlier.request_hash, request_hash
                )
        complaints = ComplaintRepository(session)
        now = datetime.now(UTC)
        year = now.astimezone(ZoneInfo(settings.timezone)).year
        serial = await complaints.next_reference_serial(year)
        complaint = Complaint.receive(
            reference=format_reference(settings.reference_prefix, year, serial),
            channel=command.channel,
            title=command.title,
            description=command.description,
            customer_name=command.customer_name,
            customer_phone=command.customer_phone,
            customer_email=command.customer_email,
            product_model=command.product_model,
            serial_number=command.serial_number,
            language=command.language,
            received_at=now,
            received_by=principal.subject,
        )
        bind(complaint_id=str(complaint.id))
        await complaints.add(complaint)
        body = {
            "id": str(complaint.id),
            "reference": complaint.reference,
            "status": complaint.status,
            "channel": complaint.channel.value,
            "received_at": complaint.received_at.isoformat(),
        }
        if idempotency_key is not None:
            await keys.put(principal.subject, idempotency_key, request_hash, 201, body)
    return Receipt(201, body)


def _replay(status_code: int, body: dict[str, Any], stored_hash: str, request_hash: str) -> Receipt:
    if stored_hash != request_hash:
        raise Conflict(
            "Idempotency-Key was already used for a different request",
            fields=[{"field": "Idempotency-Key", "problem": "reused with a different body"}],
        )
    return Receipt(status_code, body, replayed=True)
