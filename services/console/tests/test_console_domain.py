"""The console's rules without I/O: languages and dates, role offers, sessions,
where a sign-in may send the browser back to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tousu_console.domain import roles
from tousu_console.domain.i18n import Translator, parse_language
from tousu_console.domain.sessions import Session, local_path, new_session_id, session_key

T0 = datetime(2027, 3, 1, 1, 30, tzinfo=UTC)


def a_session(**changes: object) -> Session:
    values: dict[str, object] = {
        "key": session_key("cookie"),
        "subject": "csc",
        "name": "Customer Service Centre",
        "roles": ("csc",),
        "department": "csc",
        "access_token": "a",
        "access_expires_at": T0 + timedelta(minutes=10),
        "refresh_token": "r",
        "id_token": "i",
        "csrf_token": "c",
        "language": "zh",
        "created_at": T0,
        "last_seen_at": T0,
    }
    values.update(changes)
    return Session(**values)  # type: ignore[arg-type]


def test_times_are_shown_in_shanghai_whatever_the_server_zone() -> None:
    t = Translator("zh")
    assert t.when("2027-03-01T01:30:00+00:00") == "2027-03-01 09:30"
    assert t.day(datetime(2027, 12, 31, 17, 0, tzinfo=UTC)) == "2028-01-01"
    assert t.when(None) == "" and t.when("") == ""


def test_time_left_reads_naturally_in_both_languages_and_shows_overdue_as_negative() -> None:
    assert Translator("zh").duration(2 * 86_400 + 3 * 3600) == "2天3小时"
    assert Translator("en").duration(2 * 86_400 + 3 * 3600) == "2d 3h"
    assert Translator("en").duration(-125) == "-2m"
    assert Translator("zh").duration(None) == ""


def test_t_picks_the_language_and_unknown_languages_fall_back() -> None:
    assert Translator("en")("关闭", "Close") == "Close"
    assert Translator("zh")("关闭", "Close") == "关闭"
    assert parse_language("fr") == "zh" and parse_language("en") == "en"


@pytest.mark.parametrize(
    ("held", "shown", "hidden"),
    [
        (["agent"], {"/hotline", "/search", "/worklist"}, {"/ops", "/triage", "/suppliers"}),
        (["csc"], {"/triage", "/digests"}, {"/hotline", "/ops"}),
        (["supply"], {"/suppliers", "/overdue"}, {"/hotline", "/triage", "/digests"}),
        (["department"], {"/worklist", "/rectifications"}, {"/overdue", "/ops", "/hotline"}),
        (["manager"], {"/ops", "/overdue", "/digests"}, {"/hotline"}),
        (["admin"], {item.path for item in roles.MENU}, set()),
    ],
)
def test_each_role_is_offered_its_screens_only(
    held: list[str], shown: set[str], hidden: set[str]
) -> None:
    paths = {item.path for item in roles.menu_for(held)}
    assert shown <= paths
    assert not hidden & paths


def test_every_menu_action_is_a_known_action() -> None:
    for item in roles.MENU:
        assert item.action is None or item.action in roles.ACTIONS


def test_a_session_ends_after_its_maximum_age_or_when_idle() -> None:
    session = a_session()
    max_age, idle = timedelta(hours=12), timedelta(minutes=60)
    assert not session.expired(T0 + timedelta(minutes=59), max_age, idle)
    assert session.expired(T0 + timedelta(minutes=61), max_age, idle)
    busy = a_session(last_seen_at=T0 + timedelta(hours=12))
    assert busy.expired(T0 + timedelta(hours=12, minutes=1), max_age, idle)


def test_the_access_token_is_renewed_shortly_before_it_expires() -> None:
    session = a_session()
    assert not session.needs_renewal(T0)
    assert session.needs_renewal(T0 + timedelta(minutes=9, seconds=31))
    renewed = session.with_tokens("b", T0 + timedelta(minutes=20), None)
    assert renewed.access_token == "b" and renewed.refresh_token == "r"


def test_the_cookie_value_is_never_the_stored_key() -> None:
    cookie = new_session_id()
    assert len(cookie) >= 40 and session_key(cookie) != cookie
    assert session_key(cookie) == session_key(cookie) and len(session_key(cookie)) == 64


@pytest.mark.parametrize(
    ("asked", "goes_to"),
    [
        ("/complaints/1?x=2", "/complaints/1?x=2"),
        (None, "/"),
        ("", "/"),
        ("//evil.example/x", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("worklist", "/"),
    ],
)
def test_after_sign_in_the_browser_only_goes_to_a_page_of_this_console(
    asked: str | None, goes_to: str
) -> None:
    assert local_path(asked) == goes_to
