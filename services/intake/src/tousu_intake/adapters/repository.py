"""Loading and saving intake's aggregates; the only module here that writes SQL."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from tousu_common.events import Channel, new_event
from tousu_common.messaging.outbox import add_event
from tousu_intake.adapters.orm import ComplaintRow, IdempotencyRecord, ReferenceCounter
from tousu_intake.domain.model import Complaint

SOURCE = "tousu/intake"


# The aggregate's fields that are columns (everything but the pending events).
_COLUMNS = tuple(f.name for f in fields(Complaint) if f.name != "events")


def _columns(complaint: Complaint) -> dict[str, object]:
    return {name: getattr(complaint, name) for name in _COLUMNS}


class ComplaintRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, complaint: Complaint) -> None:
        """Store the complaint and stage the events it raised, in the same transaction."""
        # A Core INSERT: this is the hottest write in the system and the ORM's
        # unit of work adds nothing for a row that is only ever inserted here.
        await self.session.execute(sa.insert(ComplaintRow).values(_columns(complaint)))
        for payload in complaint.events:
            await add_event(self.session, new_event(payload, source=SOURCE))
        complaint.events.clear()

    async def get(self, complaint_id: UUID) -> Complaint | None:
        row = await self.session.get(ComplaintRow, complaint_id)
        if row is None:
            return None
        values = {name: getattr(row, name) for name in _COLUMNS}
        return Complaint(**{**values, "channel": Channel(row.channel)})

    async def next_reference_serial(self, year: int) -> int:
        """Atomically take the next serial for ``year`` (row-locked until commit)."""
        dialect = self.session.bind.dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = (
            insert(ReferenceCounter)
            .values(year=year, last_value=1)
            .on_conflict_do_update(
                index_elements=[ReferenceCounter.year],
                set_={"last_value": ReferenceCounter.last_value + 1},
            )
            .returning(ReferenceCounter.last_value)
        )
        return int((await self.session.execute(statement)).scalar_one())


class IdempotencyStore:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, principal: str, key: str) -> IdempotencyRecord | None:
        return await self.session.get(IdempotencyRecord, (principal, key))

    async def put(
        self, principal: str, key: str, request_hash: str, status_code: int, response: dict
    ) -> None:
        self.session.add(
            IdempotencyRecord(
                principal=principal,
                key=key,
                request_hash=request_hash,
                status_code=status_code,
                response=response,
                created_at=datetime.now(UTC),
            )
        )
        await self.session.flush()
