"""Routing's tables (its own database; nobody else reads them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tousu_common.db import BigIntPK, UTCDateTime, make_base

Base = make_base()


class ComplaintRow(Base):
    """What routing knows of each complaint it was told about (one row per complaint):
    the facts the rules and the duplicate check need, and where it stands here."""

    __tablename__ = "complaints"

    complaint_id: Mapped[UUID] = mapped_column(sa.Uuid, primary_key=True)
    reference: Mapped[str] = mapped_column(sa.String(32))
    channel: Mapped[str] = mapped_column(sa.String(20))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    title: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text)
    product_model: Mapped[str | None] = mapped_column(sa.String(100))
    serial_number: Mapped[str | None] = mapped_column(sa.String(100))
    customer_id: Mapped[UUID | None] = mapped_column(sa.Uuid)
    customer_tier: Mapped[str] = mapped_column(sa.String(20))
    customer_segment: Mapped[str | None] = mapped_column(sa.String(20))
    key_account: Mapped[bool] = mapped_column(sa.Boolean)
    attachment_count: Mapped[int] = mapped_column(sa.Integer)
    # awaiting_transcription | manual_triage | triaged | duplicate
    status: Mapped[str] = mapped_column(sa.String(30), index=True)
    # False once closed or withdrawn (a reopen makes it True again).
    open: Mapped[bool] = mapped_column(sa.Boolean)
    duplicate_of: Mapped[UUID | None] = mapped_column(sa.Uuid)
    # Urgency the rules saw so far (clocks run on it until a triage decides).
    provisional_urgency: Mapped[str] = mapped_column(sa.String(20))
    received_event_id: Mapped[str] = mapped_column(sa.String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.Index("ix_complaints_customer_received", "customer_id", "received_at"),
        # The worklists read open complaints only (migration 1505).
        sa.Index("ix_complaints_open_status", "open", "status"),
    )


class TriageRow(Base):
    """The current triage of one complaint (one row per complaint)."""

    __tablename__ = "triages"

    complaint_id: Mapped[UUID] = mapped_column(sa.Uuid, primary_key=True)
    reference: Mapped[str] = mapped_column(sa.String(32))
    category: Mapped[str] = mapped_column(sa.String(30))
    urgency: Mapped[str] = mapped_column(sa.String(20))
    owner_department: Mapped[str] = mapped_column(sa.String(50), index=True)
    rule_id: Mapped[str | None] = mapped_column(sa.String(100))
    ruleset_version: Mapped[str] = mapped_column(sa.String(50))
    decided_by: Mapped[str] = mapped_column(sa.String(100))
    triaged_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # The complaint.received event this triage answered, for tracing.
    received_event_id: Mapped[str] = mapped_column(sa.String(64))
    quality_report_needed: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.false())


class TriageRecordRow(Base):
    """Every decision ever taken on a complaint, append-only: by the rules (with the
    rule-set version and rule id), by a person, or a reassignment."""

    __tablename__ = "triage_records"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    complaint_id: Mapped[UUID] = mapped_column(sa.Uuid, index=True)
    kind: Mapped[str] = mapped_column(sa.String(20))  # rules | person | reassignment
    category: Mapped[str] = mapped_column(sa.String(30))
    urgency: Mapped[str] = mapped_column(sa.String(20))
    owner_department: Mapped[str] = mapped_column(sa.String(50))
    quality_report_needed: Mapped[bool] = mapped_column(sa.Boolean)
    rule_id: Mapped[str | None] = mapped_column(sa.String(100))
    ruleset_version: Mapped[str] = mapped_column(sa.String(50))
    decided_by: Mapped[str] = mapped_column(sa.String(100))
    reason: Mapped[str | None] = mapped_column(sa.Text)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RuleSetRow(Base):
    """One version of the triage rules. Never updated: a change is a new version."""

    __tablename__ = "rule_sets"

    version: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    document: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(sa.String(100))
    note: Mapped[str] = mapped_column(sa.String(500))


class SlaClockRow(Base):
    """One SLA clock of one complaint; the scheduler polls ``next_check_at``."""

    __tablename__ = "sla_clocks"

    complaint_id: Mapped[UUID] = mapped_column(sa.Uuid, primary_key=True)
    clock: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    reference: Mapped[str] = mapped_column(sa.String(32))
    urgency: Mapped[str] = mapped_column(sa.String(20))
    customer_tier: Mapped[str] = mapped_column(sa.String(20))
    key_account: Mapped[bool] = mapped_column(sa.Boolean)
    owner_department: Mapped[str] = mapped_column(sa.String(50))
    basis: Mapped[str] = mapped_column(sa.String(10))
    budget_seconds: Mapped[float] = mapped_column(sa.Float)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # [[start, end-or-null], ...] as ISO strings: waits on the customer.
    pauses: Mapped[list[list[str | None]]] = mapped_column(sa.JSON)
    state: Mapped[str] = mapped_column(sa.String(10))  # running | paused | stopped | cancelled
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    warn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    warning_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The company calendar version (calendar_versions) due_at was computed with.
    calendar_version: Mapped[int] = mapped_column(sa.Integer, server_default="0")
    # Runs finished before a reopening restarted the clock: [{started_at, due_at, ...}].
    previous_runs: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, server_default="[]")


class CalendarVersionRow(Base):
    """One version of the company calendar (plant shutdowns, extra working days,
    State Council notices entered by an admin). Never updated: a change is a new
    version; version 0 (no row) is the shipped calendar alone."""

    __tablename__ = "calendar_versions"

    version: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    document: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(sa.String(100))
    note: Mapped[str] = mapped_column(sa.String(500))
