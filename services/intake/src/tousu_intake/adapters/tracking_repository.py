"""Reading and writing the tracking read model; the complaint reads the public channels need."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
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
_READ_STATES = sa.select(
    _status.c.complaint_id, *(_status.c[name] for name in _STATE_COLUMNS)
).where(_status.c.complaint_id.in_(sa.bindparam("complaint_ids", expanding=True)))
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
        """The stored state, or None when the complaint has no tracking row yet."""
        row = (await self.session.execute(_READ_STATE, {"complaint_id": complaint_id})).first()
        return None if row is None else TrackingState(*row)

    async def stored_states(self, complaint_ids: Collection[UUID]) -> dict[UUID, TrackingState]:
        """The stored states of those complaints that have a tracking row, in one read
        (so :meth:`record_many` knows which rows to insert without reading again)."""
        rows = await self.session.execute(_READ_STATES, {"complaint_ids": list(complaint_ids)})
        return {row[0]: TrackingState(*row[1:]) for row in rows}

    async def record_many(
        self,
        entries: Sequence[tuple[UUID, str, Entry]],
        states: Mapping[UUID, TrackingState],
        *,
        stored: Mapping[UUID, TrackingState],
        references: Mapping[UUID, str],
    ) -> None:
        """Append ``entries`` (complaint, event id, entry) and store each complaint's
        state after them, in the caller's transaction (the inbox's). ``stored`` is what
        :meth:`stored_states` returned in this transaction: a complaint missing from it
        gets its row inserted, one whose state did not move keeps its row as it is (no
        UPDATE), the others are updated. One statement for each of the three, however
        many events and complaints: executemany on both backends."""
        await self.session.execute(
            _INSERT_ENTRY,
            [
                {
                    "complaint_id": complaint_id,
                    "event_id": event_id,
                    "kind": entry.kind,
                    "at": entry.at,
                    "details": entry.details,
                }
                for complaint_id, event_id, entry in entries
            ],
        )
        now = datetime.now(UTC)
        inserts: list[dict[str, object]] = []
        updates: list[dict[str, object]] = []
        for complaint_id, state in states.items():
            before = stored.get(complaint_id)
            if before is not None and state == before:
                continue
            values = {name: getattr(state, name) for name in _STATE_COLUMNS}
            if before is None:
                inserts.append(
                    {
                        "complaint_id": complaint_id,
                        "reference": references.get(complaint_id, ""),
                        "updated_at": now,
                        **values,
                    }
                )
            else:
                updates.append({"b_complaint_id": complaint_id, "updated_at": now, **values})
        if inserts:
            await self.session.execute(_INSERT_STATE, inserts)
        if updates:
            await self.session.execute(_UPDATE_STATE, updates)

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
