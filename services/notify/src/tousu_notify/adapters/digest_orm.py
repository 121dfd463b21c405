"""The digest tables: the read model (complaints, facts, rectifications) and the
stored digests. Notify's own; nobody else reads them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tousu_common.db import UTCDateTime
from tousu_notify.adapters.orm import Base


class DigestComplaintRow(Base):
    """One complaint's life as far as the digests care. Every column is filled by
    whichever event brings it, in any order (an upsert per event)."""

    __tablename__ = "digest_complaints"

    complaint_id: Mapped[UUID] = mapped_column(sa.Uuid, primary_key=True)
    reference: Mapped[str | None] = mapped_column(sa.String(32))
    # complaint.received
    channel: Mapped[str | None] = mapped_column(sa.String(20))
    customer_tier: Mapped[str | None] = mapped_column(sa.String(20))
    customer_segment: Mapped[str | None] = mapped_column(sa.String(20))
    key_account: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    product_model: Mapped[str | None] = mapped_column(sa.String(100))
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # complaint.triaged (latest by triaged_at) / complaint.reassigned
    category: Mapped[str | None] = mapped_column(sa.String(30))
    urgency: Mapped[str | None] = mapped_column(sa.String(20))
    owner_department: Mapped[str | None] = mapped_column(sa.String(50))
    owner_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    triaged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_response_due: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_plan_due: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # due times as routing last restated them in sla.warning/sla.breached (pauses moved them)
    fr_sla_due: Mapped[datetime | None] = mapped_column(UTCDateTime)
    fr_sla_raised_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rp_sla_due: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rp_sla_raised_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # duplicates
    duplicate_of: Mapped[UUID | None] = mapped_column(sa.Uuid)
    duplicate_linked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duplicate_unlinked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    is_duplicate: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    # case milestones
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_proposed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolutions_rejected: Mapped[int] = mapped_column(sa.Integer, default=0)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_close_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    reopen_count: Mapped[int] = mapped_column(sa.Integer, default=0, index=True)
    # derived on every write: when each SLA clock's outcome became known, and whether met
    fr_due: Mapped[datetime | None] = mapped_column(UTCDateTime)
    fr_outcome_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    fr_met: Mapped[bool | None] = mapped_column(sa.Boolean)
    rp_due: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rp_outcome_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    rp_met: Mapped[bool | None] = mapped_column(sa.Boolean)


class DigestFactRow(Base):
    """A dated happening that can occur more than once per complaint: closed,
    reopened, callback (score), sla_warning / sla_breached (clock),
    verification_failed (rectification)."""

    __tablename__ = "digest_facts"
    __table_args__ = (
        sa.Index("ix_digest_facts_kind_at", "kind", "at"),
        sa.Index("ix_digest_facts_complaint_id_at", "complaint_id", "at"),
    )

    event_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    complaint_id: Mapped[UUID] = mapped_column(sa.Uuid)
    kind: Mapped[str] = mapped_column(sa.String(30))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    detail: Mapped[str | None] = mapped_column(sa.String(50))
    score: Mapped[int | None] = mapped_column(sa.Integer)
    rectification_id: Mapped[UUID | None] = mapped_column(sa.Uuid)


class DigestRectificationRow(Base):
    """One rectification (instruction, internal or supplier notice)."""

    __tablename__ = "digest_rectifications"

    rectification_id: Mapped[UUID] = mapped_column(sa.Uuid, primary_key=True)
    complaint_id: Mapped[UUID] = mapped_column(sa.Uuid, index=True)
    kind: Mapped[str] = mapped_column(sa.String(30))
    department: Mapped[str | None] = mapped_column(sa.String(50))
    supplier_id: Mapped[UUID | None] = mapped_column(sa.Uuid)
    supplier_name: Mapped[str | None] = mapped_column(sa.String(200))
    reference: Mapped[str | None] = mapped_column(sa.String(32))
    notice_number: Mapped[str | None] = mapped_column(sa.String(50))
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    due_date: Mapped[date | None] = mapped_column(sa.Date)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    supplier_responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    root_cause_category: Mapped[str | None] = mapped_column(sa.String(30))
    root_cause_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    root_cause_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    waived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DigestRow(Base):
    """A generated digest: one per (kind, period); ``published_at`` once it went out."""

    __tablename__ = "digests"
    __table_args__ = (sa.UniqueConstraint("kind", "period", name="uq_digests_kind_period"),)

    id: Mapped[UUID] = mapped_column(sa.Uuid, primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(10))
    period: Mapped[str] = mapped_column(sa.String(20))
    period_start: Mapped[date] = mapped_column(sa.Date)
    period_end: Mapped[date] = mapped_column(sa.Date)
    generated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revision: Mapped[int] = mapped_column(sa.Integer, default=1)
    numbers: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
