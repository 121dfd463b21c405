"""Loading and saving intake's aggregates; the only module here that writes SQL."""

from __future__ import annotations

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


class ComplaintRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, complaint: Complaint) -> None:
        """Store the complaint and stage the events it raised, in the same transaction."""
        # A Core INSERT: this is the hottest write in the system and the ORM's
        # unit of work adds nothing for a row that is only ever inserted here.
        await self.session.execute(
            sa.insert(ComplaintRow).values(
                id=complaint.id,
                reference=complaint.reference,
                channel=complaint.channel.value,
                status=complaint.status,
                title=complaint.title,
                description=complaint.description,
                customer_name=complaint.customer_name,
                customer_phone=complaint.customer_phone,
                customer_email=complaint.customer_email,
                product_model=complaint.product_model,
                serial_number=complaint.serial_number,
                language=complaint.language,
                received_at=complaint.received_at,
                received_by=complaint.received_by,
            )
        )
        for payload in complaint.events:
            await add_event(self.session, new_event(payload, source=SOURCE))
        complaint.events.clear()

    async def get(self, complaint_id: UUID) -> Complaint | None:
        row = await self.session.get(ComplaintRow, complaint_id)
        if row is None:
            return None
        return Complaint(
            id=row.id,
            reference=row.reference,
            channel=Channel(row.channel),
            status=row.status,
            title=row.title,
            description=row.description,
            customer_name=row.customer_name,
            customer_phone=row.customer_phone,
            customer_email=row.customer_email,
            product_model=row.product_model,
            serial_number=row.serial_number,
            language=row.language,
            received_at=row.received_at,
            received_by=row.received_by,
        )

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

    async def purge_older_than(self, cutoff: datetime) -> None:
        await self.session.execute(
            sa.delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff)
        )
