"""The console bench's seed (bench/seed_complaints.py) writes data the four services
agree on, so bench_console.py cannot rot silently: 200 complaints into freshly
migrated SQLite databases, read back with SQL (nothing started)."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tousu_common.devstack import Stack

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

from seed_complaints import seed, sqlite_urls  # noqa: E402

pytestmark = pytest.mark.integration

COMPLAINTS = 200
NOW = datetime(2027, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    var = tmp_path_factory.mktemp("seed")
    Stack(var_dir=var).migrate_all()
    data = asyncio.run(seed(sqlite_urls(var), COMPLAINTS, customers=40, now=NOW))
    dbs = {
        s: sqlite3.connect(var / f"{s}.db")
        for s in ("intake", "routing", "rectification", "notify")
    }
    yield data, dbs
    for db in dbs.values():
        db.close()


def ids(db: sqlite3.Connection, sql: str) -> set[str]:
    return {str(row[0]).replace("-", "") for row in db.execute(sql)}


def test_every_service_has_one_row_per_complaint_with_the_same_ids_and_references(seeded) -> None:  # type: ignore[no-untyped-def]
    data, dbs = seeded
    expected = {c.hex for c in data.complaint_ids}
    assert len(expected) == COMPLAINTS
    assert ids(dbs["intake"], "select id from complaints") == expected
    assert ids(dbs["routing"], "select complaint_id from complaints") == expected
    assert ids(dbs["routing"], "select complaint_id from triages") == expected
    assert ids(dbs["rectification"], "select complaint_id from cases") == expected
    assert ids(dbs["notify"], "select complaint_id from deliveries") == expected
    references = {
        s: {r for (r,) in dbs[s].execute(sql)}
        for s, sql in (
            ("intake", "select reference from complaints"),
            ("routing", "select reference from triages"),
            ("rectification", "select reference from cases"),
            ("notify", "select reference from deliveries"),
        )
    }
    assert references["intake"] == set(data.references)
    assert len(set(data.references)) == COMPLAINTS
    assert all(refs == references["intake"] for refs in references.values())
    assert dbs["routing"].execute("select count(*) from sla_clocks").fetchone() == (2 * COMPLAINTS,)


def test_each_complaint_has_its_customers_phone_and_the_acknowledgement_its_event(seeded) -> None:  # type: ignore[no-untyped-def]
    _, dbs = seeded
    intake = dbs["intake"]
    orphans = intake.execute(
        "select count(*) from complaints c left join customer_contacts k"
        " on k.customer_id = c.customer_id and k.kind = 'phone' and k.value = c.phone_key"
        " where k.id is null"
    ).fetchone()
    assert orphans == (0,)
    # Some customers call many times, most few: a realistic spread.
    per_customer = Counter(r[0] for r in intake.execute("select customer_id from complaints"))
    assert max(per_customer.values()) >= 10 and len(per_customer) >= 20
    # One event, one id: notify's acknowledgement answers routing's complaint.received.
    routing_events = {
        (str(c).replace("-", ""), e)
        for c, e in dbs["routing"].execute("select complaint_id, received_event_id from complaints")
    }
    notify_events = {
        (str(c).replace("-", ""), e)
        for c, e in dbs["notify"].execute(
            "select complaint_id, source_event_id from deliveries"
            " where template = 'acknowledgement' and status = 'sent'"
        )
    }
    assert routing_events == notify_events
    # Intake's counter carries on after the seeded numbers.
    (last,) = intake.execute("select max(last_value) from reference_counters").fetchone()
    assert (
        last >= 1 and intake.execute("select count(*) from reference_counters").fetchone()[0] >= 1
    )


def test_open_and_closed_agree_across_services_and_some_clocks_are_breached(seeded) -> None:  # type: ignore[no-untyped-def]
    _, dbs = seeded
    intake_open = ids(dbs["intake"], "select id from complaints where status = 'received'")
    routing_open = ids(dbs["routing"], "select complaint_id from complaints where open")
    cases_open = ids(
        dbs["rectification"],
        "select complaint_id from cases where status not in ('closed', 'withdrawn')",
    )
    assert intake_open and intake_open == routing_open == cases_open
    withdrawn = ids(dbs["intake"], "select id from complaints where status = 'withdrawn'")
    assert withdrawn == ids(
        dbs["rectification"], "select complaint_id from cases where status = 'withdrawn'"
    )
    breached = ids(
        dbs["routing"],
        "select complaint_id from sla_clocks where state = 'running' and breached_at is not null",
    )
    assert breached and breached <= routing_open
    # Nothing for the scheduler to catch up on: a running clock checks in the future.
    (due,) = (
        dbs["routing"]
        .execute(
            "select count(*) from sla_clocks where next_check_at <= ?",
            (NOW.replace(tzinfo=None).isoformat(sep=" "),),
        )
        .fetchone()
    )
    assert due == 0
    departments = {r[0] for r in dbs["routing"].execute("select owner_department from triages")}
    assert len(departments) >= 6
