"""Intake's tables (its own database; nobody else reads them)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tousu_common.db import UTCDateTime, make_base

Base = make_base()


class ComplaintRow(Base):
    __tablename__ = "complaints"

    id: Mapped[UUID] = mapped_column(sa.Uuid, primary_key=True)
    reference: Mapped[str] = mapped_column(sa.String(32), unique=True)
    channel: Mapped[str] = mapped_column(sa.String(20))
    status: Mapped[str] = mapped_column(sa.String(30))
    title: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text)
    customer_name: Mapped[str] = mapped_column(sa.String(200))
    customer_phone: Mapped[str | None] = mapped_column(sa.String(40))
    customer_email: Mapped[str | None] = mapped_column(sa.String(254))
    product_model: Mapped[str | None] = mapped_column(sa.String(100))
    serial_number: Mapped[str | None] = mapped_column(sa.String(100))
    language: Mapped[str] = mapped_column(sa.String(10))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    received_by: Mapped[str] = mapped_column(sa.String(100))


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


# The e-mail channel's and the tracking read model's tables live in their own module.
from tousu_intake.adapters import channels_orm as _channels_orm  # noqa: E402, F401
