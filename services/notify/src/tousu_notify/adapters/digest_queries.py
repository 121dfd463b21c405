"""The read-model queries behind one period's KPIs — the only SQL of the digests.

Each query reads a slice bounded by the period (an indexed time range) except
the open backlog, which is a single filtered scan. Everything is "as of" one
instant: the period's end once it has ended, the moment of computing while it
runs (``partial``). A fact counts only if its own time is before that instant,
so a past period's numbers do not drift with the wall clock, and a running
period's do not count what has not happened yet (a clock not yet due is
pending, not missed).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from tousu_notify.adapters.digest_orm import DigestComplaintRow as C
from tousu_notify.adapters.digest_orm import DigestFactRow as F
from tousu_notify.adapters.digest_orm import DigestRectificationRow as R
from tousu_notify.domain.digest_data import (
    ClosedRow,
    CohortRow,
    Headline,
    OpenRow,
    OverdueNoticeRow,
    PeriodData,
    RectRow,
    Summary,
    as_of_instant,
)
from tousu_notify.domain.digest_periods import Period, local_date

#: The session the queries run in, named for the handlers (which import no SQL).
ReadSession = AsyncSession


def _last_close_or_reopen(at: datetime) -> sa.ScalarSelect[str]:
    f = aliased(F)
    return (
        sa.select(f.kind)
        .where(f.complaint_id == C.complaint_id, f.kind.in_(("closed", "reopened")), f.at < at)
        .order_by(f.at.desc(), f.kind.asc())
        .limit(1)
        .scalar_subquery()
    )


def withdrawn_by(at: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(C.withdrawn_at.is_not(None), C.withdrawn_at < at)


def closed_by(at: datetime) -> sa.ColumnElement[bool]:
    """Closed at ``at``: closed before it and not reopened since (the subquery runs
    only for the rare complaints ever reopened)."""
    return sa.and_(
        C.first_close_at.is_not(None),
        C.first_close_at < at,
        sa.not_(withdrawn_by(at)),
        sa.or_(
            C.reopen_count == 0,
            sa.func.coalesce(_last_close_or_reopen(at), "none") == "closed",
        ),
    )


def open_at(at: datetime, dialect: str = "sqlite") -> sa.ColumnElement[bool]:
    """Received before ``at``, not a duplicate, neither withdrawn nor closed then.

    Only complaints never closed, first closed after ``at``, or ever reopened can
    be open, and those come from the indexes on ``first_close_at`` and
    ``reopen_count`` — so neither database reads every complaint ever received
    (most were closed long before). PostgreSQL combines the indexes itself
    (BitmapOr); SQLite is handed the union of the three index lookups."""
    if dialect == "postgresql":
        candidate = sa.or_(C.first_close_at.is_(None), C.first_close_at >= at, C.reopen_count > 0)
    else:
        candidate = C.complaint_id.in_(
            sa.union(
                sa.select(C.complaint_id).where(C.first_close_at.is_(None)),
                sa.select(C.complaint_id).where(C.first_close_at >= at),
                sa.select(C.complaint_id).where(C.reopen_count > 0),
            ).scalar_subquery()
        )
    return sa.and_(
        candidate,
        C.received_at.is_not(None),
        C.received_at < at,
        C.is_duplicate.is_(False),
        sa.not_(withdrawn_by(at)),
        sa.not_(closed_by(at)),
    )


def _supplier(row: R) -> str | None:
    return row.supplier_name or (str(row.supplier_id) if row.supplier_id else None)


async def load_period(
    session: AsyncSession, period: Period, as_of: datetime | None = None
) -> PeriodData:
    """The rows of ``period`` as known at ``as_of`` (default: its end)."""
    start, period_end = period.start_utc, period.end_utc
    end = period_end if as_of is None else as_of_instant(period, as_of)
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        # Many mid-sized queries: compiling them (JIT) costs more than it saves.
        await session.execute(sa.text("SET LOCAL jit = off"))
    data = PeriodData(period, as_of=end)
    in_period = sa.and_(C.received_at >= start, C.received_at < end)

    rows = await session.execute(
        sa.select(
            C.complaint_id,
            C.channel,
            C.category,
            C.urgency,
            C.customer_tier,
            C.customer_segment,
            C.owner_department,
            C.product_model,
            C.is_duplicate,
            withdrawn_by(end).label("withdrawn_by_end"),
            closed_by(end).label("closed_by_end"),
        ).where(in_period)
    )
    data.cohort = [
        CohortRow(
            *row[:9],
            withdrawn_by_end=bool(row.withdrawn_by_end),
            closed_by_end=bool(row.closed_by_end),
        )
        for row in rows
    ]

    rows = await session.execute(
        sa.select(R.complaint_id, R.supplier_name, R.supplier_id)
        .join(C, C.complaint_id == R.complaint_id)
        .where(in_period, R.kind == "supplier_notice", R.issued_at < end)
    )
    data.cohort_suppliers = sorted(
        {(row.complaint_id, row.supplier_name or str(row.supplier_id)) for row in rows}
    )

    rows = await session.execute(
        sa.select(
            C.reference,
            C.category,
            C.urgency,
            C.customer_tier,
            C.owner_department,
            C.received_at,
            C.fr_due,
            C.first_response_at,
            C.rp_due,
            C.resolution_proposed_at,
        ).where(open_at(end, dialect))
    )
    data.open_at_end = [OpenRow(*row) for row in rows]
    data.open_at_start = (
        await session.scalar(
            sa.select(sa.func.count()).select_from(C).where(open_at(start, dialect))
        )
    ) or 0

    rows = await session.execute(
        sa.select(
            F.complaint_id,
            sa.func.max(F.at).label("closed_at"),
            C.received_at,
            C.category,
            C.customer_tier,
        )
        .join(C, C.complaint_id == F.complaint_id)
        .where(F.kind == "closed", F.at >= start, F.at < end, sa.not_(withdrawn_by(end)))
        .group_by(F.complaint_id, C.received_at, C.category, C.customer_tier)
    )
    data.closed = sorted((ClosedRow(*row) for row in rows), key=lambda row: row.complaint_id)

    data.withdrawn = (
        await session.scalar(
            sa.select(sa.func.count())
            .select_from(C)
            .where(C.withdrawn_at >= start, C.withdrawn_at < end)
        )
    ) or 0
    data.reopened = (
        await session.scalar(
            sa.select(sa.func.count(sa.distinct(F.complaint_id))).where(
                F.kind == "reopened", F.at >= start, F.at < end
            )
        )
    ) or 0

    for clock, target in (("fr", data.first_response), ("rp", data.resolution_plan)):
        outcome_at = getattr(C, f"{clock}_outcome_at")
        met = getattr(C, f"{clock}_met")
        rows = await session.execute(
            sa.select(met, C.urgency).where(
                outcome_at >= start,
                outcome_at < end,
                C.is_duplicate.is_(False),
                sa.or_(C.withdrawn_at.is_(None), C.withdrawn_at > outcome_at),
            )
        )
        target.extend((bool(row[0]), row[1]) for row in rows)
        if end < period_end:
            # Pending: due later in this period, milestone not reached by as_of.
            # Neither met nor missed yet, so outside the rate; counted apart.
            rows = await session.execute(
                sa.select(C.urgency).where(
                    outcome_at >= end,
                    getattr(C, f"{clock}_due") < period_end,
                    C.is_duplicate.is_(False),
                    sa.not_(withdrawn_by(end)),
                )
            )
            target.extend((None, row[0]) for row in rows)

    rows = await session.execute(
        sa.select(F.kind, F.detail, F.score).where(
            F.kind.in_(("sla_warning", "sla_breached", "callback")), F.at >= start, F.at < end
        )
    )
    for kind, detail, score in rows:
        if kind == "callback":
            data.callbacks.append(score)
        else:
            data.sla_events.append((kind, detail))

    def rect_rows(result: sa.Result[tuple[R]]) -> list[RectRow]:
        return [RectRow(r.kind, r.department, _supplier(r)) for r in result.scalars()]

    data.rect_opened = rect_rows(
        await session.execute(sa.select(R).where(R.issued_at >= start, R.issued_at < end))
    )
    data.rect_verified = rect_rows(
        await session.execute(sa.select(R).where(R.verified_at >= start, R.verified_at < end))
    )
    data.rect_waived = rect_rows(
        await session.execute(sa.select(R).where(R.waived_at >= start, R.waived_at < end))
    )
    data.rect_failed = rect_rows(
        await session.execute(
            sa.select(R)
            .join(F, F.rectification_id == R.rectification_id)
            .where(F.kind == "verification_failed", F.at >= start, F.at < end)
        )
    )
    rows = await session.execute(
        sa.select(R).where(
            R.kind == "supplier_notice",
            R.issued_at < end,
            # Overdue once its due day is over, in the digest's timezone.
            R.due_date < local_date(end, period.tz),
            sa.or_(R.supplier_responded_at.is_(None), R.supplier_responded_at >= end),
            sa.or_(R.verified_at.is_(None), R.verified_at >= end),
            sa.or_(R.waived_at.is_(None), R.waived_at >= end),
        )
    )
    data.overdue_notices = [
        OverdueNoticeRow(r.reference, r.notice_number, _supplier(r), r.due_date, r.issued_at)
        for r in rows.scalars()
    ]
    data.root_causes = list(
        (
            await session.scalars(
                sa.select(R.root_cause_category).where(
                    R.root_cause_at >= start, R.root_cause_at < end
                )
            )
        ).all()
    )
    return data


async def load_headline(session: AsyncSession, period: Period) -> Headline:
    start, end = period.start_utc, period.end_utc
    received = await session.scalar(
        sa.select(sa.func.count()).select_from(C).where(C.received_at >= start, C.received_at < end)
    )
    closed = await session.scalar(
        sa.select(sa.func.count(sa.distinct(F.complaint_id)))
        .join(C, C.complaint_id == F.complaint_id)
        .where(F.kind == "closed", F.at >= start, F.at < end, sa.not_(withdrawn_by(end)))
    )
    fr = await session.execute(
        sa.select(sa.func.count(), sa.func.count().filter(C.fr_met.is_(True))).where(
            C.fr_outcome_at >= start,
            C.fr_outcome_at < end,
            C.is_duplicate.is_(False),
            sa.or_(C.withdrawn_at.is_(None), C.withdrawn_at > C.fr_outcome_at),
        )
    )
    eligible, met = fr.one()
    return Headline(period.label, received or 0, closed or 0, eligible or 0, met or 0)


async def load_summary(session: AsyncSession, period: Period, *, satisfied_from: int) -> Summary:
    start, end = period.start_utc, period.end_utc
    dialect = session.get_bind().dialect.name
    headline = await load_headline(session, period)

    async def count(statement: sa.Select[tuple[int]]) -> int:
        return (await session.scalar(statement)) or 0

    work = await session.execute(
        sa.select(sa.func.count(), sa.func.count().filter(closed_by(end))).where(
            C.received_at >= start,
            C.received_at < end,
            C.is_duplicate.is_(False),
            sa.not_(withdrawn_by(end)),
        )
    )
    work_total, work_closed = work.one()
    callbacks = await session.execute(
        sa.select(sa.func.count(), sa.func.count().filter(F.score >= satisfied_from)).where(
            F.kind == "callback", F.at >= start, F.at < end
        )
    )
    callback_total, satisfied = callbacks.one()
    return Summary(
        headline=headline,
        open_backlog_end=await count(
            sa.select(sa.func.count()).select_from(C).where(open_at(end, dialect))
        ),
        work=work_total or 0,
        work_closed=work_closed or 0,
        callbacks=callback_total or 0,
        satisfied=satisfied or 0,
        reopened=await count(
            sa.select(sa.func.count(sa.distinct(F.complaint_id))).where(
                F.kind == "reopened", F.at >= start, F.at < end
            )
        ),
        rectifications_opened=await count(
            sa.select(sa.func.count()).select_from(R).where(R.issued_at >= start, R.issued_at < end)
        ),
    )
