"""What the customer said about the rectification feedback: that they want it, and
their answer to each feedback sent. Imported at the end of
:mod:`tousu_intake.adapters.orm` so the metadata holds them."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tousu_common.db import UTCDateTime
from tousu_intake.adapters.orm import Base


class FeedbackRequestRow(Base):
    """The customer wants the internal rectification plan and result (once per complaint)."""

    __tablename__ = "feedback_requests"

    complaint_id: Mapped[UUID] = mapped_column(sa.Uuid, primary_key=True)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    via: Mapped[str] = mapped_column(sa.String(20))
    #: Asked on the complaint itself (complaint.received said so) rather than later.
    at_filing: Mapped[bool] = mapped_column(sa.Boolean)


class FeedbackAnswerRow(Base):
    """The customer's answer to the feedback on one rectification (once)."""

    __tablename__ = "feedback_answers"

    complaint_id: Mapped[UUID] = mapped_column(sa.Uuid, primary_key=True)
    rectification_id: Mapped[UUID] = mapped_column(sa.Uuid, primary_key=True)
    answer: Mapped[str] = mapped_column(sa.String(20))
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    via: Mapped[str] = mapped_column(sa.String(20))
