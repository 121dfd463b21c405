"""Loading and saving deliveries, subscriptions and complaint facts; the only
module here that writes SQL."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID, uuid4

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from tousu_common.events import Event
from tousu_common.tracing import current_traceparent
from tousu_notify.adapters.orm import ComplaintFactsRow, DeliveryRow, SubscriptionRow
from tousu_notify.domain.delivery import (
    DeliveryAction,
    DeliveryRecord,
    initial_status,
    next_status,
)
from tousu_notify.domain.model import (
    DeliveryChannel,
    DeliveryStatus,
    Facts,
    PlannedDelivery,
    RecipientKind,
    SubscriptionRule,
)

_T = TypeVar("_T")

#: Set on a session that added deliveries, so the worker wakes after its commit.
DELIVERIES_ADDED = "tousu_notify_deliveries_added"


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


def _for_dialect(session: AsyncSession, statements: Mapping[str, _T]) -> _T:
    """The session's dialect's variant of a prebuilt statement (PostgreSQL, else SQLite)."""
    return statements["postgresql" if _dialect(session) == "postgresql" else "sqlite"]


def _locks_rows(session: AsyncSession) -> bool:
    """Row locks where the database has them; on SQLite one process owns the file."""
    return _dialect(session) != "sqlite"


def deliveries_added(session: AsyncSession) -> bool:
    """Whether the committed ``session`` added deliveries to send (read once)."""
    return bool(session.info.pop(DELIVERIES_ADDED, False))


@dataclass(slots=True)
class LoadedDelivery:
    """A delivery row as plain data, for the worker's claim and record (no ORM object:
    the worker's statements run for every message). The state machine changes it
    like a row (:class:`~tousu_notify.domain.delivery.DeliveryRecord`) and
    :meth:`DeliveryRepository.save` writes it back. ``subscription_failing``: its
    subscription's last delivery failed (read by :meth:`DeliveryRepository.due`)."""

    id: UUID
    source_event_id: str
    event_type: str
    complaint_id: UUID
    reference: str | None
    template: str
    channel: str
    recipient_kind: str
    recipient_key: str
    subscription_id: UUID | None
    language: str
    context: dict[str, Any]
    message_id: str | None
    masked_recipient: str | None
    status: str
    attempts: int
    last_error: str | None
    response_status: int | None
    next_attempt_at: datetime | None
    claimed_at: datetime | None
    sent_at: datetime | None
    updated_at: datetime
    subscription_failing: bool = False


class DeliveryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def insert_planned(self, rows: list[dict[str, Any]]) -> dict[UUID, int]:
        """Insert rows from :func:`planned_rows` (of one event or of a whole group of
        them) in one statement; a row that exists already (same event, template and
        recipient) is left alone. Returns how many went in per source event.

        The rows that went in come back by RETURNING, the ones the unique key refused
        do not, so the count is the same as row by row."""
        if not rows:
            return {}
        result = await self.session.execute(_for_dialect(self.session, _ADD_PLANNED), rows)
        added: dict[UUID, int] = {}
        due = {row["id"] for row in rows if row["next_attempt_at"] is not None}
        for delivery_id, source_event_id in result.all():
            added[source_event_id] = added.get(source_event_id, 0) + 1
            if delivery_id in due:
                self.session.info[DELIVERIES_ADDED] = True
        return added

    async def get(self, delivery_id: UUID) -> DeliveryRow | None:
        return await self.session.get(DeliveryRow, delivery_id)

    def mark_added(self) -> None:
        """Wake the worker once this transaction commits (a delivery is due now)."""
        self.session.info[DELIVERIES_ADDED] = True

    async def due(
        self, now: datetime, *, stale_before: datetime, limit: int
    ) -> list[LoadedDelivery]:
        """Rows to attempt now: pending and due, or ``sending`` for longer than the stale
        limit (their worker died mid-send), each with whether its subscription is
        failing (read in the same statement). On PostgreSQL read ``FOR UPDATE SKIP
        LOCKED``, so several replicas never claim the same row."""
        statement = _DUE_LOCKED if _locks_rows(self.session) else _DUE
        result = await self.session.execute(
            statement, {"now": now, "stale_before": stale_before, "limit": limit}
        )
        return [_loaded(row) for row in result]

    async def get_locked_many(self, delivery_ids: Iterable[UUID]) -> dict[UUID, LoadedDelivery]:
        """Several rows by id in one statement, locked for this transaction where the
        database can (in id order, so two transactions never lock them crosswise): the
        worker records a whole batch's outcomes, one read instead of one per row."""
        statement = _LOCKED_MANY if _locks_rows(self.session) else _MANY
        result = await self.session.execute(statement, {"ids": list(delivery_ids)})
        return {row.id: _loaded(row) for row in result}

    async def save(self, records: Collection[LoadedDelivery]) -> None:
        """Write what the state machine changed in ``records`` (loaded by :meth:`due` or
        :meth:`get_locked_many` in this transaction), in one executemany UPDATE."""
        if records:
            await self.session.execute(
                _SAVE,
                [
                    {"b_id": record.id, **{name: getattr(record, name) for name in _CHANGING}}
                    for record in records
                ],
            )

    async def for_complaint(self, complaint_id: UUID) -> list[DeliveryRow]:
        rows = await self.session.scalars(
            sa.select(DeliveryRow)
            .where(DeliveryRow.complaint_id == complaint_id)
            .order_by(DeliveryRow.created_at, DeliveryRow.template, DeliveryRow.recipient_key)
        )
        return list(rows)

    async def for_subscription(
        self, subscription_id: UUID, *, limit: int, status: str | None = None
    ) -> list[DeliveryRow]:
        query = sa.select(DeliveryRow).where(DeliveryRow.subscription_id == subscription_id)
        if status:
            query = query.where(DeliveryRow.status == status)
        rows = await self.session.scalars(
            query.order_by(DeliveryRow.created_at.desc(), DeliveryRow.id).limit(limit)
        )
        return list(rows)

    async def cancel_open_for_subscription(
        self, subscription_id: UUID, reason: str, at: datetime
    ) -> None:
        """Cancel the subscription's pending deliveries in one statement (the table's
        pending → cancelled move)."""
        source = DeliveryStatus.pending
        target = next_status(source, DeliveryAction.cancel)
        await self.session.execute(
            sa.update(DeliveryRow)
            .where(
                DeliveryRow.subscription_id == subscription_id,
                DeliveryRow.status == source.value,
            )
            .values(status=target.value, last_error=reason, updated_at=at)
        )


class SubscriptionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, row: SubscriptionRow) -> None:
        self.session.add(row)
        await self.session.flush()

    async def get(self, subscription_id: UUID, *, lock: bool = False) -> SubscriptionRow | None:
        """``lock``: locked for this transaction where the database can."""
        if lock and _locks_rows(self.session):
            return await self.session.scalar(
                sa.select(SubscriptionRow)
                .where(SubscriptionRow.id == subscription_id)
                .with_for_update()
            )
        return await self.session.get(SubscriptionRow, subscription_id)

    async def list(
        self, *, channel: str | None = None, department: str | None = None
    ) -> list[SubscriptionRow]:
        query = sa.select(SubscriptionRow).order_by(SubscriptionRow.created_at)
        if channel:
            query = query.where(SubscriptionRow.channel == channel)
        rows = list(await self.session.scalars(query))
        if department is not None:
            rows = [row for row in rows if row.departments == [department]]
        return rows

    async def reset_failures(self, subscription_id: UUID) -> None:
        """A delivery succeeded: the failure count starts again."""
        await self.session.execute(
            sa.update(SubscriptionRow)
            .where(SubscriptionRow.id == subscription_id)
            .values(consecutive_failures=0, failing_since=None)
        )

    async def delete(self, row: SubscriptionRow) -> None:
        await self.session.delete(row)

    async def active_rules(self) -> list[SubscriptionRule]:
        """The active subscriptions, read once per transaction: the consumer plans up
        to ``consumer_group_commit`` events in one, and subscriptions change only in
        transactions of their own."""
        cached = self.session.info.get(_ACTIVE_RULES)
        if cached is None:
            rows = await self.session.execute(_ACTIVE_SUBSCRIPTIONS)
            cached = self.session.info[_ACTIVE_RULES] = [rule_of(row) for row in rows]
        return cached


_ACTIVE_RULES = "tousu_notify_active_rules"

_subscriptions = SubscriptionRow.__table__

#: What the planner filters on, as plain rows (no ORM objects: read in every
#: consumer transaction, so built once here).
_ACTIVE_SUBSCRIPTIONS = sa.select(
    *(
        _subscriptions.c[name]
        for name in (
            "id",
            "channel",
            "recipient_kind",
            "language",
            "event_types",
            "departments",
            "customer_tiers",
            "urgencies",
            "active",
        )
    )
).where(_subscriptions.c.active.is_(True))


def rule_of(row: SubscriptionRow | sa.Row[Any]) -> SubscriptionRule:
    return SubscriptionRule(
        id=row.id,
        channel=DeliveryChannel(row.channel),
        recipient_kind=RecipientKind(row.recipient_kind),
        language=row.language,
        event_types=tuple(row.event_types),
        departments=tuple(row.departments) if row.departments is not None else None,
        customer_tiers=tuple(row.customer_tiers) if row.customer_tiers is not None else None,
        urgencies=tuple(row.urgencies) if row.urgencies is not None else None,
        active=row.active,
    )


class FactsRepository:
    """The complaint facts the planner filters on.

    Alone, one statement per event: an upsert that returns the merged row. For a
    group commit's events, :meth:`hold` reads the group's complaints in one
    statement; :meth:`remember` then merges in memory, and :meth:`write_held`
    writes each remembered row once (the same values as one upsert per event)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._held: dict[UUID, Facts] = {}
        self._remembered: dict[UUID, datetime] = {}

    async def hold(self, complaint_ids: Collection[UUID]) -> None:
        """Read these complaints' facts in one statement (locked where rows lock, as the
        upsert would); later calls about them stay in memory until :meth:`write_held`."""
        wanted = [complaint_id for complaint_id in complaint_ids if complaint_id not in self._held]
        if not wanted:
            return
        statement = _FACTS_OF_MANY_LOCKED if _locks_rows(self.session) else _FACTS_OF_MANY
        found = await self.session.execute(statement, {"complaint_ids": wanted})
        known = {row.complaint_id: _facts_of(row) for row in found}
        for complaint_id in wanted:
            self._held[complaint_id] = known.get(complaint_id, Facts())

    async def get(self, complaint_id: UUID) -> Facts:
        """What is known, without recording anything (empty if nothing is)."""
        held = self._held.get(complaint_id)
        if held is not None:
            return held
        row = (await self.session.execute(_FACTS_OF, {"complaint_id": complaint_id})).first()
        return _facts_of(row) if row is not None else Facts()

    async def remember(self, complaint_id: UUID, at: datetime, **values: str | None) -> Facts:
        """Record what an event says about its complaint (None leaves a value as it
        was) and return everything now known. ``updated_at`` is set on every call, as
        it always was: it says when notify last heard of the complaint."""
        unknown = set(values) - set(_FACT_COLUMNS)
        if unknown:
            raise TypeError(f"not a complaint fact: {sorted(unknown)}")
        held = self._held.get(complaint_id)
        if held is not None:
            merged = replace(held, **{name: v for name, v in values.items() if v is not None})
            self._held[complaint_id] = merged
            self._remembered[complaint_id] = at
            return merged
        params: dict[str, object] = dict.fromkeys(_FACT_COLUMNS)
        params.update(values, complaint_id=complaint_id, updated_at=at)
        result = await self.session.execute(_for_dialect(self.session, _REMEMBER), params)
        return _facts_of(result.one())

    async def write_held(self) -> None:
        """Write every held row :meth:`remember` changed, in one statement."""
        if not self._remembered:
            return
        rows = [
            {**asdict(self._held[complaint_id]), "complaint_id": complaint_id, "updated_at": at}
            for complaint_id, at in self._remembered.items()
        ]
        await self.session.execute(_for_dialect(self.session, _REMEMBER_MANY), rows)
        self._remembered.clear()


def planned_rows(
    event: Event,
    planned: Iterable[PlannedDelivery],
    *,
    reference: str | None,
    mail_domain: str,
    at: datetime,
    skip_reason: str | None = None,
) -> list[dict[str, Any]]:
    """The delivery rows ``planned`` for ``event``, to insert with
    :meth:`DeliveryRepository.insert_planned`. Built inside the event's consumer span:
    each row keeps that trace, so notification.sent/failed continue it when the
    worker sends the row later."""
    traceparent = current_traceparent()
    trace = {"traceparent": traceparent} if traceparent else {}
    status = initial_status(skip_reason).value
    next_attempt_at = None if skip_reason else at
    rows = []
    for delivery in planned:
        message_id = None
        if delivery.channel is not DeliveryChannel.webhook:
            # Customer mail carries the reference so intake threads replies by it.
            prefix = reference or "tousu"
            message_id = f"<{prefix}.{uuid4().hex}@{mail_domain}>"
        rows.append(
            {
                "id": uuid4(),
                "source_event_id": event.id,
                "event_type": event.type,
                "complaint_id": event.complaint_id,
                "reference": reference,
                "template": delivery.template.value,
                "channel": delivery.channel.value,
                "recipient_kind": delivery.recipient_kind.value,
                "recipient_key": delivery.recipient_key,
                "subscription_id": delivery.subscription_id,
                "language": delivery.language,
                "context": {**delivery.context, **trace},
                "message_id": message_id,
                "status": status,
                "attempts": 0,
                "last_error": skip_reason,
                "next_attempt_at": next_attempt_at,
                "created_at": at,
                "updated_at": at,
            }
        )
    return rows


_facts = ComplaintFactsRow.__table__
_deliveries = DeliveryRow.__table__

#: The facts an event may bring (and the planner reads back).
_FACT_COLUMNS = ("reference", "language", "owner_department", "urgency", "customer_tier")


def _param(column: sa.Column[Any]) -> sa.BindParameter[Any]:
    return sa.bindparam(column.key, type_=column.type)


def _facts_of(row: sa.Row[Any]) -> Facts:
    return Facts(
        owner_department=row.owner_department,
        urgency=row.urgency,
        customer_tier=row.customer_tier,
        language=row.language,
        reference=row.reference,
    )


# The planner's statements run for every event: built once here, so each call
# skips building the statement and its cache key (the compiled form is cached by
# the engine). PostgreSQL and SQLite (>= 3.35) both take ON CONFLICT … RETURNING.

_FACTS_OF = sa.select(*(_facts.c[name] for name in _FACT_COLUMNS)).where(
    _facts.c.complaint_id == _param(_facts.c.complaint_id)
)
_FACTS_OF_MANY = sa.select(
    _facts.c.complaint_id, *(_facts.c[name] for name in _FACT_COLUMNS)
).where(_facts.c.complaint_id.in_(sa.bindparam("complaint_ids", expanding=True)))
_FACTS_OF_MANY_LOCKED = _FACTS_OF_MANY.with_for_update()


def _remember_statement(insert: Any, *, returning: bool = True) -> Any:
    """INSERT the facts, or on a known complaint keep each old value the event does
    not restate (COALESCE), and return the merged row (unless ``returning`` is False:
    the held rows' values are merged already)."""
    statement = insert(_facts).values(
        {name: _param(_facts.c[name]) for name in ("complaint_id", *_FACT_COLUMNS, "updated_at")}
    )
    upsert = statement.on_conflict_do_update(
        index_elements=[_facts.c.complaint_id],
        set_={
            **{
                name: sa.func.coalesce(statement.excluded[name], _facts.c[name])
                for name in _FACT_COLUMNS
            },
            "updated_at": statement.excluded.updated_at,
        },
    )
    return upsert.returning(*(_facts.c[name] for name in _FACT_COLUMNS)) if returning else upsert


def _add_planned_statement(insert: Any) -> Any:
    """The deliveries' INSERT, executed with one parameter set per row (SQLAlchemy
    sends them as one multi-row statement); RETURNING names the rows that went in."""
    return (
        insert(_deliveries)
        .on_conflict_do_nothing(index_elements=["source_event_id", "template", "recipient_key"])
        .returning(_deliveries.c.id, _deliveries.c.source_event_id)
    )


_subscriptions_failing = _subscriptions.c.consecutive_failures > 0
#: The columns a loaded delivery has, and those the delivery state machine may change
#: (its record's fields but the key): what :meth:`DeliveryRepository.save` writes back.
_LOADED = tuple(
    field.name for field in fields(LoadedDelivery) if field.name != "subscription_failing"
)
_CHANGING = tuple(name for name in DeliveryRecord.__annotations__ if name != "id")
_DUE = (
    sa.select(
        *(_deliveries.c[name] for name in _LOADED),
        sa.func.coalesce(_subscriptions_failing, False).label("subscription_failing"),
    )
    .select_from(
        _deliveries.outerjoin(_subscriptions, _deliveries.c.subscription_id == _subscriptions.c.id)
    )
    .where(
        sa.or_(
            sa.and_(
                _deliveries.c.status == DeliveryStatus.pending.value,
                _deliveries.c.next_attempt_at <= sa.bindparam("now"),
            ),
            sa.and_(
                _deliveries.c.status == DeliveryStatus.sending.value,
                _deliveries.c.claimed_at < sa.bindparam("stale_before"),
            ),
        )
    )
    .order_by(_deliveries.c.next_attempt_at, _deliveries.c.id)
    .limit(sa.bindparam("limit", type_=sa.Integer, literal_execute=True))
)
_DUE_LOCKED = _DUE.with_for_update(skip_locked=True, of=_deliveries)
_MANY = (
    sa.select(*(_deliveries.c[name] for name in _LOADED))
    .where(_deliveries.c.id.in_(sa.bindparam("ids", expanding=True)))
    .order_by(_deliveries.c.id)
)
_LOCKED_MANY = _MANY.with_for_update()
_SAVE = sa.update(_deliveries).where(_deliveries.c.id == sa.bindparam("b_id"))


def _loaded(row: sa.Row[Any]) -> LoadedDelivery:
    return LoadedDelivery(**row._mapping)


_REMEMBER = {
    "sqlite": _remember_statement(sqlite.insert),
    "postgresql": _remember_statement(postgresql.insert),
}
_REMEMBER_MANY = {
    "sqlite": _remember_statement(sqlite.insert, returning=False),
    "postgresql": _remember_statement(postgresql.insert, returning=False),
}
_ADD_PLANNED = {
    "sqlite": _add_planned_statement(sqlite.insert),
    "postgresql": _add_planned_statement(postgresql.insert),
}
