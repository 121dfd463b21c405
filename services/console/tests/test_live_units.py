"""Live pages without the stack: who sees which change, the hub's replay, the feed
turning records into changes, the extension store, the SSE frame."""

from __future__ import annotations

import asyncio
import importlib
import json
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
import sqlalchemy as sa
from aiokafka import ConsumerRecord
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from tousu_common.db import Database
from tousu_common.messaging.tables import messaging_metadata
from tousu_common.migrations import downgrade, upgrade
from tousu_common.settings import ServiceSettings
from tousu_console.adapters.live_hub import RINGING_SHOWN_FOR_S, Change, LiveHub
from tousu_console.adapters.repository import SessionStore
from tousu_console.api.live import _last_id, frame
from tousu_console.domain.sessions import Session
from tousu_console.domain.telephony import hide_number, parse_extension
from tousu_console.domain.visibility import may_see
from tousu_console.entrypoints.live_feed import LiveFeed


@pytest.fixture
def service_package() -> str:
    return "tousu_console"


def change(**fields: object) -> Change:
    base: dict[str, object] = {"id": 1, "type": "case.opened", "complaint_id": "c1"}
    base.setdefault("department", None)
    return Change(**{**base, **fields})  # type: ignore[arg-type]


# -- visibility -----------------------------------------------------------------------


def sees(c: Change, roles: tuple[str, ...], department: str | None, subject: str = "u") -> bool:
    return may_see(c, subject=subject, roles=roles, department=department)


@pytest.mark.parametrize("role", ["agent", "csc", "quality", "supply", "manager", "admin"])
def test_roles_that_read_every_complaint_get_every_complaint_change(role: str) -> None:
    assert sees(change(department="sales"), (role,), "csc")
    assert sees(change(department=None), (role,), None)


def test_a_department_gets_only_its_own_department_s_changes() -> None:
    assert sees(change(department="technical"), ("department",), "technical")
    assert not sees(change(department="logistics"), ("department",), "technical")
    assert not sees(change(department=None), ("department",), "technical")
    assert not sees(change(department="technical"), ("department",), None)


def test_nobody_without_a_reading_role_gets_anything() -> None:
    assert not sees(change(department="sales"), (), "sales")
    assert not sees(change(department="sales"), ("gateway", "service"), "sales")


def test_a_change_addressed_to_a_person_goes_to_that_person_only() -> None:
    call = change(type="call", complaint_id=None, target_subject="agent-7", caller_number="1")
    assert sees(call, ("agent",), "csc", subject="agent-7")
    assert sees(call, ("department",), "sales", subject="agent-7")
    assert not sees(call, ("agent",), "csc", subject="agent-8")
    assert not sees(call, ("admin",), None, subject="admin")
    assert not sees(change(type="call", complaint_id=None), ("admin",), None)


def test_a_department_user_also_gets_what_is_addressed_to_them() -> None:
    addressed = change(department="logistics", target_subject="sales-1")
    assert sees(addressed, ("department",), "sales", subject="sales-1")


# -- the hub ----------------------------------------------------------------------------


def test_since_replays_what_came_after_the_last_id_in_order() -> None:
    hub = LiveHub(replay=10)
    ids = [hub.publish("case.opened", f"c{i}", "sales").id for i in range(5)]
    assert [c.id for c in hub.since(ids[1])] == ids[2:]
    assert list(hub.since(ids[-1])) == []
    assert [c.id for c in hub.since(0)] == ids


def test_the_hub_keeps_only_the_most_recent_changes() -> None:
    hub = LiveHub(replay=3)
    ids = [hub.publish("case.opened", f"c{i}", None).id for i in range(5)]
    assert [c.id for c in hub.since(0)] == ids[2:]


def test_change_ids_of_a_restarted_console_come_after_the_old_ones() -> None:
    first = LiveHub()
    seen = [first.publish("case.opened", "c", None).id for _ in range(3)]
    second = LiveHub()  # the same console started again
    later = second.publish("case.opened", "c", None)
    assert later.id > max(seen)
    assert [c.id for c in second.since(max(seen))] == [later.id]


async def test_every_open_stream_gets_each_change_and_a_stalled_one_loses_the_oldest() -> None:
    hub = LiveHub()
    a, b = hub.open(), hub.open()
    published = hub.publish("complaint.triaged", "c1", "sales", "TS-1")
    assert a.get_nowait() == published and b.get_nowait() == published
    for i in range(a.maxsize + 5):
        hub.publish("case.opened", f"c{i}", None)
    assert a.qsize() == a.maxsize
    assert a.get_nowait().complaint_id == "c5"
    hub.close(a)
    hub.close(b)
    assert hub.streams == 0


def test_too_many_open_streams_are_refused() -> None:
    hub = LiveHub(max_streams=2)
    hub.open()
    hub.open()
    with pytest.raises(OverflowError):
        hub.open()


def test_a_page_opened_while_the_phone_rings_gets_the_ringing_call_only() -> None:
    hub = LiveHub()
    for call_id, state in (("a", "ringing"), ("b", "ringing"), ("b", "answered")):
        hub.publish("call", None, None, target_subject="agent-7", call_id=call_id, call_state=state)
    hub.publish("call", None, None, target_subject="agent-8", call_id="c", call_state="ringing")
    assert [c.call_id for c in hub.ringing("agent-7")] == ["a"]
    assert hub.ringing("agent-7", now=hub.ringing("agent-7")[0].at + RINGING_SHOWN_FOR_S + 1) == []


def test_a_frame_is_an_sse_event_with_the_id_and_no_target() -> None:
    c = change(id=42, department="sales", reference="TS-2027-000001", target_subject="x")
    text = frame(c)
    assert text.startswith("id: 42\nevent: change\ndata: ") and text.endswith("\n\n")
    data = json.loads(text.split("data: ", 1)[1])
    assert data["id"] == 42 and data["department"] == "sales" and "target_subject" not in data
    assert _last_id("42") == 42 and _last_id("x") is None and _last_id(None) is None


# -- the feed ---------------------------------------------------------------------------


def record(
    event_type: str | None, complaint_id: str, payload: dict[str, object] | None = None
) -> ConsumerRecord:
    headers = [("ce_specversion", b"1.0"), ("ce_id", str(uuid4()).encode())]
    if event_type:
        headers.append(("ce_type", event_type.encode()))
        headers.append(("ce_subject", complaint_id.encode()))
    value = json.dumps({"complaint_id": complaint_id, **(payload or {})}).encode()
    return ConsumerRecord(
        "tousu.routing", 0, 0, 0, 0, complaint_id.encode(), value, None, 0, len(value), headers
    )


def feed() -> tuple[LiveFeed, LiveHub]:
    hub = LiveHub()
    return LiveFeed(ServiceSettings(jwt_secret="x" * 40), hub), hub


def test_later_changes_of_a_complaint_carry_the_department_triage_gave_it() -> None:
    live, hub = feed()
    cid = str(uuid4())
    live.handle(record("complaint.received", cid))
    live.handle(
        record(
            "complaint.triaged", cid, {"owner_department": "sales", "reference": "TS-2027-000009"}
        )
    )
    live.handle(record("case.opened", cid, {"owner_department": "ignored"}))
    changes = list(hub.since(0))
    assert [(c.type, c.department) for c in changes] == [
        ("complaint.received", None),
        ("complaint.triaged", "sales"),
        ("case.opened", "sales"),
    ]
    assert changes[0].complaint_id == cid
    assert changes[1].reference == changes[2].reference == "TS-2027-000009"
    assert live.stats.processed == 3


def test_a_reassignment_tells_the_new_department_and_the_one_that_lost_it() -> None:
    live, hub = feed()
    cid = str(uuid4())
    live.handle(record("complaint.triaged", cid, {"owner_department": "sales"}))
    live.handle(
        record(
            "complaint.reassigned", cid, {"from_department": "sales", "to_department": "technical"}
        )
    )
    live.handle(record("resolution.proposed", cid))
    assert [(c.type, c.department) for c in hub.since(0)] == [
        ("complaint.triaged", "sales"),
        ("complaint.reassigned", "technical"),
        ("complaint.reassigned", "sales"),
        ("resolution.proposed", "technical"),
    ]


def test_an_instruction_reaches_the_department_it_is_addressed_to() -> None:
    live, hub = feed()
    cid = str(uuid4())
    live.handle(record("complaint.triaged", cid, {"owner_department": "quality"}))
    live.handle(record("rectification.instructed", cid, {"department": "production"}))
    live.handle(record("rectification.done", cid, {"department": None}))
    assert [c.department for c in hub.since(0)] == ["quality", "production", "quality"]


def test_records_that_are_not_tousu_events_are_skipped_without_a_change() -> None:
    live, hub = feed()
    live.handle(record(None, str(uuid4())))
    live.handle(record("no.such.type", str(uuid4())))
    assert list(hub.since(0)) == []
    assert live.stats.skipped == 2
    assert live.group_id == "tousu-console" and not live.assigned.is_set()


def test_a_triage_with_an_unreadable_value_still_publishes_the_change() -> None:
    live, hub = feed()
    cid = str(uuid4())
    rec = record("complaint.triaged", cid)
    rec.value = b"\xff not json"
    live.handle(rec)
    [published] = hub.since(0)
    assert published.type == "complaint.triaged" and published.complaint_id == cid
    assert published.department is None


def test_the_complaint_id_comes_from_the_key_when_the_subject_header_is_missing() -> None:
    live, hub = feed()
    cid = str(uuid4())
    rec = record("case.opened", cid)
    rec.headers = [h for h in rec.headers if h[0] != "ce_subject"]
    live.handle(rec)
    assert [c.complaint_id for c in hub.since(0)] == [cid]


def test_the_owner_map_forgets_the_least_recent_complaints_past_its_limit() -> None:
    live, _ = feed()
    live.owners.limit = 2
    for i in range(3):
        live.owners.set(f"c{i}", "sales", None)
    assert live.owners.get("c0") == (None, None) and live.owners.get("c2") == ("sales", None)
    assert len(live.owners) == 2


# -- extensions -------------------------------------------------------------------------


def test_an_extension_is_2_to_10_digits_or_nothing() -> None:
    assert parse_extension(" 8001 ") == "8001"
    assert parse_extension("") is None and parse_extension(None) is None
    for bad in ("8", "80a1", "12345678901", "+8001"):
        with pytest.raises(ValueError):
            parse_extension(bad)
    assert hide_number("+86 138 0013 8000") == "…8000"


def session(subject: str) -> Session:
    now = datetime.now(UTC)
    return Session(
        key=uuid4().hex,
        subject=subject,
        name=subject,
        roles=("agent",),
        department="csc",
        access_token="t",
        access_expires_at=now + timedelta(minutes=5),
        refresh_token=None,
        id_token="i",
        csrf_token="c",
        language="zh",
        created_at=now,
        last_seen_at=now,
    )


async def test_an_extension_belongs_to_the_person_who_set_it_last(db: Database) -> None:
    store = SessionStore(db)
    now = datetime.now(UTC)
    await store.set_profile(session("a"), "en", "8001", now)
    assert await store.subjects_at_extension("8001") == ["a"]
    assert await store.language_of("a") == "en"
    await store.set_profile(session("b"), "zh", "8001", now)
    assert await store.subjects_at_extension("8001") == ["b"]
    assert await store.extension_of("a") is None and await store.extension_of("b") == "8001"
    await store.set_profile(session("b"), "zh", None, now)
    assert await store.subjects_at_extension("8001") == []


@pytest.mark.integration
async def test_the_console_migrations_build_the_models_and_undo_them(database_url: str) -> None:
    metadata = importlib.import_module("tousu_console.adapters.orm").Base.metadata

    def differences(connection: sa.Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, [metadata, messaging_metadata]))

    await asyncio.to_thread(upgrade, "tousu_console", database_url)
    db = Database(database_url)
    try:
        async with db.engine.connect() as connection:
            assert await connection.run_sync(differences) == []
    finally:
        await db.dispose()
    await asyncio.to_thread(downgrade, "tousu_console", database_url)
    db = Database(database_url)
    try:
        async with db.engine.connect() as connection:
            tables = await connection.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
    finally:
        await db.dispose()
    assert tables == {"alembic_version"}


def test_a_page_that_missed_more_than_the_hub_keeps_is_told_to_reload_everything() -> None:
    old = LiveHub(replay=3)
    seen = old.publish("case.opened", "c0", None).id
    hub = LiveHub(replay=3)  # a restarted console: it never had what came before
    assert hub.missed(seen)
    first = hub.publish("case.opened", "c1", None).id
    assert not hub.missed(first)
    for i in range(3):
        hub.publish("case.opened", f"c{i + 2}", None)
    # c1 is forgotten now: a page that saw it still has everything after it ...
    assert not hub.missed(first)
    # ... one that saw nothing since the start missed c1
    assert hub.missed(first - 1)
