"""Sessions, sign-ins in flight and preferences on both databases."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from tousu_common.db import Database
from tousu_console.adapters.repository import SIGN_IN_TTL, SessionStore
from tousu_console.domain.sessions import Session, new_session_id, session_key

T0 = datetime(2027, 5, 4, 2, 0, tzinfo=UTC)


def a_session(subject: str = "csc", **changes: object) -> Session:
    session = Session(
        key=session_key(new_session_id()),
        subject=subject,
        name="CSC",
        roles=("csc",),
        department="csc",
        access_token="a",
        access_expires_at=T0 + timedelta(minutes=10),
        refresh_token="r",
        id_token="i",
        csrf_token="c",
        language="zh",
        created_at=T0,
        last_seen_at=T0,
    )
    return replace(session, **changes)  # type: ignore[arg-type]


async def test_a_session_is_kept_with_its_roles_and_renewed_tokens(db: Database) -> None:
    store = SessionStore(db)
    session = a_session(roles=("csc", "manager"))
    await store.add(session)
    assert (await store.get(session.key)) == session
    renewed = session.with_tokens("a2", T0 + timedelta(minutes=20), "r2")
    await store.save_tokens(renewed)
    kept = await store.get(session.key)
    assert kept is not None and kept.access_token == "a2" and kept.refresh_token == "r2"
    assert kept.roles == ("csc", "manager")
    await store.remove(session.key)
    assert await store.get(session.key) is None


async def test_ended_sessions_are_swept_and_active_ones_kept(db: Database) -> None:
    store = SessionStore(db)
    idle = a_session(last_seen_at=T0)
    old = a_session(created_at=T0 - timedelta(hours=13), last_seen_at=T0 + timedelta(hours=1))
    active = a_session(last_seen_at=T0 + timedelta(hours=1))
    for session in (idle, old, active):
        await store.add(session)
    now = T0 + timedelta(hours=1, minutes=1)
    removed = await store.remove_ended(now - timedelta(minutes=60), now - timedelta(hours=12))
    assert removed == 2
    assert await store.get(active.key) is not None
    assert await store.get(idle.key) is None and await store.get(old.key) is None


async def test_a_sign_in_callback_is_used_once_and_expires(db: Database) -> None:
    store = SessionStore(db)
    await store.begin_sign_in("s1", "n", "v", "http://x/auth/callback", "/worklist", T0)
    taken = await store.take_sign_in("s1", T0 + timedelta(minutes=1))
    assert taken is not None and taken.next_path == "/worklist"
    assert await store.take_sign_in("s1", T0 + timedelta(minutes=1)) is None
    await store.begin_sign_in("s2", "n", "v", "http://x/auth/callback", "/", T0)
    assert await store.take_sign_in("s2", T0 + SIGN_IN_TTL + timedelta(seconds=1)) is None


async def test_the_language_is_remembered_for_every_session_of_the_person(db: Database) -> None:
    store = SessionStore(db)
    first, second = a_session("quality"), a_session("quality")
    other = a_session("supply")
    for session in (first, second, other):
        await store.add(session)
    assert await store.language_of("quality") is None
    await store.set_language(first, "en", T0)
    await store.set_language(first, "en", T0 + timedelta(minutes=1))  # an upsert
    assert await store.language_of("quality") == "en"
    assert (await store.get(second.key)).language == "en"  # type: ignore[union-attr]
    assert (await store.get(other.key)).language == "zh"  # type: ignore[union-attr]
