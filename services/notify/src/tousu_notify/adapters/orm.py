"""Notify's tables (its own database; nobody else reads them)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tousu_common.db import UTCDateTime, make_base

Base = make_base()


class NotificationRow(Base):
    __tablename__ = "notifications"

    id: Mapped[UUID] = mapped_column(sa.Uuid, primary_key=True)
    complaint_id: Mapped[UUID] = mapped_column(sa.Uuid, index=True)
    # The event that called for it: one notification per event, at most.
    event_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    reference: Mapped[str] = mapped_column(sa.String(32))
    kind: Mapped[str] = mapped_column(sa.String(40))
    recipient: Mapped[str] = mapped_column(sa.String(100))
    template: Mapped[str] = mapped_column(sa.String(100))
    language: Mapped[str] = mapped_column(sa.String(10))
    status: Mapped[str] = mapped_column(sa.String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


# The digests' tables live in their own package; importing it registers them here.
from tousu_notify.digests import models as _digest_models  # noqa: E402, F401
