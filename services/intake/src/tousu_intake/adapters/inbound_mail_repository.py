"""The inbound-mail record: one row per message received, claimed, then finished."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tousu_intake.adapters.channels_orm import InboundMailRow


class InboundMailRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_dedupe_key(self, key: str) -> InboundMailRow | None:
        return await self.session.scalar(
            sa.select(InboundMailRow).where(InboundMailRow.dedupe_key == key)
        )

    async def complaint_for_message_ids(self, message_ids: list[str]) -> UUID | None:
        """The complaint an earlier mail with one of these Message-IDs was filed or threaded on."""
        if not message_ids:
            return None
        ids = [mid[:512] for mid in message_ids[:100]]
        return await self.session.scalar(
            sa.select(InboundMailRow.complaint_id)
            .where(InboundMailRow.message_id.in_(ids), InboundMailRow.complaint_id.is_not(None))
            .order_by(InboundMailRow.received_at.desc())
            .limit(1)
        )

    async def add(self, row: InboundMailRow) -> None:
        self.session.add(row)
        await self.session.flush()

    async def take_over(
        self, row_id: UUID, claimed_at: datetime, now: datetime, *, open_outcome: str
    ) -> bool:
        """Renew a stale claim, only if nobody else renewed or finished it first."""
        result = await self.session.execute(
            sa.update(InboundMailRow)
            .where(
                InboundMailRow.id == row_id,
                InboundMailRow.outcome == open_outcome,
                InboundMailRow.received_at == claimed_at,
            )
            .values(received_at=now)
        )
        return result.rowcount == 1

    async def release(self, row_id: UUID, *, open_outcome: str) -> None:
        """Drop a claim that is still open, so the sender's retry is processed at once."""
        await self.session.execute(
            sa.delete(InboundMailRow).where(
                InboundMailRow.id == row_id, InboundMailRow.outcome == open_outcome
            )
        )

    async def finish(
        self,
        row_id: UUID,
        *,
        outcome: str,
        reason: str | None,
        complaint_id: UUID | None,
        raw_path: str,
    ) -> None:
        """Write the mail's final outcome."""
        await self.session.execute(
            sa.update(InboundMailRow)
            .where(InboundMailRow.id == row_id)
            .values(outcome=outcome, reason=reason, complaint_id=complaint_id, raw_path=raw_path)
        )

    async def get(self, row_id: UUID) -> InboundMailRow | None:
        return await self.session.get(InboundMailRow, row_id)

    async def page(
        self,
        *,
        complaint_id: UUID | None,
        outcome: str | None,
        limit: int,
        offset: int,
    ) -> tuple[list[InboundMailRow], int]:
        """Mail received, newest first, and how many match in all."""
        conditions = []
        if complaint_id is not None:
            conditions.append(InboundMailRow.complaint_id == complaint_id)
        if outcome is not None:
            conditions.append(InboundMailRow.outcome == outcome)
        total = await self.session.scalar(
            sa.select(sa.func.count()).select_from(InboundMailRow).where(*conditions)
        )
        rows = await self.session.scalars(
            sa.select(InboundMailRow)
            .where(*conditions)
            .order_by(InboundMailRow.received_at.desc(), InboundMailRow.id)
            .limit(limit)
            .offset(offset)
        )
        return list(rows), int(total or 0)
