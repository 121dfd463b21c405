"""The complaint as intake knows it, and what receiving or amending one means.

A complaint is received exactly once, on one channel, and gets a reference
(``TS-<year>-<serial>``) that people read out on the phone. Receiving it
raises :class:`ComplaintReceived` — the only place that event is built;
follow-ups raise :class:`ComplaintAmended`; a withdrawal (by staff or the
customer) raises :class:`ComplaintWithdrawn`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID, uuid4

from tousu_common.domain_errors import Conflict
from tousu_common.events.catalog import (
    AmendmentKind,
    Channel,
    ComplaintAmended,
    ComplaintReceived,
    ComplaintWithdrawn,
    CustomerSegment,
    CustomerTier,
    EventPayload,
)

#: Tiers whose complaints are handled as key accounts (shortened SLA, direct owner).
KEY_ACCOUNT_TIERS = frozenset({CustomerTier.strategic, CustomerTier.key})


class ComplaintStatus:
    received = "received"
    #: OCR could not read the fax/letter well enough: an agent types the text.
    needs_transcription = "needs_transcription"
    # Written by the tracking read model (rectification's complaint.closed /
    # complaint.reopened); listed so "open" has one definition.
    closed = "closed"
    #: Set by :meth:`Complaint.withdraw` (and mirrored again by the read model).
    withdrawn = "withdrawn"


#: Statuses in which a complaint is no longer open.
FINISHED_STATUSES = frozenset({ComplaintStatus.closed, ComplaintStatus.withdrawn})


@dataclass(frozen=True)
class CustomerLink:
    """The customer record a complaint was linked to, as the event needs it."""

    customer_id: UUID | None = None
    tier: CustomerTier = CustomerTier.general
    segment: CustomerSegment | None = None
    provisional: bool = False


@dataclass
class Complaint:
    id: UUID
    reference: str
    channel: Channel
    status: str
    title: str
    description: str
    customer_name: str
    customer_phone: str | None
    customer_email: str | None
    product_model: str | None
    serial_number: str | None
    language: str
    received_at: datetime
    received_by: str
    customer_id: UUID | None = None
    customer_fax: str | None = None
    phone_key: str | None = None
    customer_tier: str = CustomerTier.general.value
    customer_segment: str | None = None
    key_account: bool = False
    provisional_customer: bool = False
    ocr_confidence: float | None = None
    tracking_token_hash: str | None = None
    events: list[EventPayload] = field(default_factory=list, repr=False)

    @classmethod
    def receive(
        cls,
        *,
        reference: str,
        channel: Channel,
        title: str,
        description: str,
        customer_name: str,
        customer_phone: str | None,
        customer_email: str | None,
        product_model: str | None,
        serial_number: str | None,
        language: str,
        received_at: datetime,
        received_by: str,
        customer: CustomerLink | None = None,
        customer_fax: str | None = None,
        phone_key: str | None = None,
        attachment_count: int = 0,
        needs_transcription: bool = False,
        ocr_confidence: float | None = None,
        feedback_requested: bool = False,
        complaint_id: UUID | None = None,
    ) -> Complaint:
        customer = customer or CustomerLink()
        # The dedicated channel is for key accounts by definition; on any other
        # channel the customer record decides.
        key_account = channel is Channel.key_account or customer.tier in KEY_ACCOUNT_TIERS
        complaint = cls(
            id=complaint_id or uuid4(),
            reference=reference,
            channel=channel,
            status=(
                ComplaintStatus.needs_transcription
                if needs_transcription
                else ComplaintStatus.received
            ),
            title=title,
            description=description,
            customer_name=customer_name,
            customer_phone=customer_phone,
            customer_email=customer_email,
            product_model=product_model,
            serial_number=serial_number,
            language=language,
            received_at=received_at,
            received_by=received_by,
            customer_id=customer.customer_id,
            customer_fax=customer_fax,
            phone_key=phone_key,
            customer_tier=customer.tier.value,
            customer_segment=customer.segment.value if customer.segment else None,
            key_account=key_account,
            provisional_customer=customer.provisional,
            ocr_confidence=ocr_confidence,
        )
        # The event carries what triage needs, and no contact details.
        complaint.events.append(
            ComplaintReceived(
                complaint_id=complaint.id,
                reference=reference,
                channel=channel,
                received_at=received_at,
                title=title,
                description=description,
                product_model=product_model,
                serial_number=serial_number,
                language=language,
                customer_id=customer.customer_id,
                customer_tier=customer.tier,
                customer_segment=customer.segment,
                key_account=key_account,
                provisional_customer=customer.provisional,
                attachment_count=attachment_count,
                needs_transcription=needs_transcription,
                feedback_requested=feedback_requested,
            )
        )
        return complaint

    def amend(
        self,
        *,
        kind: AmendmentKind,
        text: str,
        by: str,
        from_customer: bool,
        at: datetime,
        attachment_count: int = 0,
    ) -> ComplaintAmended:
        """Record follow-up information; a transcription also becomes the complaint text."""
        if kind is AmendmentKind.transcription:
            if self.status != ComplaintStatus.needs_transcription:
                raise Conflict(
                    f"complaint {self.reference} is not waiting for a transcription",
                    fields=[{"field": "complaint_id", "problem": f"status is {self.status}"}],
                )
            self.status = ComplaintStatus.received
            self.description = text
        event = ComplaintAmended(
            complaint_id=self.id,
            reference=self.reference,
            kind=kind,
            text=text,
            amended_at=at,
            by=by,
            attachment_count=attachment_count,
            from_customer=from_customer,
        )
        self.events.append(event)
        return event

    def withdraw(self, *, reason: str, by: str, at: datetime) -> ComplaintWithdrawn:
        """The customer no longer wants the complaint handled (told by phone to an
        agent, or on the tracking page). 409 if it is already withdrawn or closed."""
        if self.status in FINISHED_STATUSES:
            raise Conflict(
                f"complaint {self.reference} is already {self.status}",
                fields=[{"field": "complaint_id", "problem": f"already {self.status}"}],
            )
        self.status = ComplaintStatus.withdrawn
        event = ComplaintWithdrawn(
            complaint_id=self.id,
            reference=self.reference,
            reason=reason,
            withdrawn_at=at,
            by=by[:100],
        )
        self.events.append(event)
        return event


def format_reference(prefix: str, year: int, serial: int) -> str:
    """``TS-2026-000123``; the serial widens past six digits rather than wrapping."""
    return f"{prefix}-{year}-{serial:06d}"


def first_line(text: str, *, limit: int = 200) -> str:
    """The first non-blank line of ``text``, cut to ``limit`` characters (a title)."""
    for line in text.splitlines():
        line = " ".join(line.split())
        if line:
            return line[:limit]
    return ""
