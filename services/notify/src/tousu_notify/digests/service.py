"""Computing, storing and publishing digests.

Publishing happens once per (kind, period), whatever the number of replicas
or restarts: the digest row is claimed atomically — an ``UPDATE … WHERE
published_at IS NULL`` or an ``INSERT … ON CONFLICT DO NOTHING`` on the unique
(kind, period) — and ``digest.published`` is written to the outbox in the same
transaction. Whoever's statement changed a row publishes; everyone else sees
zero rows changed and does nothing.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from tousu_common.db import Database
from tousu_common.events import new_event
from tousu_common.events.catalog import DigestPublished
from tousu_common.messaging.outbox import add_event
from tousu_notify.digests import kpis
from tousu_notify.digests.models import DigestRow
from tousu_notify.digests.periods import Period
from tousu_notify.digests.queries import (
    as_of_instant,
    load_headline,
    load_period,
    load_summary,
)

log = logging.getLogger(__name__)

SOURCE = "tousu/notify"


@dataclass(frozen=True)
class StoredDigest:
    kind: str
    period: str
    generated_at: datetime
    published_at: datetime | None
    revision: int
    numbers: dict[str, Any]


def period_key(period: Period) -> uuid.UUID:
    """The Kafka key of a period's digest.published (stable across regenerations)."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"urn:tousu:digest:{period.kind}:{period.label}")


async def compute_numbers(
    session: AsyncSession,
    period: Period,
    *,
    trend_periods: int,
    units: dict[str, int],
    as_of: datetime | None = None,
) -> dict[str, Any]:
    """Every KPI of ``period`` with the previous period and the recent trend, as
    of ``as_of`` (see :func:`~tousu_notify.digests.queries.as_of_instant`;
    default: the period's end)."""
    data = await load_period(session, period, as_of)
    counted = await load_summary(session, period.previous(), satisfied_from=kpis.SATISFIED_FROM)
    trend = [await load_headline(session, p) for p in period.recent(trend_periods)[:-2]]
    trend.append(counted.headline)
    numbers = kpis.compute(
        data,
        previous=kpis.summary_from_counts(counted),
        trend=trend,
        units_in_service=units,
    )
    # The period's own point of the trend comes from its full numbers.
    current = kpis.summary(numbers)
    numbers["trend"].append(
        {
            "period": current["period"],
            "received": current["received"],
            "closed": current["closed"],
            "first_response_rate": current["first_response_rate"],
        }
    )
    return numbers


class Digests:
    def __init__(self, db: Database, settings: Any) -> None:
        self.db = db
        self.settings = settings

    @property
    def tz(self) -> str:
        return self.settings.timezone

    async def compute(self, period: Period, *, now: datetime | None = None) -> dict[str, Any]:
        """The period's numbers as known at ``now`` (default: the wall clock): all
        of it once it has ended, a partial digest while it runs."""
        async with self.db.sessions() as session:
            return await compute_numbers(
                session,
                period,
                trend_periods=self.settings.digest_trend_periods,
                units=dict(self.settings.digest_units_in_service),
                as_of=as_of_instant(period, now or datetime.now(UTC)),
            )

    async def stored(self, period: Period) -> StoredDigest | None:
        async with self.db.sessions() as session:
            row = await session.scalar(
                sa.select(DigestRow).where(
                    DigestRow.kind == period.kind, DigestRow.period == period.label
                )
            )
            return _stored(row) if row is not None else None

    async def regenerate(self, period: Period, *, now: datetime) -> tuple[StoredDigest, bool]:
        """Compute and store ``period``'s digest again; (digest, numbers changed?).
        Does not publish again: a period is published once."""
        numbers = await self.compute(period, now=now)
        async with self.db.transaction() as session:
            row = await session.scalar(
                sa.select(DigestRow)
                .where(DigestRow.kind == period.kind, DigestRow.period == period.label)
                .with_for_update()
            )
            if row is None:
                row = _new_row(period, numbers, now, published_at=None)
                session.add(row)
                changed = True
            else:
                changed = row.numbers != numbers
                row.numbers = numbers
                row.generated_at = now
                row.revision += 1
            await session.flush()
            stored = _stored(row)
        log.info(
            "digest regenerated",
            extra={"kind": period.kind, "period": period.label, "changed": changed},
        )
        return stored, changed

    async def publish(self, period: Period, *, now: datetime) -> bool:
        """Store and publish ``period``'s digest unless it was published already.
        True if this call published it."""
        if (existing := await self.stored(period)) is not None and existing.published_at:
            return False
        numbers = await self.compute(period, now=now)
        async with self.db.transaction() as session:
            claimed = await session.execute(
                sa.update(DigestRow)
                .where(
                    DigestRow.kind == period.kind,
                    DigestRow.period == period.label,
                    DigestRow.published_at.is_(None),
                )
                .values(
                    numbers=numbers,
                    generated_at=now,
                    published_at=now,
                    revision=DigestRow.revision + 1,
                )
            )
            won = claimed.rowcount == 1
            if not won:
                insert = (postgresql.insert if _is_postgres(session) else sqlite.insert)(DigestRow)
                values = _row_values(period, numbers, now, published_at=now)
                inserted = await session.execute(
                    insert.values(**values).on_conflict_do_nothing(
                        index_elements=["kind", "period"]
                    )
                )
                won = inserted.rowcount == 1
            if won:
                await add_event(session, self._event(period, numbers, now))
        if won:
            log.info("digest published", extra={"kind": period.kind, "period": period.label})
        return won

    def _event(self, period: Period, numbers: dict[str, Any], now: datetime):  # type: ignore[no-untyped-def]
        base = (self.settings.public_url or self.settings.notify_url).rstrip("/")
        return new_event(
            DigestPublished(
                complaint_id=period_key(period),
                period_kind=period.kind,
                period=period.label,
                period_start=period.start,
                period_end=period.last_day,
                generated_at=now,
                received=numbers["volume"]["received"],
                closed=numbers["volume"]["closed"],
                open_backlog=numbers["volume"]["open_backlog_end"],
                response_timeliness_rate=numbers["timeliness"]["first_response"]["rate"],
                completion_rate=numbers["completion"]["rate"],
                url=f"{base}/v1/digests/{period.kind}/{period.label}.html",
            ),
            source=SOURCE,
        )


def _is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _row_values(
    period: Period, numbers: dict[str, Any], now: datetime, *, published_at: datetime | None
) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "kind": period.kind,
        "period": period.label,
        "period_start": period.start,
        "period_end": period.last_day,
        "generated_at": now,
        "published_at": published_at,
        "revision": 1,
        "numbers": numbers,
    }


def _new_row(
    period: Period, numbers: dict[str, Any], now: datetime, *, published_at: datetime | None
) -> DigestRow:
    return DigestRow(**_row_values(period, numbers, now, published_at=published_at))


def _stored(row: DigestRow) -> StoredDigest:
    return StoredDigest(
        kind=row.kind,
        period=row.period,
        generated_at=row.generated_at,
        published_at=row.published_at,
        revision=row.revision,
        numbers=row.numbers,
    )
