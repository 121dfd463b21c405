"""Rectification's tables (its own database; nobody else reads them)."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tousu_common.db import BigIntPK, UTCDateTime, make_base

Base = make_base()


class CaseRow(Base):
    __tablename__ = "cases"
    # The CSC's worklist: open product-quality cases (category, status NOT IN ended).
    __table_args__ = (sa.Index("ix_cases_category_status", "category", "status"),)

    case_id: Mapped[UUID] = mapped_column(sa.Uuid, primary_key=True)
    complaint_id: Mapped[UUID] = mapped_column(sa.Uuid, unique=True)
    reference: Mapped[str] = mapped_column(sa.String(32))
    status: Mapped[str] = mapped_column(sa.String(40), index=True)
    owner_department: Mapped[str] = mapped_column(sa.String(50), index=True)
    category: Mapped[str] = mapped_column(sa.String(30))
    urgency: Mapped[str] = mapped_column(sa.String(20))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Optimistic lock: every save is UPDATE ... WHERE version = <loaded version>.
    version: Mapped[int] = mapped_column(sa.Integer)
    customer_tier: Mapped[str] = mapped_column(sa.String(20), server_default="general")
    channel: Mapped[str | None] = mapped_column(sa.String(20))
    first_response_due: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_plan_due: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_proposed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    implemented_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    callback_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    satisfaction_score: Mapped[int | None] = mapped_column(sa.Integer)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    plan_version: Mapped[int] = mapped_column(sa.Integer, server_default="0")
    waiting_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    wait_reason: Mapped[str | None] = mapped_column(sa.Text)
    # Rectifications (issue 5B) not yet verified or waived; closing needs 0.
    open_rectifications: Mapped[int] = mapped_column(sa.Integer, server_default="0")
    rectifications_total: Mapped[int] = mapped_column(sa.Integer, server_default="0")
    rectifications_waived: Mapped[int] = mapped_column(sa.Integer, server_default="0")
    reopen_count: Mapped[int] = mapped_column(sa.Integer, server_default="0")
    # The worklist's sort key: the next thing due on this case, and what it is.
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    next_due_what: Mapped[str | None] = mapped_column(sa.String(40))


class CaseHistoryRow(Base):
    """One row per transition of a case (status change or not); never updated."""

    __tablename__ = "case_history"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    case_id: Mapped[UUID] = mapped_column(sa.Uuid, sa.ForeignKey("cases.case_id"), index=True)
    status: Mapped[str] = mapped_column(sa.String(40))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(sa.String(100))
    action: Mapped[str | None] = mapped_column(sa.String(60))
    from_status: Mapped[str | None] = mapped_column(sa.String(40))
    detail: Mapped[str | None] = mapped_column(sa.Text)


class ResolutionPlanRow(Base):
    """One row per proposed plan (version 1, 2, ...) and the customer's answer to it."""

    __tablename__ = "resolution_plans"

    case_id: Mapped[UUID] = mapped_column(sa.Uuid, sa.ForeignKey("cases.case_id"), primary_key=True)
    plan_version: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    investigation: Mapped[str] = mapped_column(sa.Text)
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    proposed_by: Mapped[str] = mapped_column(sa.String(100))
    decision: Mapped[str | None] = mapped_column(sa.String(10))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(sa.String(100))
    decision_via: Mapped[str | None] = mapped_column(sa.String(20))
    decision_comment: Mapped[str | None] = mapped_column(sa.Text)


class ResolutionActionRow(Base):
    """One action of a plan (repair, replace, refund ...), numbered from 1 within it."""

    __tablename__ = "resolution_actions"
    __table_args__ = (
        sa.UniqueConstraint(
            "case_id", "plan_version", "position", name="uq_resolution_actions_case_id"
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    case_id: Mapped[UUID] = mapped_column(sa.Uuid, sa.ForeignKey("cases.case_id"))
    plan_version: Mapped[int] = mapped_column(sa.Integer)
    position: Mapped[int] = mapped_column(sa.Integer)
    kind: Mapped[str] = mapped_column(sa.String(20))
    description: Mapped[str] = mapped_column(sa.Text)
    due_date: Mapped[date] = mapped_column(sa.Date)
    # Decimal as text: exact on both backends (SQLite has no decimal type).
    amount: Mapped[str | None] = mapped_column(sa.String(20))
    currency: Mapped[str | None] = mapped_column(sa.String(3))
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_by: Mapped[str | None] = mapped_column(sa.String(100))
    note: Mapped[str | None] = mapped_column(sa.Text)


class ComplaintFactsRow(Base):
    """What intake's complaint.received / complaint.withdrawn said, kept for closing
    (received_at, tier, feedback wish) — the case may open before or after it arrives."""

    __tablename__ = "complaint_facts"

    complaint_id: Mapped[UUID] = mapped_column(sa.Uuid, primary_key=True)
    reference: Mapped[str] = mapped_column(sa.String(32))
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    channel: Mapped[str | None] = mapped_column(sa.String(20))
    customer_tier: Mapped[str | None] = mapped_column(sa.String(20))
    feedback_requested: Mapped[bool] = mapped_column(sa.Boolean)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When and how the customer asked for the rectification feedback (filing or later).
    feedback_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    feedback_requested_via: Mapped[str | None] = mapped_column(sa.String(20))


class PendingDecisionRow(Base):
    """A customer's answer (resolution.decision_received) that arrived before its case:
    written in the inbox transaction, handed to the case in the transaction that opens it
    (and deleted there), so it is neither dropped nor applied twice."""

    __tablename__ = "pending_decisions"

    event_id: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    complaint_id: Mapped[UUID] = mapped_column(sa.Uuid, index=True)
    reference: Mapped[str] = mapped_column(sa.String(32))
    plan_version: Mapped[int] = mapped_column(sa.Integer)
    decision: Mapped[str] = mapped_column(sa.String(10))
    via: Mapped[str] = mapped_column(sa.String(20))
    comment: Mapped[str | None] = mapped_column(sa.Text)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime)
    kept_at: Mapped[datetime] = mapped_column(UTCDateTime)


# Rectification tables (issue 5, part B) live in their own module, on this Base.
from tousu_rectification.adapters import rectification_orm as _rectification_orm  # noqa: E402, F401
