"""The complaint as intake knows it, and what receiving one means.

A complaint is received exactly once, on one channel, and gets a reference
(``TS-<year>-<serial>``) that people read out on the phone. Receiving it
raises :class:`ComplaintReceived` — the only place that event is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID, uuid4

from tousu_common.events import Channel, ComplaintReceived, EventPayload


class ComplaintStatus:
    received = "received"


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
    ) -> Complaint:
        complaint = cls(
            id=uuid4(),
            reference=reference,
            channel=channel,
            status=ComplaintStatus.received,
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
            )
        )
        return complaint


def format_reference(prefix: str, year: int, serial: int) -> str:
    """``TS-2026-000123``; the serial widens past six digits rather than wrapping."""
    return f"{prefix}-{year}-{serial:06d}"
