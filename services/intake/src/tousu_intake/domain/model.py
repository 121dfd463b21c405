"""The complaint as intake knows it, and what receiving or amending one means.

A complaint is received exactly once, on one channel, and gets a reference
(``TS-<year>-<serial>``) that people read out on the phone. Receiving it
raises :class:`ComplaintReceived` — the only place that event is built;
follow-ups raise :class:`ComplaintAmended`; a withdrawal (by staff or the
customer) raises :class:`ComplaintWithdrawn`.

The status is one small state machine, :data:`COMPLAINT_TRANSITIONS`::

    needs_transcription ──transcribe──▶ received
            │                             │
            └────────withdraw─────────────┴──▶ withdrawn
    any ──mirror_closed──▶ closed     any ──mirror_withdrawn──▶ withdrawn
    closed / withdrawn ──mirror_reopened──▶ received  (an open one stays as it is)

The ``mirror_*`` moves follow what rectification decided (``complaint.closed``,
``complaint.withdrawn``, ``complaint.reopened``): facts, so they are legal from
every status. Only :meth:`Complaint._move` writes ``status``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
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
#: Every status a complaint can have.
ALL_STATUSES = frozenset(
    {
        ComplaintStatus.received,
        ComplaintStatus.needs_transcription,
        ComplaintStatus.closed,
        ComplaintStatus.withdrawn,
    }
)
OPEN_STATUSES = ALL_STATUSES - FINISHED_STATUSES


class ComplaintAction(StrEnum):
    #: An agent typed the text of an unreadable fax or letter.
    transcribe = "transcribe"
    #: The customer withdrew (told an agent, or on the tracking page).
    withdraw = "withdraw"
    #: The tracking read model mirrors rectification's ``complaint.closed``.
    mirror_closed = "mirror_closed"
    #: The tracking read model mirrors ``complaint.withdrawn``.
    mirror_withdrawn = "mirror_withdrawn"
    #: The tracking read model mirrors ``complaint.reopened``.
    mirror_reopened = "mirror_reopened"


@dataclass(frozen=True)
class Move:
    """One action: source status → target status, and what a refusal says.

    ``refusal`` and ``problem`` are formatted with ``reference`` and ``status``
    (today's 409 messages, word for word).
    """

    steps: Mapping[str, str]
    refusal: str
    problem: str


def _move(
    steps: Mapping[str, str],
    refusal: str = "complaint {reference} cannot be changed while it is {status}",
    problem: str = "status is {status}",
) -> Move:
    return Move(MappingProxyType(dict(steps)), refusal, problem)


S = ComplaintStatus

#: The whole state machine: action → {status before: status after}. A status
#: not listed for an action makes the action illegal (a 409).
COMPLAINT_TRANSITIONS: Mapping[ComplaintAction, Move] = MappingProxyType(
    {
        ComplaintAction.transcribe: _move(
            {S.needs_transcription: S.received},
            "complaint {reference} is not waiting for a transcription",
            "status is {status}",
        ),
        ComplaintAction.withdraw: _move(
            {status: S.withdrawn for status in OPEN_STATUSES},
            "complaint {reference} is already {status}",
            "already {status}",
        ),
        ComplaintAction.mirror_closed: _move({status: S.closed for status in ALL_STATUSES}),
        ComplaintAction.mirror_withdrawn: _move({status: S.withdrawn for status in ALL_STATUSES}),
        ComplaintAction.mirror_reopened: _move(
            {
                **{status: S.received for status in FINISHED_STATUSES},
                **{status: status for status in OPEN_STATUSES},
            }
        ),
    }
)

#: The mirror move for each tracking entry kind that changes the complaint's status.
MIRRORED_KINDS: Mapping[str, ComplaintAction] = MappingProxyType(
    {
        "closed": ComplaintAction.mirror_closed,
        "withdrawn": ComplaintAction.mirror_withdrawn,
        "reopened": ComplaintAction.mirror_reopened,
    }
)


def next_status(action: ComplaintAction, status: str, *, reference: str) -> str:
    """The status ``action`` leads to from ``status``; :class:`Conflict` if illegal."""
    move = COMPLAINT_TRANSITIONS[action]
    target = move.steps.get(status)
    if target is None:
        raise Conflict(
            move.refusal.format(reference=reference, status=status),
            fields=[
                {
                    "field": "complaint_id",
                    "problem": move.problem.format(reference=reference, status=status),
                }
            ],
        )
    return target


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
            self._move(ComplaintAction.transcribe)
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
        self._move(ComplaintAction.withdraw)
        event = ComplaintWithdrawn(
            complaint_id=self.id,
            reference=self.reference,
            reason=reason,
            withdrawn_at=at,
            by=by[:100],
        )
        self.events.append(event)
        return event

    def mirror(self, kind: str) -> bool:
        """Follow a status rectification decided (tracking entry ``kind``);
        False when the entry does not concern the complaint's status."""
        action = MIRRORED_KINDS.get(kind)
        if action is None:
            return False
        self._move(action)
        return True

    def _move(self, action: ComplaintAction) -> None:
        """The one writer of ``status``: the table decides, or a 409 is raised."""
        self.status = next_status(action, self.status, reference=self.reference)


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
