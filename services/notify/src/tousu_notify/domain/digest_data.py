"""The rows a digest is computed from, as plain values.

The adapter (``adapters.digest_queries``) fills them from the read model; the
KPIs (``domain.digest_kpis``) are computed from them without any I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from tousu_notify.domain.digest_periods import Period


@dataclass(frozen=True)
class CohortRow:
    complaint_id: UUID
    channel: str | None
    category: str | None
    urgency: str | None
    customer_tier: str | None
    customer_segment: str | None
    owner_department: str | None
    product_model: str | None
    is_duplicate: bool
    withdrawn_by_end: bool
    closed_by_end: bool


@dataclass(frozen=True)
class OpenRow:
    reference: str | None
    category: str | None
    urgency: str | None
    customer_tier: str | None
    owner_department: str | None
    received_at: datetime
    fr_due: datetime | None
    first_response_at: datetime | None
    rp_due: datetime | None
    resolution_proposed_at: datetime | None


@dataclass(frozen=True)
class ClosedRow:
    complaint_id: UUID
    closed_at: datetime
    received_at: datetime | None
    category: str | None
    customer_tier: str | None


@dataclass(frozen=True)
class RectRow:
    kind: str
    department: str | None
    supplier: str | None


@dataclass(frozen=True)
class OverdueNoticeRow:
    reference: str | None
    notice_number: str | None
    supplier: str | None
    due_date: object
    issued_at: datetime | None


@dataclass
class PeriodData:
    period: Period
    #: The instant the numbers are as of: ``period.end_utc`` once the period has
    #: ended, else the moment of computing (a partial digest).
    as_of: datetime
    cohort: list[CohortRow] = field(default_factory=list)
    cohort_suppliers: list[tuple[UUID, str]] = field(default_factory=list)
    open_at_end: list[OpenRow] = field(default_factory=list)
    open_at_start: int = 0
    closed: list[ClosedRow] = field(default_factory=list)
    withdrawn: int = 0
    reopened: int = 0
    #: (met?, urgency) per clock; met is None for a clock still pending at ``as_of``
    first_response: list[tuple[bool | None, str | None]] = field(default_factory=list)
    resolution_plan: list[tuple[bool | None, str | None]] = field(default_factory=list)
    sla_events: list[tuple[str, str]] = field(default_factory=list)
    callbacks: list[int] = field(default_factory=list)
    rect_opened: list[RectRow] = field(default_factory=list)
    rect_verified: list[RectRow] = field(default_factory=list)
    rect_failed: list[RectRow] = field(default_factory=list)
    rect_waived: list[RectRow] = field(default_factory=list)
    overdue_notices: list[OverdueNoticeRow] = field(default_factory=list)
    root_causes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Headline:
    """The few numbers drawn as a trend over recent periods."""

    period: str
    received: int
    closed: int
    fr_eligible: int
    fr_met: int


@dataclass(frozen=True)
class Summary:
    """The previous period's headline figures, counted in SQL (no rows fetched)."""

    headline: Headline
    open_backlog_end: int
    work: int
    work_closed: int
    callbacks: int
    satisfied: int
    reopened: int
    rectifications_opened: int


def as_of_instant(period: Period, now: datetime) -> datetime:
    """The instant a digest computed at ``now`` is as of: the period's end once it
    has ended, ``now`` while it runs (never before its start)."""
    return min(max(now, period.start_utc), period.end_utc)


@dataclass(frozen=True)
class StoredDigest:
    """A period's digest as stored: its numbers and when they were published."""

    kind: str
    period: str
    generated_at: datetime
    published_at: datetime | None
    revision: int
    numbers: dict[str, Any]
