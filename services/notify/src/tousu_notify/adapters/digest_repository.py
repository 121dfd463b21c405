"""The stored digests: reading, regenerating and claiming a period's row.

Publishing happens once per (kind, period), whatever the number of replicas
or restarts: the digest row is claimed atomically — an ``UPDATE … WHERE
published_at IS NULL`` or an ``INSERT … ON CONFLICT DO NOTHING`` on the unique
(kind, period). Whoever's statement changed a row publishes; everyone else sees
zero rows changed and does nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from tousu_notify.adapters.digest_orm import DigestRow
from tousu_notify.domain.digest_data import StoredDigest
from tousu_notify.domain.digest_periods import Period


async def stored(session: AsyncSession, period: Period) -> StoredDigest | None:
    """``period``'s stored digest, if any."""
    row = await session.scalar(
        sa.select(DigestRow).where(DigestRow.kind == period.kind, DigestRow.period == period.label)
    )
    return _stored(row) if row is not None else None


async def store_again(
    session: AsyncSession, period: Period, numbers: dict[str, Any], now: datetime
) -> tuple[StoredDigest, bool]:
    """Store ``numbers`` as ``period``'s digest (locking its row); (digest,
    numbers changed?). Leaves ``published_at`` as it was."""
    row = await session.scalar(
        sa.select(DigestRow)
        .where(DigestRow.kind == period.kind, DigestRow.period == period.label)
        .with_for_update()
    )
    if row is None:
        row = DigestRow(**_row_values(period, numbers, now, published_at=None))
        session.add(row)
        changed = True
    else:
        changed = row.numbers != numbers
        row.numbers = numbers
        row.generated_at = now
        row.revision += 1
    await session.flush()
    return _stored(row), changed


async def claim_publication(
    session: AsyncSession, period: Period, numbers: dict[str, Any], now: datetime
) -> bool:
    """Store ``numbers`` as ``period``'s published digest unless it was published
    already; True if this statement claimed it."""
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
    if claimed.rowcount == 1:
        return True
    insert = (postgresql.insert if _is_postgres(session) else sqlite.insert)(DigestRow)
    values = _row_values(period, numbers, now, published_at=now)
    inserted = await session.execute(
        insert.values(**values).on_conflict_do_nothing(index_elements=["kind", "period"])
    )
    return inserted.rowcount == 1


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


def _stored(row: DigestRow) -> StoredDigest:
    return StoredDigest(
        kind=row.kind,
        period=row.period,
        generated_at=row.generated_at,
        published_at=row.published_at,
        revision=row.revision,
        numbers=row.numbers,
    )
