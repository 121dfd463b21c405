"""Notify's tables (its own database; nobody else reads them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tousu_common.db import UTCDateTime, make_base

Base = make_base()


class SubscriptionRow(Base):
    """Who gets what: staff recipients (e-mail, SMS) and other systems (webhooks)."""

    __tablename__ = "subscriptions"

    id: Mapped[UUID] = mapped_column(sa.Uuid, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    channel: Mapped[str] = mapped_column(sa.String(20))
    recipient_kind: Mapped[str] = mapped_column(sa.String(30))
    address: Mapped[str | None] = mapped_column(sa.String(320), nullable=True)
    url: Mapped[str | None] = mapped_column(sa.String(2000), nullable=True)
    # The webhook's HMAC key: a shared secret, kept as is because it signs.
    secret: Mapped[str | None] = mapped_column(sa.String(100), nullable=True)
    language: Mapped[str] = mapped_column(sa.String(10))
    event_types: Mapped[list[str]] = mapped_column(sa.JSON)
    departments: Mapped[list[str] | None] = mapped_column(sa.JSON, nullable=True)
    customer_tiers: Mapped[list[str] | None] = mapped_column(sa.JSON, nullable=True)
    urgencies: Mapped[list[str] | None] = mapped_column(sa.JSON, nullable=True)
    active: Mapped[bool] = mapped_column(sa.Boolean)
    disabled_reason: Mapped[str | None] = mapped_column(sa.String(500), nullable=True)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    consecutive_failures: Mapped[int] = mapped_column(sa.Integer)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_by: Mapped[str] = mapped_column(sa.String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DeliveryRow(Base):
    """One message to one recipient on one channel, because of one event."""

    __tablename__ = "deliveries"
    __table_args__ = (
        # A redelivered or re-produced event finds its rows and adds none.
        sa.UniqueConstraint(
            "source_event_id", "template", "recipient_key", name="uq_deliveries_source_event_id"
        ),
        sa.Index("ix_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[UUID] = mapped_column(sa.Uuid, primary_key=True)
    source_event_id: Mapped[str] = mapped_column(sa.String(64))
    event_type: Mapped[str] = mapped_column(sa.String(100))
    complaint_id: Mapped[UUID] = mapped_column(sa.Uuid, index=True)
    reference: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)
    template: Mapped[str] = mapped_column(sa.String(100))
    channel: Mapped[str] = mapped_column(sa.String(20))
    recipient_kind: Mapped[str] = mapped_column(sa.String(30))
    # Who, without the address: 'customer', 'department:csc', 'subscription:<id>'.
    recipient_key: Mapped[str] = mapped_column(sa.String(200))
    subscription_id: Mapped[UUID | None] = mapped_column(sa.Uuid, nullable=True, index=True)
    language: Mapped[str] = mapped_column(sa.String(10))
    # Template variables taken from the event (which carries no personal data).
    context: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    # Fixed when the row is made, so a retried e-mail carries the same Message-ID.
    message_id: Mapped[str | None] = mapped_column(sa.String(300), nullable=True)
    masked_recipient: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    status: Mapped[str] = mapped_column(sa.String(20))
    attempts: Mapped[int] = mapped_column(sa.Integer)
    last_error: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    response_status: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ComplaintFactsRow(Base):
    """What notify knows about a complaint from its events, for subscription filters
    (department, tier, urgency) on events that do not carry them themselves."""

    __tablename__ = "complaint_facts"

    complaint_id: Mapped[UUID] = mapped_column(sa.Uuid, primary_key=True)
    reference: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)
    language: Mapped[str | None] = mapped_column(sa.String(10), nullable=True)
    owner_department: Mapped[str | None] = mapped_column(sa.String(50), nullable=True)
    urgency: Mapped[str | None] = mapped_column(sa.String(20), nullable=True)
    customer_tier: Mapped[str | None] = mapped_column(sa.String(20), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


# The digests' tables live in their own module; importing it registers them here.
from tousu_notify.adapters import digest_orm as _digest_orm  # noqa: E402, F401
