"""Reading and writing the tracking read model; the complaint reads the public channels need."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tousu_intake.adapters.channels_orm import TrackingEntryRow, TrackingStatusRow
from tousu_intake.adapters.orm import ComplaintRow
from tousu_intake.domain.timeline import Entry, TrackingState

_status = TrackingStatusRow.__table__
_entries = TrackingEntryRow.__table__

#: The columns :class:`TrackingState` is made of, in its field order.
_STATE_COLUMNS = tuple(f.name for f in fields(TrackingState))

# Core statements built once: the tracking consumer runs them for every event it
# records, and building a statement (and its cache key) or going through the
# ORM's identity map and unit of work cost more CPU than running it on SQLite.
_READ_STATE = sa.select(*(_status.c[name] for name in _STATE_COLUMNS)).where(
    _status.c.complaint_id == sa.bindparam("complaint_id")
)
_INSERT_ENTRY = sa.insert(_entries)
_INSERT_STATE = sa.insert(_status)
_UPDATE_STATE = (
    sa.update(_status)
    .where(_status.c.complaint_id == sa.bindparam("b_complaint_id"))
    .values(
        {
            name: sa.bindparam(name, type_=_status.c[name].type)
            for name in (*_STATE_COLUMNS, "updated_at")
        }
    )
)
_MARK_DECISION = (
    sa.update(_status)
    .where(_status.c.complaint_id == sa.bindparam("b_complaint_id"))
    .values(
        decision_sent=sa.bindparam("decision_sent", type_=_status.c.decision_sent.type),
        updated_at=sa.bindparam("updated_at", type_=_status.c.updated_at.type),
    )
)


class TrackingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def state(self, complaint_id: UUID) -> TrackingState:
        """Where the complaint stands; the starting state if nothing was recorded yet."""
        return await self.stored_state(complaint_id) or TrackingState()

    async def stored_state(self, complaint_id: UUID) -> TrackingState | None:
        """The stored state, or None when the complaint has no tracking row yet (so
        :meth:`record` knows whether to insert it without reading it again)."""
        row = (await self.session.execute(_READ_STATE, {"complaint_id": complaint_id})).first()
        return None if row is None else TrackingState(*row)

    async def record(
        self,
        complaint_id: UUID,
        reference: str,
        event_id: str,
        entry: Entry,
        state: TrackingState,
        *,
        stored: TrackingState | None,
    ) -> None:
        """Append the entry and store the state it led to (same transaction as the inbox
        row). ``stored`` is what :meth:`stored_state` returned for this complaint in
        this transaction: None inserts the tracking row, an equal state leaves the row
        as it is (an entry that moves nothing costs no UPDATE), else it is updated."""
        await self.session.execute(
            _INSERT_ENTRY,
            {
                "complaint_id": complaint_id,
                "event_id": event_id,
                "kind": entry.kind,
                "at": entry.at,
                "details": entry.details,
            },
        )
        if stored is not None and state == stored:
            return
        values = {name: getattr(state, name) for name in _STATE_COLUMNS}
        now = datetime.now(UTC)
        if stored is None:
            await self.session.execute(
                _INSERT_STATE,
                {"complaint_id": complaint_id, "reference": reference, "updated_at": now, **values},
            )
        else:
            await self.session.execute(
                _UPDATE_STATE, {"b_complaint_id": complaint_id, "updated_at": now, **values}
            )

    async def mark_decision_sent(self, complaint_id: UUID, decision: str) -> None:
        """Remember at once that the customer answered (a second answer is not sent)."""
        await self.session.execute(
            _MARK_DECISION,
            {
                "b_complaint_id": complaint_id,
                "decision_sent": decision,
                "updated_at": datetime.now(UTC),
            },
        )

    async def entries(self, complaint_id: UUID) -> list[Entry]:
        rows = await self.session.scalars(
            sa.select(TrackingEntryRow)
            .where(TrackingEntryRow.complaint_id == complaint_id)
            .order_by(TrackingEntryRow.at, TrackingEntryRow.id)
        )
        return [Entry(row.kind, row.at, dict(row.details or {})) for row in rows]


class ComplaintLookup:
    """The few complaint reads the public channels need (no personal data leaves here)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_reference(self, reference: str) -> ComplaintRow | None:
        return await self.session.scalar(
            sa.select(ComplaintRow).where(ComplaintRow.reference == reference)
        )

    async def by_id(self, complaint_id: UUID) -> ComplaintRow | None:
        return await self.session.get(ComplaintRow, complaint_id)
