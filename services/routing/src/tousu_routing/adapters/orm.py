"""Routing's tables (its own database; nobody else reads them)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tousu_common.db import UTCDateTime, make_base

Base = make_base()


class TriageRow(Base):
    """The current triage of one complaint (one row per complaint)."""

    __tablename__ = "triages"

    complaint_id: Mapped[UUID] = mapped_column(sa.Uuid, primary_key=True)
    reference: Mapped[str] = mapped_column(sa.String(32))
    category: Mapped[str] = mapped_column(sa.String(30))
    urgency: Mapped[str] = mapped_column(sa.String(20))
    owner_department: Mapped[str] = mapped_column(sa.String(50))
    rule_id: Mapped[str | None] = mapped_column(sa.String(100))
    ruleset_version: Mapped[str] = mapped_column(sa.String(50))
    decided_by: Mapped[str] = mapped_column(sa.String(100))
    triaged_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # The complaint.received event this triage answered, for tracing.
    received_event_id: Mapped[str] = mapped_column(sa.String(64))
