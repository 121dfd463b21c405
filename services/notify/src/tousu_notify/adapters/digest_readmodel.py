"""Events → the digests' read model: one upsert per event, or per row for a group.

Order-tolerant: complaint.received, the routing events and the case events
travel on three topics and may arrive in any order, so every event fills only
its own columns of a row created by whichever event comes first, and columns
that several events touch are decided by the events' own times (earliest
first response, latest triage, …), never by arrival order. Idempotence comes
from the inbox (each event applied once per consumer).

Rows are read and written with Core statements built once (below), not through
the ORM session: an event reads its row as plain values, the same rules change
them, and only the columns that changed are written (nothing when none did).
The ORM's load, identity map and unit of work cost more CPU than the rest of
an event's handling together.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime
from types import SimpleNamespace
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tousu_common.events import Event
from tousu_common.events.catalog import (
    CallbackDone,
    ComplaintClosed,
    ComplaintReassigned,
    ComplaintReceived,
    ComplaintReopened,
    ComplaintTriaged,
    ComplaintWithdrawn,
    DuplicateLinked,
    DuplicateUnlinked,
    FirstResponseRecorded,
    NoticeDispatched,
    RectificationDone,
    RectificationEvent,
    RectificationInstructed,
    RectificationNoticeIssued,
    RectificationWaived,
    ResolutionAccepted,
    ResolutionProposed,
    ResolutionRejected,
    SlaBreached,
    SlaClock,
    SlaEvent,
    SlaWarning,
    SupplierResponded,
    VerificationFailed,
    VerificationPassed,
)
from tousu_notify.adapters.digest_orm import (
    DigestComplaintRow,
    DigestFactRow,
    DigestRectificationRow,
)

#: Every event type the read model takes in.
EVENT_TYPES = (
    "complaint.received",
    "complaint.withdrawn",
    "complaint.triaged",
    "complaint.reassigned",
    "complaint.duplicate_linked",
    "complaint.duplicate_unlinked",
    "sla.warning",
    "sla.breached",
    "case.first_response_recorded",
    "resolution.proposed",
    "resolution.accepted",
    "resolution.rejected",
    "callback.done",
    "rectification.instructed",
    "rectification.notice_issued",
    "rectification.notice_dispatched",
    "rectification.supplier_responded",
    "rectification.done",
    "rectification.verification_passed",
    "rectification.verification_failed",
    "rectification.waived",
    "complaint.closed",
    "complaint.reopened",
)


def earliest(current: datetime | None, new: datetime | None) -> datetime | None:
    if current is None:
        return new
    if new is None:
        return current
    return min(current, new)


def latest(current: datetime | None, new: datetime | None) -> datetime | None:
    if current is None:
        return new
    if new is None:
        return current
    return max(current, new)


def _newer(seen: datetime | None, at: datetime) -> bool:
    return seen is None or at >= seen


_complaints: sa.Table = DigestComplaintRow.__table__  # type: ignore[assignment]
_rectifications: sa.Table = DigestRectificationRow.__table__  # type: ignore[assignment]
_facts: sa.Table = DigestFactRow.__table__  # type: ignore[assignment]


def _load_statement(table: sa.Table) -> sa.Select[Any]:
    """The row by its key, locked for the transaction where the database locks rows
    (SQLite renders no FOR UPDATE: one writer holds the whole file)."""
    (key,) = table.primary_key.columns
    return sa.select(table).where(key == sa.bindparam("row_key", type_=key.type)).with_for_update()


def _load_many_statement(table: sa.Table) -> sa.Select[Any]:
    """The rows with the keys ``row_keys``, locked as :func:`_load_statement` locks one."""
    (key,) = table.primary_key.columns
    return (
        sa.select(table)
        .where(key.in_(sa.bindparam("row_keys", type_=key.type, expanding=True)))
        .with_for_update()
    )


def _update_statement(table: sa.Table) -> sa.Update:
    """SET takes the columns named in the parameters (the compiled form is cached per
    set of names); ``row_key`` picks the row."""
    (key,) = table.primary_key.columns
    return sa.update(table).where(key == sa.bindparam("row_key", type_=key.type))


# Built once: an event's statements skip building and cache-key generation.
_LOAD = {table: _load_statement(table) for table in (_complaints, _rectifications)}
_LOAD_MANY = {table: _load_many_statement(table) for table in (_complaints, _rectifications)}
_UPDATE = {table: _update_statement(table) for table in (_complaints, _rectifications)}
_INSERT = {table: sa.insert(table) for table in (_complaints, _rectifications, _facts)}

_KEY = {table: table.primary_key.columns[0].key for table in (_complaints, _rectifications)}
_FACT_COLUMNS = tuple(column.key for column in _facts.c)


class _Loaded:
    """A row as read (``before``; None if there was none) and as the event leaves
    it (``row``: plain attributes named after the columns)."""

    def __init__(self, table: sa.Table, before: dict[str, Any] | None, new: dict[str, Any]):
        self.table = table
        self.before = before
        self.row = SimpleNamespace(**(before if before is not None else new))

    async def save(self, session: AsyncSession) -> None:
        """INSERT a new row, UPDATE only the changed columns of an old one, or nothing;
        then remember the row as written for the rest of the transaction."""
        after = vars(self.row)
        before = self.before
        key = after[_KEY[self.table]]
        pending = session.info.get(_PENDING)
        if pending is not None:  # a group (apply_events): written once at its end
            first = pending.get((self.table.name, key))
            pending[(self.table.name, key)] = (
                self.table,
                before if first is None else first[1],
                dict(after),
            )
            _written(session)[(self.table.name, key)] = dict(after)
            return
        if before is None:
            await session.execute(_INSERT[self.table], after)
        else:
            changed = {name: value for name, value in after.items() if value != before[name]}
            if changed:
                changed["row_key"] = key
                await session.execute(_UPDATE[self.table], changed)
        _written(session)[(self.table.name, key)] = dict(after)


def _written(session: AsyncSession) -> dict[tuple[str, UUID], dict[str, Any]]:
    """The rows this transaction has read or written, as they are now in it.

    The inbox applies up to ``consumer_group_commit`` events in one transaction,
    often several of one complaint; the first read locks the row (``FOR UPDATE``;
    SQLite: the transaction holds the write lock) and only this transaction
    changes it until the commit, so its values need not be read again. The
    session, and this with it, ends with the transaction (a failed group is
    applied again in new ones)."""
    return session.info.setdefault(_WRITTEN, {})  # type: ignore[no-any-return]


_WRITTEN = "tousu_notify_digest_rows"
#: Keys read and not found in this transaction (so they are not read again).
_ABSENT = "tousu_notify_digest_absent"
#: While :func:`apply_events` runs: each row's state before the group and after it.
_PENDING = "tousu_notify_digest_pending"


async def _preload(session: AsyncSession, table: sa.Table, keys: Collection[UUID]) -> None:
    """Read the rows ``keys`` of ``table`` that this transaction has not read yet, in one
    statement, into :func:`_written`; those not found go to the absent keys."""
    written = _written(session)
    absent: set[tuple[str, UUID]] = session.info.setdefault(_ABSENT, set())
    wanted = [key for key in keys if (table.name, key) not in written]
    if not wanted:
        return
    key_name = _KEY[table]
    found = await session.execute(_LOAD_MANY[table], {"row_keys": wanted})
    for row in found.mappings():
        written[(table.name, row[key_name])] = dict(row)
    absent.update((table.name, key) for key in wanted if (table.name, key) not in written)


async def _write_pending(
    session: AsyncSession, pending: dict[tuple[str, UUID], tuple[sa.Table, Any, dict[str, Any]]]
) -> None:
    """Each row a group touched, once: the new rows in one INSERT per table, the
    changed ones in one UPDATE per table and set of changed columns."""
    inserts: defaultdict[sa.Table, list[dict[str, Any]]] = defaultdict(list)
    updates: defaultdict[tuple[sa.Table, tuple[str, ...]], list[dict[str, Any]]] = defaultdict(list)
    for table, before, after in pending.values():
        if before is None:
            inserts[table].append(after)
            continue
        changed = {name: value for name, value in after.items() if value != before[name]}
        if changed:
            names = tuple(sorted(changed))
            changed["row_key"] = after[_KEY[table]]
            updates[(table, names)].append(changed)
    for table, rows in inserts.items():
        await session.execute(_INSERT[table], rows)
    for (table, _), rows in updates.items():
        await session.execute(_UPDATE[table], rows)


async def _load(session: AsyncSession, table: sa.Table, key: UUID, new: dict[str, Any]) -> _Loaded:
    """The row ``key`` of ``table``, or a new one with the values ``new``."""
    known = _written(session).get((table.name, key))
    if known is not None:
        return _Loaded(table, dict(known), {})
    if (table.name, key) in session.info.get(_ABSENT, ()):
        return _Loaded(table, None, dict.fromkeys(table.c.keys()) | new)
    found = (await session.execute(_LOAD[table], {"row_key": key})).mappings().first()
    if found is None:
        return _Loaded(table, None, dict.fromkeys(table.c.keys()) | new)
    return _Loaded(table, dict(found), {})


async def _complaint(session: AsyncSession, complaint_id: UUID) -> _Loaded:
    return await _load(
        session,
        _complaints,
        complaint_id,
        {
            "complaint_id": complaint_id,
            "key_account": False,
            "is_duplicate": False,
            "resolutions_rejected": 0,
            "reopen_count": 0,
        },
    )


async def _rectification(session: AsyncSession, data: RectificationEvent) -> _Loaded:
    loaded = await _load(
        session,
        _rectifications,
        data.rectification_id,
        {"rectification_id": data.rectification_id, "complaint_id": data.complaint_id},
    )
    row = loaded.row
    row.kind = data.kind.value
    row.reference = row.reference or data.reference
    row.department = data.department or row.department
    row.supplier_id = data.supplier_id or row.supplier_id
    row.supplier_name = data.supplier_name or row.supplier_name
    return loaded


async def _add_fact(
    session: AsyncSession, event: Event, kind: str, at: datetime, **values: object
) -> None:
    await session.execute(
        _INSERT[_facts],
        dict.fromkeys(_FACT_COLUMNS)
        | values
        | {"event_id": event.id, "complaint_id": event.complaint_id, "kind": kind, "at": at},
    )


async def apply_events(session: AsyncSession, events: Sequence[Event]) -> None:
    """The inbox's handler for a whole group of events (``batch_handler``): the rows
    they touch read in one statement per table, the events applied in order to those
    values exactly as :func:`apply_event` applies each, and every row written once at
    the end. A group costs a handful of statements instead of one or two per event
    (issue 17); the facts are still inserted as each event comes."""
    await _preload(
        session,
        _complaints,
        {e.data.complaint_id for e in events if not isinstance(e.data, RectificationEvent)},
    )
    await _preload(
        session,
        _rectifications,
        {e.data.rectification_id for e in events if isinstance(e.data, RectificationEvent)},
    )
    pending: dict[tuple[str, UUID], tuple[sa.Table, Any, dict[str, Any]]] = {}
    session.info[_PENDING] = pending
    try:
        for event in events:
            await apply_event(session, event)
    finally:
        del session.info[_PENDING]
    await _write_pending(session, pending)


async def apply_event(session: AsyncSession, event: Event) -> None:
    """The inbox handler for every type in :data:`EVENT_TYPES`."""
    data = event.data
    if isinstance(data, RectificationEvent):
        await _apply_rectification(session, event, data)
        return
    loaded = await _complaint(session, data.complaint_id)
    row = loaded.row
    match data:
        case ComplaintReceived():
            row.reference = data.reference
            row.channel = data.channel.value
            row.received_at = data.received_at
            row.product_model = data.product_model
            row.customer_tier = data.customer_tier.value
            if data.customer_segment is not None:
                row.customer_segment = data.customer_segment.value
            row.key_account = data.key_account
        case ComplaintTriaged():
            row.reference = row.reference or data.reference
            if _newer(row.triaged_at, data.triaged_at):
                row.triaged_at = data.triaged_at
                row.category = data.category.value
                row.urgency = data.urgency.value
                row.first_response_due = data.first_response_due
                row.resolution_plan_due = data.resolution_plan_due
            if _newer(row.owner_changed_at, data.triaged_at):
                row.owner_department = data.owner_department
                row.owner_changed_at = data.triaged_at
            # complaint.received is authoritative for these; triage only fills gaps
            if row.channel is None and data.channel is not None:
                row.channel = data.channel.value
            if row.received_at is None:
                row.customer_tier = data.customer_tier.value
                if data.customer_segment is not None:
                    row.customer_segment = data.customer_segment.value
        case ComplaintReassigned():
            if _newer(row.owner_changed_at, data.reassigned_at):
                row.owner_department = data.to_department
                row.owner_changed_at = data.reassigned_at
        case DuplicateLinked():
            if _newer(row.duplicate_linked_at, data.linked_at):
                row.duplicate_of = data.duplicate_of
                row.duplicate_linked_at = data.linked_at
        case DuplicateUnlinked():
            row.duplicate_unlinked_at = latest(row.duplicate_unlinked_at, data.unlinked_at)
        case SlaWarning() | SlaBreached():
            _restate_due(row, data)
            kind = "sla_warning" if isinstance(data, SlaWarning) else "sla_breached"
            await _add_fact(session, event, kind, data.raised_at, detail=data.clock.value)
        case FirstResponseRecorded():
            row.first_response_at = earliest(row.first_response_at, data.at)
        case ResolutionProposed():
            row.resolution_proposed_at = earliest(row.resolution_proposed_at, data.at)
        case ResolutionAccepted():
            row.resolution_accepted_at = latest(row.resolution_accepted_at, data.at)
        case ResolutionRejected():
            row.resolutions_rejected = (row.resolutions_rejected or 0) + 1
        case CallbackDone():
            await _add_fact(session, event, "callback", data.at, score=data.score)
        case ComplaintWithdrawn():
            row.withdrawn_at = earliest(row.withdrawn_at, data.withdrawn_at)
        case ComplaintClosed():
            row.first_close_at = earliest(row.first_close_at, data.at)
            row.reference = row.reference or data.reference
            row.category = row.category or data.category.value
            row.urgency = row.urgency or data.urgency.value
            row.owner_department = row.owner_department or data.owner_department
            row.customer_tier = row.customer_tier or data.customer_tier.value
            row.first_response_at = earliest(row.first_response_at, data.first_response_at)
            await _add_fact(session, event, "closed", data.at)
        case ComplaintReopened():
            row.reopen_count = (row.reopen_count or 0) + 1
            await _add_fact(session, event, "reopened", data.at)
        case _:
            raise TypeError(f"the digest read model does not take {event.type}")
    derive(row)
    await loaded.save(session)


def _restate_due(row: SimpleNamespace, data: SlaEvent) -> None:
    """sla.* events restate the clock's due time (customer waits move it)."""
    if data.clock is SlaClock.first_response:
        if _newer(row.fr_sla_raised_at, data.raised_at):
            row.fr_sla_due, row.fr_sla_raised_at = data.due_at, data.raised_at
    elif _newer(row.rp_sla_raised_at, data.raised_at):
        row.rp_sla_due, row.rp_sla_raised_at = data.due_at, data.raised_at


def derive(row: SimpleNamespace | DigestComplaintRow) -> None:
    """Recompute the columns that follow from the others (kept for indexed queries).

    A clock's *outcome* is known at min(milestone, due): met at the milestone
    if it came in time, missed at the due time otherwise.
    """
    row.is_duplicate = row.duplicate_linked_at is not None and (
        row.duplicate_unlinked_at is None or row.duplicate_unlinked_at < row.duplicate_linked_at
    )
    row.fr_due = row.fr_sla_due or row.first_response_due
    row.fr_outcome_at, row.fr_met = _outcome(row.first_response_at, row.fr_due)
    row.rp_due = row.rp_sla_due or row.resolution_plan_due
    row.rp_outcome_at, row.rp_met = _outcome(row.resolution_proposed_at, row.rp_due)


def _outcome(done: datetime | None, due: datetime | None) -> tuple[datetime | None, bool | None]:
    if due is None:
        return None, None
    if done is not None and done <= due:
        return done, True
    return due, False


async def _apply_rectification(
    session: AsyncSession, event: Event, data: RectificationEvent
) -> None:
    loaded = await _rectification(session, data)
    row = loaded.row
    match data:
        case RectificationInstructed() | RectificationNoticeIssued():
            row.issued_at = earliest(row.issued_at, data.at)
            row.due_date = data.due_date if row.dispatched_at is None else row.due_date
            if isinstance(data, RectificationNoticeIssued):
                row.notice_number = data.notice_number
        case NoticeDispatched():
            row.dispatched_at = earliest(row.dispatched_at, data.at)
            row.due_date = data.due_date
        case SupplierResponded() | RectificationDone():
            if isinstance(data, SupplierResponded):
                row.supplier_responded_at = earliest(row.supplier_responded_at, data.at)
            else:
                row.done_at = latest(row.done_at, data.at)
            row.root_cause_at = earliest(row.root_cause_at, data.at)
            if _newer(row.root_cause_seen_at, data.at):
                row.root_cause_category = data.root_cause_category.value
                row.root_cause_seen_at = data.at
        case VerificationPassed():
            row.verified_at = latest(row.verified_at, data.at)
        case VerificationFailed():
            await _add_fact(
                session,
                event,
                "verification_failed",
                data.at,
                rectification_id=row.rectification_id,
            )
        case RectificationWaived():
            row.waived_at = earliest(row.waived_at, data.at)
        case _:
            raise TypeError(f"the digest read model does not take {event.type}")
    await loaded.save(session)
