"""What routing writes per event: only the rows and columns an event changed, and
the rules and calendar of the database at hand (versions are read per database,
their documents compiled once)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tousu_common.db import Database
from tousu_common.events import new_event
from tousu_common.events.catalog import FirstResponseRecorded
from tousu_common.migrations import upgrade
from tousu_common.testing.statements import sql_run
from tousu_routing.adapters.orm import ComplaintRow, SlaClockRow, TriageRow
from tousu_routing.adapters.unit_of_work import new_version
from tousu_routing.domain.company_days import CalendarDocument, CompanyDay, DayKind

from .conftest import MONDAY_10, Desk, FakeTime, received, settings_for
from .test_desk import case_fields, load

pytestmark = pytest.mark.integration


@contextmanager
def writes(db: Database) -> Iterator[list[str]]:
    """The INSERT / UPDATE / DELETE statements run on ``db`` inside the block (filled
    in when it ends)."""
    seen: list[str] = []
    with sql_run(db) as ran:
        yield seen
    seen.extend(s for s in ran if s.split(" ", 1)[0].upper() in {"INSERT", "UPDATE", "DELETE"})


async def _rows(db: Database) -> tuple[list[Any], list[Any], list[Any]]:
    async with db.sessions() as session:
        complaints = (await session.execute(sa.select(ComplaintRow.__table__))).all()
        triages = (await session.execute(sa.select(TriageRow.__table__))).all()
        clocks = (
            await session.execute(sa.select(SlaClockRow.__table__).order_by(SlaClockRow.clock))
        ).all()
    return complaints, triages, clocks


async def test_a_stop_updates_its_clock_alone_and_a_repeat_writes_nothing(
    desk: Desk, db: Database, time: FakeTime
) -> None:
    payload = received()
    await desk.deliver(payload)
    complaints, triages, clocks = await _rows(db)

    stop = FirstResponseRecorded(**case_fields(payload.complaint_id, time.advance(hours=1)))
    with writes(db) as written:
        await desk.deliver(stop)
    assert len(written) == 1 and written[0].startswith("UPDATE sla_clocks SET"), written
    after = await _rows(db)
    assert after[0] == complaints and after[1] == triages  # not even updated_at moved
    changed = {
        name
        for before, now in zip(clocks, after[2], strict=True)
        for name in before._fields
        if getattr(before, name) != getattr(now, name)
    }
    assert changed == {"state", "stopped_at", "next_check_at", "updated_at"}
    assert (await load(db, payload.complaint_id)).clocks["first_response"].stopped_at == stop.at

    with writes(db) as written:
        await desk.deliver(stop)  # re-published under another event id
    assert written == []
    assert await _rows(db) == after


async def test_a_new_complaint_is_inserted_without_reading_it_back(
    desk: Desk, db: Database
) -> None:
    await desk.deliver(received())  # the first one seeds the rules (version 1)
    with writes(db) as written:
        await desk.deliver(received())
    tables = sorted(statement.split()[2] for statement in written)
    assert tables == ["complaints", "outbox", "sla_clocks", "triage_records", "triages"]


async def _database(path: Path) -> Database:
    url = f"sqlite+aiosqlite:///{path}"
    await asyncio.to_thread(upgrade, "tousu_routing", url)
    return Database(url)


async def test_two_databases_keep_their_own_rules_and_calendar_under_the_same_versions(
    tmp_path: Path, jwt_secret: str
) -> None:
    """Tests run several databases in one process: version 1 of one database's
    rules or calendar must never be taken for version 1 of another's."""
    leak_owner = {"first": "quality", "second": "supply"}
    desks: dict[str, Desk] = {}
    for name, owner in leak_owner.items():
        rules = tmp_path / f"{name}-rules.yaml"
        rules.write_text(
            "rules:\n  - id: leak\n    when: {any: [漏油]}\n"
            f"    then: {{category: product_quality, urgency: important,"
            f" owner_department: {owner}}}\n",
            encoding="utf-8",
        )
        db = await _database(tmp_path / f"{name}.db")
        settings = settings_for(db.url, jwt_secret, rules_file=rules)
        desks[name] = Desk(db, settings, FakeTime(MONDAY_10 + timedelta(minutes=1)))
    # Version 1 of the first database's calendar closes the plant on the day the
    # complaint comes in; version 1 of the second's closes nothing.
    shutdown = CompanyDay(date=date(2026, 11, 23), kind=DayKind.holiday, note="停产检修")
    for name, days in (("first", [shutdown]), ("second", [])):
        async with new_version(desks[name].db) as uow:
            row = await uow.calendars.add(CalendarDocument(days=days), by="admin", note=name)
        assert row.version == 1
    try:
        complaints = {name: received() for name in desks}
        for name in ("first", "second", "first", "second"):
            await desks[name].deliver(received())  # each database's versions in turn
        for name, desk in desks.items():
            await desk.deliver(complaints[name])
        loaded = {
            name: await load(desk.db, complaints[name].complaint_id) for name, desk in desks.items()
        }
    finally:
        for desk in desks.values():
            await desk.db.dispose()
    for name, complaint in loaded.items():
        assert complaint.triage is not None
        assert complaint.triage.owner_department == leak_owner[name]
        assert complaint.triage.ruleset_version == "1"
        assert {c.calendar_version for c in complaint.clocks.values()} == {1}
    first, second = (loaded[n].clocks["first_response"].due_at for n in ("first", "second"))
    assert first is not None and second is not None
    assert first > second  # the shutdown day does not count in the first database


async def test_a_group_of_complaints_reads_the_newest_rules_and_calendar_once(
    desk: Desk, db: Database
) -> None:
    """A group commit's events share one transaction: the newest rule set and
    calendar versions are read once for all of them, not once per event."""
    await desk.deliver(received())  # the first one seeds the rules (version 1)
    async with new_version(db) as uow:
        await uow.calendars.add(CalendarDocument(days=[]), by="admin", note="v1")
    group = [new_event(received(), source="tousu/intake") for _ in range(3)]
    with sql_run(db) as ran:
        async with db.transaction() as session:
            for event in group:
                await desk.handlers[event.type](session, event)
    newest = [s for s in ran if s.startswith("SELECT max(") and "version" in s]
    assert sorted(s.split("FROM ")[1] for s in newest) == ["calendar_versions", "rule_sets"], ran
    for event in group:
        complaint = await load(db, event.complaint_id)
        assert complaint.triage is not None and complaint.triage.ruleset_version == "1"
        assert {clock.calendar_version for clock in complaint.clocks.values()} == {1}
