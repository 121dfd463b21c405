"""The read model without a broker: any arrival order gives the same digest, a
redelivered event changes nothing, and publishing is once per period even when
two replicas try at the same moment (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from tousu_common.db import Database
from tousu_common.events import Event
from tousu_common.messaging.tables import outbox
from tousu_common.testing.statements import sql_run
from tousu_notify.adapters.digest_readmodel import EVENT_TYPES, apply_event, apply_events
from tousu_notify.config import Settings
from tousu_notify.domain.digest_periods import Period
from tousu_notify.handlers.digests import Digests

from . import reference
from .conftest import UNITS
from .generator import Generated

pytestmark = pytest.mark.integration


async def apply_all(db: Database, events: list[Event], chunk: int = 200) -> None:
    wanted = [event for event in events if event.type in EVENT_TYPES]
    for start in range(0, len(wanted), chunk):
        async with db.transaction() as session:
            for event in wanted[start : start + chunk]:
                await apply_event(session, event)


async def test_events_in_reverse_order_give_the_reference_numbers(
    generated: Generated, notify_db: Database, notify_settings: Settings
) -> None:
    # The worst order there is: every closed before its received, every
    # verification before its notice, every reopen before its close.
    events = generated.only_events
    await apply_all(notify_db, events[::-1])
    digests = Digests(notify_db, notify_settings)
    for kind, label in (("month", "2026-09"), ("week", "2026-W40")):
        numbers = await digests.compute(Period.parse(kind, label, "Asia/Shanghai"))
        expected = reference.digest(events, kind, label, units=UNITS)
        for section in expected:
            assert numbers[section] == expected[section], (label, section)


@pytest.mark.parametrize("order", ["as generated", "reversed"])
async def test_events_applied_in_groups_give_the_reference_numbers_with_few_statements(
    generated: Generated, notify_db: Database, notify_settings: Settings, order: str
) -> None:
    """The consumer hands the read model each group commit whole (``apply_events``):
    the same digests as event by event, with each group's rows read in one statement
    per table and each row written once."""
    events = [event for event in generated.only_events if event.type in EVENT_TYPES]
    if order == "reversed":
        events = events[::-1]
    size = 50
    with sql_run(notify_db) as ran:
        for start in range(0, len(events), size):
            async with notify_db.transaction() as session:
                await apply_events(session, events[start : start + size])
    groups = -(-len(events) // size)
    selects = [statement for statement in ran if statement.lstrip().startswith("SELECT")]
    assert len(selects) <= 2 * groups  # digest_complaints and digest_rectifications
    writes = [s for s in ran if s.lstrip().startswith(("INSERT INTO digest_c", "UPDATE"))]
    assert len(writes) < len(events) / 4  # one per set of changed columns, not per event
    digests = Digests(notify_db, notify_settings)
    for kind, label in (("month", "2026-09"), ("week", "2026-W40")):
        numbers = await digests.compute(Period.parse(kind, label, "Asia/Shanghai"))
        expected = reference.digest(generated.only_events, kind, label, units=UNITS)
        for section in expected:
            assert numbers[section] == expected[section], (order, label, section)


async def test_two_replicas_publish_a_period_once(
    generated: Generated, notify_db: Database, notify_settings: Settings, database_url: str
) -> None:
    await apply_all(notify_db, generated.only_events)
    other = Database(database_url)  # a second replica: its own engine and pool
    try:
        period = Period.parse("month", "2026-10", "Asia/Shanghai")
        now = datetime(2026, 11, 1, 1, tzinfo=UTC)
        results = await asyncio.gather(
            Digests(notify_db, notify_settings).publish(period, now=now),
            Digests(other, notify_settings).publish(period, now=now),
        )
        assert sorted(results) == [False, True]
        assert await Digests(other, notify_settings).publish(period, now=now) is False
    finally:
        await other.dispose()
    async with notify_db.sessions() as session:
        published = await session.scalar(
            sa.select(sa.func.count())
            .select_from(outbox)
            .where(outbox.c.event_type == "digest.published")
        )
    assert published == 1


def test_period_boundaries_are_local_midnights() -> None:
    week = Period.parse("week", "2026-W47", "Asia/Shanghai")
    assert week.start.isoformat() == "2026-11-16" and week.last_day.isoformat() == "2026-11-22"
    assert week.start_utc == datetime(2026, 11, 15, 16, tzinfo=UTC)
    assert week.previous().label == "2026-W46"
    first = Period.parse("week", "2026-W01", "Asia/Shanghai")
    assert first.start.isoformat() == "2025-12-29" and first.previous().label == "2025-W52"
    assert Period.parse("week", "2026-W53", "Asia/Shanghai").label == "2026-W53"
    month = Period.parse("month", "2026-01", "Asia/Shanghai")
    assert month.previous().label == "2025-12" and month.end.isoformat() == "2026-02-01"
    assert [p.label for p in month.recent(3)] == ["2025-11", "2025-12", "2026-01"]


@pytest.mark.parametrize(
    ("now", "week", "month"),
    [
        # Monday 2 Nov 2026, 07:59 in Shanghai: last week is not due yet
        (datetime(2026, 11, 1, 23, 59, tzinfo=UTC), "2026-W43", "2026-10"),
        (datetime(2026, 11, 2, 0, 0, tzinfo=UTC), "2026-W44", "2026-10"),
        # Sunday 1 Nov 07:00 local: October not due yet, September is the latest
        (datetime(2026, 10, 31, 23, 0, tzinfo=UTC), "2026-W43", "2026-09"),
    ],
)
def test_the_latest_due_week_and_month(now: datetime, week: str, month: str) -> None:
    from tousu_notify.entrypoints.digest_scheduler import due_periods

    settings = Settings(jwt_secret="x" * 40, digest_publish_time="08:00")
    assert [p.label for p in due_periods(now, settings)] == [week, month]
