"""Loading and saving complaints, clocks and rule sets; the only module here that writes SQL.

Every consumed event loads one complaint, changes it and saves it, and reads the
rule set and calendar in force. Those paths run on Core statements built once,
here at import, with ``sa.bindparam`` placeholders: SQLAlchemy then finds their
compiled form by the statement object instead of building a statement, its cache
key and an ORM unit of work per call (the ORM's ``Session.get`` / ``flush`` were
most of routing's CPU per complaint). The repository writes what the domain
model changed and nothing else: it remembers the columns of every complaint it
loaded (:class:`_Stored`), inserts what is new, and updates only the columns
that differ. The rule set and the calendar in force are read as a version
number; their documents are read and compiled once per database and version
(versions are never changed). The admin API's reads and writes of versions and
the scheduler stay on the ORM: they are rare.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, TypeVar, cast
from uuid import UUID
from weakref import WeakKeyDictionary

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tousu_common.domain_errors import Conflict
from tousu_common.events import new_event
from tousu_common.events.catalog import (
    Channel,
    ComplaintCategory,
    CustomerSegment,
    CustomerTier,
    EventPayload,
    SlaClock,
    Urgency,
)
from tousu_common.messaging.outbox import add_event
from tousu_routing.adapters.orm import (
    CalendarVersionRow,
    ComplaintRow,
    RuleSetRow,
    SlaClockRow,
    TriageRecordRow,
    TriageRow,
)
from tousu_routing.domain.clocks import Clock, ClockState
from tousu_routing.domain.company_days import CalendarDocument
from tousu_routing.domain.model import Complaint, Status, Triage, TriageRecord
from tousu_routing.domain.rules import RuleSet, RuleSetDocument
from tousu_routing.domain.sla import Basis, Pause

SOURCE = "tousu/routing"
#: First key of routing's advisory locks on the duplicate-candidate key (the customer).
DUPLICATE_LOCK_NAMESPACE = 0x7052  # "pR"
#: First key of the advisory lock every link made by hand takes (second key 0).
HAND_LINK_LOCK_NAMESPACE = 0x704C  # "pL"


class VersionExists(Conflict):
    """Another writer stored the same rule-set or calendar version first (the
    versions' primary key refused ours); a 409, try again."""

    def __init__(self) -> None:
        super().__init__("another change was saved at the same moment; try again")


async def stage(session: AsyncSession, events: list[EventPayload]) -> None:
    for payload in events:
        await add_event(session, new_event(payload, source=SOURCE))
    events.clear()


def _locks_rows(session: AsyncSession) -> bool:
    """SELECT … FOR UPDATE where it means something (PostgreSQL); SQLite has one writer."""
    return session.bind is not None and session.bind.dialect.name == "postgresql"


# -- the per-event statements, built once -------------------------------------

_complaints = cast(sa.Table, ComplaintRow.__table__)
_triages = cast(sa.Table, TriageRow.__table__)
_clocks = cast(sa.Table, SlaClockRow.__table__)
_records = cast(sa.Table, TriageRecordRow.__table__)
_rule_sets = cast(sa.Table, RuleSetRow.__table__)
_calendars = cast(sa.Table, CalendarVersionRow.__table__)

#: The triage columns read with a complaint, prefixed so they do not shadow its own.
_TRIAGE_FIELDS = (
    "category",
    "urgency",
    "owner_department",
    "quality_report_needed",
    "rule_id",
    "ruleset_version",
    "decided_by",
    "triaged_at",
)
#: A complaint and its triage (if any) in one statement.
_LOAD_COMPLAINT = (
    sa.select(_complaints, *(_triages.c[name].label(f"triage_{name}") for name in _TRIAGE_FIELDS))
    .select_from(
        _complaints.outerjoin(_triages, _triages.c.complaint_id == _complaints.c.complaint_id)
    )
    .where(_complaints.c.complaint_id == sa.bindparam("complaint_id"))
)
# FOR UPDATE OF the complaint only: PostgreSQL refuses to lock the nullable side of
# an outer join (and the triage row was never locked). SQLite renders no FOR UPDATE.
_LOAD_COMPLAINT_LOCKED = _LOAD_COMPLAINT.with_for_update(of=_complaints)
_LOAD_CLOCKS = sa.select(_clocks).where(_clocks.c.complaint_id == sa.bindparam("complaint_id"))
# The scheduler skips locked clocks; if it holds them, we wait and then read what
# it committed (its warning/breach flags are never lost).
_LOAD_CLOCKS_LOCKED = _LOAD_CLOCKS.with_for_update()
_KNOWN = sa.select(_complaints.c.complaint_id).where(
    _complaints.c.complaint_id == sa.bindparam("complaint_id")
)
_CANDIDATES = (
    sa.select(_complaints)
    .where(
        _complaints.c.customer_id == sa.bindparam("customer_id"),
        _complaints.c.complaint_id != sa.bindparam("complaint_id"),
        _complaints.c.open.is_(True),
        _complaints.c.status != Status.duplicate.value,
        _complaints.c.received_at >= sa.bindparam("earliest"),
        _complaints.c.received_at <= sa.bindparam("latest"),
    )
    .order_by(_complaints.c.received_at.desc())
    .limit(50)
)
# INSERT and UPDATE without values: the columns are the keys of the parameters
# given at execution (an UPDATE sets only what changed; SQLAlchemy caches the
# compiled form per set of keys). ``key_*`` parameters name the row.
_INSERT_COMPLAINT = sa.insert(_complaints)
_UPDATE_COMPLAINT = sa.update(_complaints).where(
    _complaints.c.complaint_id == sa.bindparam("key_complaint_id")
)
_INSERT_TRIAGE = sa.insert(_triages)
_UPDATE_TRIAGE = sa.update(_triages).where(
    _triages.c.complaint_id == sa.bindparam("key_complaint_id")
)
_INSERT_CLOCK = sa.insert(_clocks)
_UPDATE_CLOCK = sa.update(_clocks).where(
    _clocks.c.complaint_id == sa.bindparam("key_complaint_id"),
    _clocks.c.clock == sa.bindparam("key_clock"),
)
_INSERT_RECORD = sa.insert(_records)
#: A transaction-scoped advisory lock on two int4 keys (PostgreSQL only).
_ADVISORY_LOCK = sa.text("SELECT pg_advisory_xact_lock(:namespace, :key)")
_NEWEST_RULE_SET = sa.select(sa.func.max(_rule_sets.c.version))
_RULE_SET_DOCUMENT = sa.select(_rule_sets.c.document).where(
    _rule_sets.c.version == sa.bindparam("version")
)
_NEWEST_CALENDAR = sa.select(sa.func.max(_calendars.c.version))
_CALENDAR_DOCUMENT = sa.select(_calendars.c.document).where(
    _calendars.c.version == sa.bindparam("version")
)


@dataclass
class _Stored:
    """A complaint's columns as the database holds them (as :meth:`ComplaintRepository.save`
    writes them, without ``updated_at``), so a save writes only what changed."""

    complaint: dict[str, Any]
    triage: dict[str, Any] | None
    clocks: dict[str, dict[str, Any]] = field(default_factory=dict)


class ComplaintRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        #: Every complaint this repository loaded or saved, by id.
        self._stored: dict[UUID, _Stored] = {}

    async def known(self, complaint_id: UUID) -> bool:
        """Whether routing has the complaint (one indexed lookup, nothing loaded)."""
        found = await self.session.scalar(_KNOWN, {"complaint_id": complaint_id})
        return found is not None

    async def get(self, complaint_id: UUID, *, for_update: bool = False) -> Complaint | None:
        params = {"complaint_id": complaint_id}
        row = (
            await self.session.execute(
                _LOAD_COMPLAINT_LOCKED if for_update else _LOAD_COMPLAINT, params
            )
        ).one_or_none()
        if row is None:
            return None
        clocks = (
            await self.session.execute(_LOAD_CLOCKS_LOCKED if for_update else _LOAD_CLOCKS, params)
        ).all()
        complaint = _complaint(row, _triage(row), clocks)
        self._stored[complaint_id] = _Stored(
            complaint=_complaint_values(complaint),
            triage=(
                _triage_values(complaint, complaint.triage)
                if complaint.triage is not None
                else None
            ),
            clocks={kind.value: _clock_values(clock) for kind, clock in complaint.clocks.items()},
        )
        return complaint

    async def lock_duplicate_key(self, complaint: Complaint) -> None:
        """Serialise duplicate checks of one customer until this transaction ends.

        Two repeats of one complaint handled at the same moment by two replicas
        would each look for the other before either committed, and both be
        triaged. On PostgreSQL a transaction-scoped advisory lock on the
        customer (the duplicate-candidate key) makes the second wait for the
        first's commit; under READ COMMITTED its candidate query, a new
        statement, then sees the first. SQLite has one writer at a time."""
        if complaint.customer_id is None or not _locks_rows(self.session):
            return
        # Two int4 keys: routing's namespace and 31 bits of the customer id (a
        # collision only makes two customers' checks wait for each other).
        key = int.from_bytes(complaint.customer_id.bytes[:4], "big") & 0x7FFFFFFF
        await self.session.execute(
            _ADVISORY_LOCK, {"namespace": DUPLICATE_LOCK_NAMESPACE, "key": key}
        )

    async def lock_hand_links(self) -> None:
        """One link by hand at a time, until this transaction ends (PostgreSQL).

        Two people linking A to B's group and B to A's group at the same moment
        would each see the other complaint still open and unlinked, and leave two
        complaints pointing at each other — both out of every worklist, nobody's
        work. People link rarely; taking turns costs nothing. (Against the rules'
        link, :meth:`lock_duplicate_key` on the linked complaint's customer.)"""
        if _locks_rows(self.session):
            await self.session.execute(
                _ADVISORY_LOCK, {"namespace": HAND_LINK_LOCK_NAMESPACE, "key": 0}
            )

    async def candidates_for_duplicate(
        self, complaint: Complaint, window: timedelta
    ) -> list[Complaint]:
        """Open complaints of the same customer received within ``window`` of it —
        before it, or after it when the later one was handled first (two replicas,
        or a fax whose transcription came after the customer called again)."""
        if complaint.customer_id is None or window <= timedelta(0):
            return []  # an unknown customer, or duplicate linking switched off
        rows = await self.session.execute(
            _CANDIDATES,
            {
                "customer_id": complaint.customer_id,
                "complaint_id": complaint.complaint_id,
                "earliest": complaint.received_at - window,
                "latest": complaint.received_at + window,
            },
        )
        return [_complaint(row, None, ()) for row in rows]

    async def save(self, complaint: Complaint) -> None:
        """Write the complaint, its triage, its clocks and history, and stage its events.

        A complaint this repository did not load is new: its rows are inserted. One
        it loaded gets an UPDATE of the columns that changed, per row, and none when
        nothing did (``updated_at`` moves only with a change)."""
        now = datetime.now(UTC)
        complaint_id = complaint.complaint_id
        key = {"key_complaint_id": complaint_id}
        stored = self._stored.get(complaint_id)
        values = _complaint_values(complaint)
        if stored is None:
            await self.session.execute(
                _INSERT_COMPLAINT, {"complaint_id": complaint_id, **values, "updated_at": now}
            )
            stored = self._stored[complaint_id] = _Stored(complaint=values, triage=None)
        else:
            await self._update(_UPDATE_COMPLAINT, stored.complaint, values, key, now)
        if complaint.triage is not None:
            triage = _triage_values(complaint, complaint.triage)
            if stored.triage is None:
                await self.session.execute(_INSERT_TRIAGE, {"complaint_id": complaint_id, **triage})
                stored.triage = triage
            else:
                await self._update(_UPDATE_TRIAGE, stored.triage, triage, key, None)
        new_clocks: list[dict[str, Any]] = []
        for clock in complaint.clocks.values():
            kind = clock.kind.value
            clock_values = _clock_values(clock)
            before = stored.clocks.get(kind)
            if before is None:
                new_clocks.append(
                    {"complaint_id": complaint_id, "clock": kind, **clock_values, "updated_at": now}
                )
                stored.clocks[kind] = clock_values
            else:
                await self._update(
                    _UPDATE_CLOCK, before, clock_values, {**key, "key_clock": kind}, now
                )
        if new_clocks:
            await self.session.execute(_INSERT_CLOCK, new_clocks)
        if complaint.records:
            await self.session.execute(
                _INSERT_RECORD, [_record_values(complaint_id, r) for r in complaint.records]
            )
            complaint.records.clear()
        await stage(self.session, complaint.events)

    async def _update(
        self,
        statement: sa.Update,
        stored: dict[str, Any],
        values: dict[str, Any],
        key: dict[str, Any],
        now: datetime | None,
    ) -> None:
        """UPDATE the columns of ``values`` that differ from ``stored`` (with
        ``updated_at`` when the table has one), then remember them as stored."""
        changed = {name: value for name, value in values.items() if stored[name] != value}
        if not changed:
            return
        params = {**changed, **key}
        if now is not None:
            params["updated_at"] = now
        await self.session.execute(statement, params)
        stored.update(changed)

    async def history(self, complaint_id: UUID) -> list[TriageRecordRow]:
        return list(
            (
                await self.session.scalars(
                    sa.select(TriageRecordRow)
                    .where(TriageRecordRow.complaint_id == complaint_id)
                    .order_by(TriageRecordRow.id)
                )
            ).all()
        )


class ClockRepository:
    """The scheduler's clocks: the ones due, and their new state (ORM; once per poll)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def due(self, now: datetime, limit: int) -> list[tuple[SlaClockRow, Clock]]:
        """Running clocks with a warning or breach due by ``now``, locked for this
        transaction; on PostgreSQL rows another replica holds are skipped."""
        query = (
            sa.select(SlaClockRow)
            .where(SlaClockRow.next_check_at <= now)
            .order_by(SlaClockRow.next_check_at)
            .limit(limit)
        )
        if _locks_rows(self.session):
            query = query.with_for_update(skip_locked=True)
        rows = (await self.session.scalars(query)).all()
        return [(row, _clock(row)) for row in rows]

    async def update(self, row: SlaClockRow, clock: Clock) -> None:
        for name, value in _clock_values(clock).items():
            setattr(row, name, value)
        row.updated_at = datetime.now(UTC)
        await self.session.flush()
        await stage(self.session, clock.events)


def _complaint_values(complaint: Complaint) -> dict[str, Any]:
    """The complaint's columns (but its key and ``updated_at``) as they are written."""
    return {
        "reference": complaint.reference,
        "channel": complaint.channel.value,
        "received_at": complaint.received_at,
        "title": complaint.title,
        "description": complaint.description,
        "product_model": complaint.product_model,
        "serial_number": complaint.serial_number,
        "customer_id": complaint.customer_id,
        "customer_tier": complaint.customer_tier.value,
        "customer_segment": (
            complaint.customer_segment.value if complaint.customer_segment else None
        ),
        "key_account": complaint.key_account,
        "attachment_count": complaint.attachment_count,
        "status": complaint.status.value,
        "open": complaint.open,
        "duplicate_of": complaint.duplicate_of,
        "provisional_urgency": complaint.provisional_urgency.value,
        "received_event_id": complaint.received_event_id,
    }


def _triage_values(complaint: Complaint, triage: Triage) -> dict[str, Any]:
    """The triage row's columns but its key."""
    return {
        "reference": complaint.reference,
        "category": triage.category.value,
        "urgency": triage.urgency.value,
        "owner_department": triage.owner_department,
        "rule_id": triage.rule_id,
        "ruleset_version": triage.ruleset_version,
        "decided_by": triage.decided_by,
        "triaged_at": triage.triaged_at,
        "received_event_id": complaint.received_event_id,
        "quality_report_needed": triage.quality_report_needed,
    }


def _record_values(complaint_id: UUID, record: TriageRecord) -> dict[str, Any]:
    return {
        "complaint_id": complaint_id,
        "kind": record.kind.value,
        "category": record.category.value,
        "urgency": record.urgency.value,
        "owner_department": record.owner_department,
        "quality_report_needed": record.quality_report_needed,
        "rule_id": record.rule_id,
        "ruleset_version": record.ruleset_version,
        "decided_by": record.decided_by,
        "reason": record.reason,
        "recorded_at": record.recorded_at,
    }


def _clock_values(clock: Clock) -> dict[str, Any]:
    """The clock row's columns but its key and ``updated_at``."""
    return {
        "reference": clock.reference,
        "urgency": clock.urgency.value,
        "customer_tier": clock.customer_tier.value,
        "key_account": clock.key_account,
        "owner_department": clock.owner_department,
        "basis": clock.basis.value,
        "budget_seconds": clock.budget_seconds,
        "started_at": clock.started_at,
        "pauses": [
            [p.start.isoformat(), p.end.isoformat() if p.end else None] for p in clock.pauses
        ],
        "state": clock.state.value,
        "stopped_at": clock.stopped_at,
        "due_at": clock.due_at,
        "warn_at": clock.warn_at,
        "warning_sent_at": clock.warning_sent_at,
        "breached_at": clock.breached_at,
        "next_check_at": clock.next_check_at,
        "calendar_version": clock.calendar_version,
        "previous_runs": list(clock.previous_runs),
    }


def _clock(row: Any) -> Clock:
    """A clock from its row (an ORM :class:`SlaClockRow` or a Core row of sla_clocks)."""
    return Clock(
        complaint_id=row.complaint_id,
        reference=row.reference,
        kind=SlaClock(row.clock),
        urgency=Urgency(row.urgency),
        customer_tier=CustomerTier(row.customer_tier),
        key_account=row.key_account,
        owner_department=row.owner_department,
        basis=Basis(row.basis),
        budget_seconds=row.budget_seconds,
        started_at=row.started_at,
        pauses=[
            Pause(
                datetime.fromisoformat(start),
                datetime.fromisoformat(end) if end else None,
            )
            for start, end in row.pauses
        ],
        state=ClockState(row.state),
        stopped_at=row.stopped_at,
        due_at=row.due_at,
        warn_at=row.warn_at,
        warning_sent_at=row.warning_sent_at,
        breached_at=row.breached_at,
        calendar_version=row.calendar_version or 0,
        previous_runs=list(row.previous_runs or []),
    )


def _triage(row: sa.Row[Any]) -> Triage | None:
    """The triage read with a complaint (:data:`_LOAD_COMPLAINT`), if it has one."""
    if row.triage_category is None:  # no triage row: the outer join's columns are NULL
        return None
    return Triage(
        category=ComplaintCategory(row.triage_category),
        urgency=Urgency(row.triage_urgency),
        owner_department=row.triage_owner_department,
        quality_report_needed=row.triage_quality_report_needed,
        rule_id=row.triage_rule_id,
        ruleset_version=row.triage_ruleset_version,
        decided_by=row.triage_decided_by,
        triaged_at=row.triage_triaged_at,
    )


def _complaint(row: sa.Row[Any], triage: Triage | None, clocks: Sequence[Any]) -> Complaint:
    return Complaint(
        complaint_id=row.complaint_id,
        reference=row.reference,
        channel=Channel(row.channel),
        received_at=row.received_at,
        title=row.title,
        description=row.description,
        product_model=row.product_model,
        serial_number=row.serial_number,
        customer_id=row.customer_id,
        customer_tier=CustomerTier(row.customer_tier),
        customer_segment=CustomerSegment(row.customer_segment) if row.customer_segment else None,
        key_account=row.key_account,
        attachment_count=row.attachment_count,
        status=Status(row.status),
        open=row.open,
        duplicate_of=row.duplicate_of,
        provisional_urgency=Urgency(row.provisional_urgency),
        received_event_id=row.received_event_id,
        triage=triage,
        clocks={SlaClock(c.clock): _clock(c) for c in clocks},
    )


_V = TypeVar("_V")


def _per_database(
    cache: WeakKeyDictionary[Any, dict[int, _V]], session: AsyncSession
) -> dict[int, _V]:
    """``cache``'s versions for the database ``session`` works on.

    Keyed by the session's engine (held weakly: a disposed engine's entries go
    with it), because tests run several databases in one process, which may hold
    different documents under the same version number."""
    versions = cache.setdefault(session.get_bind(), {})
    if len(versions) > 32:  # versions come by the handful; never grow without bound
        versions.clear()
    return versions


#: The rule set and calendar a transaction read first (``session.info`` keys): the
#: newest version numbers are read once per transaction, not once per event.
_CURRENT_RULE_SET = "tousu_routing_current_rule_set"
_LATEST_CALENDAR = "tousu_routing_latest_calendar"

#: Compiled rule sets and calendar documents, per engine and version.
_rule_set_versions: WeakKeyDictionary[Any, dict[int, RuleSet]] = WeakKeyDictionary()
_calendar_versions: WeakKeyDictionary[Any, dict[int, CalendarDocument]] = WeakKeyDictionary()


class RuleSetRepository:
    """Versions of the triage rules. A version is never changed once written."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def latest_row(self) -> RuleSetRow | None:
        return (
            await self.session.scalars(
                sa.select(RuleSetRow).order_by(RuleSetRow.version.desc()).limit(1)
            )
        ).one_or_none()

    async def current(self, seed: RuleSetDocument) -> RuleSet:
        """The newest version; the first call on an empty database stores ``seed``
        (the shipped rules file) as version 1. Needs a write transaction.

        Reads only the newest version number, once per transaction (a group commit's
        complaints are all triaged by the version its first one read); its document
        is read and compiled the first time this database shows that version."""
        known = self.session.info.get(_CURRENT_RULE_SET)
        if known is not None:
            return cast(RuleSet, known)
        version = await self.session.scalar(_NEWEST_RULE_SET)
        if version is None:
            row = await self.add(seed, by="system", note="seeded from the rules file")
            # Not remembered per database: this transaction may still roll back.
            return compiled(row.version, row.document)
        versions = _per_database(_rule_set_versions, self.session)
        ruleset = versions.get(version)
        if ruleset is None:
            document = await self.session.scalar(_RULE_SET_DOCUMENT, {"version": version})
            ruleset = versions[version] = compiled(version, document)
        self.session.info[_CURRENT_RULE_SET] = ruleset
        return ruleset

    async def get(self, version: int) -> RuleSetRow | None:
        return await self.session.get(RuleSetRow, version)

    async def add(self, document: RuleSetDocument, *, by: str, note: str) -> RuleSetRow:
        self.session.info.pop(_CURRENT_RULE_SET, None)
        latest = await self.latest_row()
        row = RuleSetRow(
            version=(latest.version + 1) if latest else 1,
            document=document.model_dump(mode="json", exclude_none=True),
            created_at=datetime.now(UTC),
            created_by=by,
            note=note,
        )
        self.session.add(row)
        await self.session.flush()
        return row

    async def list(self, limit: int, offset: int) -> tuple[list[RuleSetRow], int]:
        total = await self.session.scalar(sa.select(sa.func.count()).select_from(RuleSetRow))
        rows = (
            await self.session.scalars(
                sa.select(RuleSetRow)
                .order_by(RuleSetRow.version.desc())
                .limit(limit)
                .offset(offset)
            )
        ).all()
        return list(rows), int(total or 0)

    async def usage(self, versions: list[int]) -> dict[int, int]:
        """How many triage decisions each version made."""
        labels = [str(v) for v in versions]
        result = await self.session.execute(
            sa.select(TriageRecordRow.ruleset_version, sa.func.count())
            .where(
                TriageRecordRow.ruleset_version.in_(labels),
                TriageRecordRow.kind == "rules",
            )
            .group_by(TriageRecordRow.ruleset_version)
        )
        return {int(version): count for version, count in result.all()}


def compiled(version: int, document: dict[str, Any]) -> RuleSet:
    return _compiled(str(version), json.dumps(document, sort_keys=True, ensure_ascii=False))


@lru_cache(maxsize=32)
def _compiled(version: str, document_json: str) -> RuleSet:
    # Versions are immutable, but two databases (tests) may hold different
    # documents under the same number: the document is part of the key.
    return RuleSet(version, RuleSetDocument.model_validate_json(document_json))


class CalendarRepository:
    """Versions of the company calendar. A version is never changed once written;
    version 0 (an empty database) is no company days at all."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def latest_row(self) -> CalendarVersionRow | None:
        return (
            await self.session.scalars(
                sa.select(CalendarVersionRow).order_by(CalendarVersionRow.version.desc()).limit(1)
            )
        ).one_or_none()

    async def latest(self) -> tuple[int, CalendarDocument]:
        """The newest version and its document: only the number is read, the document
        the first time this database shows that version. The same document object
        comes back for the same database and version (callers may cache by it). The
        number is read once per transaction, as the rules' is."""
        known = self.session.info.get(_LATEST_CALENDAR)
        if known is None:
            known = self.session.info[_LATEST_CALENDAR] = await self._read_latest()
        return cast(tuple[int, CalendarDocument], known)

    async def _read_latest(self) -> tuple[int, CalendarDocument]:
        version = await self.session.scalar(_NEWEST_CALENDAR)
        if version is None:
            return 0, CalendarDocument()
        versions = _per_database(_calendar_versions, self.session)
        document = versions.get(version)
        if document is None:
            stored = await self.session.scalar(_CALENDAR_DOCUMENT, {"version": version})
            # Through JSON, as the API stored it (dates as ISO strings).
            document = versions[version] = CalendarDocument.model_validate_json(json.dumps(stored))
        return version, document

    async def get(self, version: int) -> CalendarVersionRow | None:
        return await self.session.get(CalendarVersionRow, version)

    async def add(self, document: CalendarDocument, *, by: str, note: str) -> CalendarVersionRow:
        self.session.info.pop(_LATEST_CALENDAR, None)
        latest = await self.latest_row()
        row = CalendarVersionRow(
            version=(latest.version + 1) if latest else 1,
            document=document.model_dump(mode="json"),
            created_at=datetime.now(UTC),
            created_by=by,
            note=note,
        )
        self.session.add(row)
        await self.session.flush()
        return row

    async def list(self, limit: int, offset: int) -> tuple[list[CalendarVersionRow], int]:
        total = await self.session.scalar(
            sa.select(sa.func.count()).select_from(CalendarVersionRow)
        )
        rows = (
            await self.session.scalars(
                sa.select(CalendarVersionRow)
                .order_by(CalendarVersionRow.version.desc())
                .limit(limit)
                .offset(offset)
            )
        ).all()
        return list(rows), int(total or 0)

    async def usage(self, versions: list[int]) -> dict[int, int]:
        """How many clocks' deadlines each version computed (as they stand now)."""
        result = await self.session.execute(
            sa.select(SlaClockRow.calendar_version, sa.func.count())
            .where(SlaClockRow.calendar_version.in_(versions))
            .group_by(SlaClockRow.calendar_version)
        )
        return {int(version): count for version, count in result.all()}
