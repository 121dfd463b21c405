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

    async def get(self, complaint_id: UUID, *, for_update: bool = False) -> Complaint | None:
        """The complaint; ``for_update`` locks its row until commit (PostgreSQL)."""
        query = sa.select(ComplaintRow).where(ComplaintRow.id == complaint_id)
        if for_update:
            query = query.with_for_update()
        row = (await self.session.scalars(query)).one_or_none()
        if row is None:
            return None
        return _from_row(row)

    async def get_by_reference(self, reference: str) -> Complaint | None:
        row = (
            await self.session.scalars(
                sa.select(ComplaintRow).where(ComplaintRow.reference == reference)
            )
        ).one_or_none()
        return None if row is None else _from_row(row)

    async def update(self, complaint: Complaint) -> None:
        """Write the fields a command may change and stage the events it raised."""
        await self.session.execute(
            sa.update(ComplaintRow)
            .where(ComplaintRow.id == complaint.id)
            .values(status=complaint.status, description=complaint.description)
        )
        for payload in complaint.events:
            await add_event(self.session, new_event(payload, source=SOURCE))
        complaint.events.clear()

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


def _from_row(row: ComplaintRow) -> Complaint:
    values = {name: getattr(row, name) for name in _COLUMNS}
    return Complaint(**{**values, "channel": Channel(row.channel)})


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
