"""The customer's feedback wish and answers: rows and the events that go with them."""

from __future__ import annotations

from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tousu_common.events import EventPayload, new_event
from tousu_common.messaging.outbox import add_event
from tousu_intake.adapters.feedback_orm import FeedbackAnswerRow, FeedbackRequestRow
from tousu_intake.adapters.repository import SOURCE


class FeedbackRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def request(self, complaint_id: UUID) -> FeedbackRequestRow | None:
        return await self.session.get(FeedbackRequestRow, complaint_id)

    async def answers(self, complaint_id: UUID) -> list[FeedbackAnswerRow]:
        return list(
            await self.session.scalars(
                sa.select(FeedbackAnswerRow).where(FeedbackAnswerRow.complaint_id == complaint_id)
            )
        )

    async def answer(self, complaint_id: UUID, rectification_id: UUID) -> FeedbackAnswerRow | None:
        return await self.session.get(FeedbackAnswerRow, (complaint_id, rectification_id))

    def add(self, row: FeedbackRequestRow | FeedbackAnswerRow) -> None:
        self.session.add(row)

    async def flush(self) -> None:
        await self.session.flush()

    async def publish(self, payload: EventPayload) -> None:
        """Stage the event in the outbox, in the same transaction as the row."""
        await add_event(self.session, new_event(payload, source=SOURCE))
