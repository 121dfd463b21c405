"""Filing and amending from the public channels (e-mail, web form, tracking page).

The one seam through which the e-mail and web code reaches the complaint
aggregate, so both channels file and amend exactly like the others do. Each
function works inside the caller's transaction (the inbound-mail record and
the complaint commit together).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from tousu_common.events import (
    AmendmentKind,
    Channel,
    ComplaintAmended,
    CustomerDecision,
    ResolutionDecisionReceived,
    new_event,
)
from tousu_common.messaging.outbox import add_event
from tousu_intake.adapters.repository import SOURCE, ComplaintRepository
from tousu_intake.config import Settings
from tousu_intake.domain.model import Complaint, format_reference


@dataclass(frozen=True)
class IncomingFileData:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class NewComplaint:
    channel: Channel
    title: str
    description: str
    customer_name: str
    email: str | None = None
    phone: str | None = None
    product_model: str | None = None
    serial_number: str | None = None
    language: str = "zh"
    key_account: bool = False
    received_by: str = "customer"


async def file_complaint(
    session: AsyncSession,
    settings: Settings,
    new: NewComplaint,
    files: list[IncomingFileData],
) -> Complaint:
    complaints = ComplaintRepository(session)
    now = datetime.now(UTC)
    year = now.astimezone(ZoneInfo(settings.timezone)).year
    serial = await complaints.next_reference_serial(year)
    complaint = Complaint.receive(
        reference=format_reference(settings.reference_prefix, year, serial),
        channel=new.channel,
        title=new.title,
        description=new.description,
        customer_name=new.customer_name,
        customer_phone=new.phone,
        customer_email=new.email,
        product_model=new.product_model,
        serial_number=new.serial_number,
        language=new.language,
        received_at=now,
        received_by=new.received_by,
    )
    await complaints.add(complaint)
    return complaint


async def amend_from_customer(
    session: AsyncSession,
    settings: Settings,
    *,
    complaint_id: UUID,
    reference: str,
    kind: AmendmentKind,
    text: str,
    files: list[IncomingFileData],
) -> None:
    event = ComplaintAmended(
        complaint_id=complaint_id,
        reference=reference,
        kind=kind,
        text=text[:20_000],
        amended_at=datetime.now(UTC),
        by="customer",
        attachment_count=len(files),
        from_customer=True,
    )
    await add_event(session, new_event(event, source=SOURCE))


async def record_decision(
    session: AsyncSession,
    *,
    complaint_id: UUID,
    reference: str,
    plan_version: int,
    decision: CustomerDecision,
    comment: str | None,
    via: Channel,
) -> None:
    """The customer's answer to a proposed plan, for rectification to apply."""
    event = ResolutionDecisionReceived(
        complaint_id=complaint_id,
        reference=reference,
        plan_version=plan_version,
        decision=decision,
        comment=(comment or None) and comment[:5000],
        via=via,
        decided_at=datetime.now(UTC),
    )
    await add_event(session, new_event(event, source=SOURCE))
