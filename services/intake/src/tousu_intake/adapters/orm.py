"""Intake's tables (its own database; nobody else reads them)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tousu_common.db import BigIntPK, UTCDateTime, make_base

Base = make_base()


class ComplaintRow(Base):
    __tablename__ = "complaints"

    id: Mapped[UUID] = mapped_column(sa.Uuid, primary_key=True)
    reference: Mapped[str] = mapped_column(sa.String(32), unique=True)
    channel: Mapped[str] = mapped_column(sa.String(20))
    status: Mapped[str] = mapped_column(sa.String(30), index=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text)
    customer_name: Mapped[str] = mapped_column(sa.String(200))
    customer_phone: Mapped[str | None] = mapped_column(sa.String(40))
    customer_email: Mapped[str | None] = mapped_column(sa.String(254))
    product_model: Mapped[str | None] = mapped_column(sa.String(100))
    serial_number: Mapped[str | None] = mapped_column(sa.String(100))
    language: Mapped[str] = mapped_column(sa.String(10))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    received_by: Mapped[str] = mapped_column(sa.String(100), index=True)
    # Added in 0002 (channels and the customer register).
    customer_id: Mapped[UUID | None] = mapped_column(sa.Uuid, index=True)
    customer_fax: Mapped[str | None] = mapped_column(sa.String(40))
    phone_key: Mapped[str | None] = mapped_column(sa.String(20), index=True)
    customer_tier: Mapped[str] = mapped_column(sa.String(20), server_default="general")
    customer_segment: Mapped[str | None] = mapped_column(sa.String(20))
    key_account: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.false())
    provisional_customer: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.false())
    ocr_confidence: Mapped[float | None] = mapped_column(sa.Float)
    tracking_token_hash: Mapped[str | None] = mapped_column(sa.String(64))


class ReferenceCounter(Base):
    """One row per year; incremented inside the transaction that uses the number."""

    __tablename__ = "reference_counters"

    year: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    last_value: Mapped[int] = mapped_column(sa.Integer)


class IdempotencyRecord(Base):
    """The first answer to a request with an ``Idempotency-Key``, replayed on retries."""

    __tablename__ = "idempotency_keys"

    principal: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    status_code: Mapped[int] = mapped_column(sa.Integer)
    response: Mapped[dict] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


# --- issue 3: customer register, amendments, attachments ---------------------


class CustomerRow(Base):
    """A customer in intake's register (客户档案): imported, entered, or provisional."""

    __tablename__ = "customers"

    id: Mapped[UUID] = mapped_column(sa.Uuid, primary_key=True)
    external_code: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    segment: Mapped[str | None] = mapped_column(sa.String(20))
    tier: Mapped[str] = mapped_column(sa.String(20))
    language: Mapped[str] = mapped_column(sa.String(10))
    provisional: Mapped[bool] = mapped_column(sa.Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CustomerContactRow(Base):
    """A phone / fax (digits with country code) or e-mail (lower-case) of a customer."""

    __tablename__ = "customer_contacts"
    __table_args__ = (sa.Index("ix_customer_contacts_kind_value", "kind", "value"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    customer_id: Mapped[UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(10))
    value: Mapped[str] = mapped_column(sa.String(254))
    display: Mapped[str] = mapped_column(sa.String(254))


class CustomerProductRow(Base):
    """A product the customer owns (model, serial number)."""

    __tablename__ = "customer_products"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    customer_id: Mapped[UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    model: Mapped[str | None] = mapped_column(sa.String(100))
    serial_number: Mapped[str] = mapped_column(sa.String(100), index=True)


class AmendmentRow(Base):
    """Follow-up information on a complaint (note, second call, reply mail, transcription)."""

    __tablename__ = "amendments"

    id: Mapped[UUID] = mapped_column(sa.Uuid, primary_key=True)
    complaint_id: Mapped[UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("complaints.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(20))
    text: Mapped[str] = mapped_column(sa.Text)
    by: Mapped[str] = mapped_column(sa.String(100))
    from_customer: Mapped[bool] = mapped_column(sa.Boolean)
    amended_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AttachmentRow(Base):
    """A file kept under ``data_dir/attachments``; the type is sniffed, never declared."""

    __tablename__ = "attachments"

    id: Mapped[UUID] = mapped_column(sa.Uuid, primary_key=True)
    complaint_id: Mapped[UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("complaints.id", ondelete="CASCADE"), index=True
    )
    amendment_id: Mapped[UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("amendments.id", ondelete="CASCADE")
    )
    filename: Mapped[str] = mapped_column(sa.String(255))
    content_type: Mapped[str] = mapped_column(sa.String(100))
    size: Mapped[int] = mapped_column(sa.Integer)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    storage_path: Mapped[str] = mapped_column(sa.String(300))
    source: Mapped[str] = mapped_column(sa.String(30))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


# The e-mail channel's and the tracking read model's tables live in their own module.
from tousu_intake.adapters import channels_orm as _channels_orm  # noqa: E402, F401
from tousu_intake.adapters import feedback_orm as _feedback_orm  # noqa: E402, F401
