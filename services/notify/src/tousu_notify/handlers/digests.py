"""Computing, storing and publishing digests: one method per command.

Publishing happens once per (kind, period), whatever the number of replicas
or restarts: the digest row is claimed atomically (see
:mod:`tousu_notify.adapters.digest_repository`) and ``digest.published`` is
written to the outbox in the same transaction. Whoever claimed the row
publishes; everyone else does nothing.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from tousu_common.db import Database
from tousu_common.events import new_event
from tousu_common.events.catalog import DigestPublished
from tousu_common.messaging.outbox import add_event
from tousu_notify.adapters import digest_repository
from tousu_notify.adapters.digest_queries import (
    ReadSession,
    load_headline,
    load_period,
    load_summary,
)
from tousu_notify.domain import digest_kpis as kpis
from tousu_notify.domain.digest_data import StoredDigest, as_of_instant
from tousu_notify.domain.digest_periods import Period

log = logging.getLogger(__name__)

SOURCE = "tousu/notify"


def period_key(period: Period) -> uuid.UUID:
    """The Kafka key of a period's digest.published (stable across regenerations)."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"urn:tousu:digest:{period.kind}:{period.label}")


async def compute_numbers(
    session: ReadSession,
    period: Period,
    *,
    trend_periods: int,
    units: dict[str, int],
    as_of: datetime | None = None,
) -> dict[str, Any]:
    """Every KPI of ``period`` with the previous period and the recent trend, as
    of ``as_of`` (see :func:`~tousu_notify.adapters.digest_queries.as_of_instant`;
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
            return await digest_repository.stored(session, period)

    async def regenerate(self, period: Period, *, now: datetime) -> tuple[StoredDigest, bool]:
        """Compute and store ``period``'s digest again; (digest, numbers changed?).
        Does not publish again: a period is published once."""
        numbers = await self.compute(period, now=now)
        async with self.db.transaction() as session:
            stored, changed = await digest_repository.store_again(session, period, numbers, now)
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
            won = await digest_repository.claim_publication(session, period, numbers, now)
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
