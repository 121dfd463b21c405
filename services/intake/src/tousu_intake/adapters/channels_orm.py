"""Tables of the e-mail channel and of the tracking read model.

Imported at the end of :mod:`tousu_intake.adapters.orm` so the metadata holds them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tousu_common.db import BigIntPK, UTCDateTime
from tousu_intake.adapters.orm import Base


class InboundMailRow(Base):
    """Every message the SMTP listener accepted, once (by Message-ID), and what became of it."""

    __tablename__ = "inbound_mail"

    id: Mapped[UUID] = mapped_column(sa.Uuid, primary_key=True)
    #: The Message-ID, or ``sha256:<hex>`` of the raw bytes when there is none.
    dedupe_key: Mapped[str] = mapped_column(sa.String(512), unique=True)
    message_id: Mapped[str | None] = mapped_column(sa.String(512), index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    mailbox: Mapped[str] = mapped_column(sa.String(320))
    envelope_from: Mapped[str] = mapped_column(sa.String(320))
    from_address: Mapped[str | None] = mapped_column(sa.String(320))
    subject: Mapped[str] = mapped_column(sa.String(998))
    #: filed | amended | ignored
    outcome: Mapped[str] = mapped_column(sa.String(20))
    reason: Mapped[str | None] = mapped_column(sa.String(200))
    complaint_id: Mapped[UUID | None] = mapped_column(sa.Uuid, index=True)
    raw_path: Mapped[str] = mapped_column(sa.String(500))
    size_bytes: Mapped[int] = mapped_column(sa.Integer)
    sha256: Mapped[str] = mapped_column(sa.String(64))


class TrackingStatusRow(Base):
    """Where a complaint stands for the customer's tracking page (read model)."""

    __tablename__ = "tracking_status"

    complaint_id: Mapped[UUID] = mapped_column(sa.Uuid, primary_key=True)
    reference: Mapped[str] = mapped_column(sa.String(32))
    stage: Mapped[str] = mapped_column(sa.String(40))
    stage_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    owner_department: Mapped[str | None] = mapped_column(sa.String(50))
    category: Mapped[str | None] = mapped_column(sa.String(40))
    pending_plan: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    decision_sent: Mapped[str | None] = mapped_column(sa.String(10))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TrackingEntryRow(Base):
    """One line of a complaint's public timeline, from one event."""

    __tablename__ = "tracking_entries"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    complaint_id: Mapped[UUID] = mapped_column(sa.Uuid, index=True)
    event_id: Mapped[str] = mapped_column(sa.String(200), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(40))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    details: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
