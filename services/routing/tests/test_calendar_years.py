"""The business calendar past 2026: which years it knows, how it says so, and the
company's own days added over the API.

Dates are 2027/2028. The 2027 State Council notice is not in the shipped data
(see the README, "Which years the calendar knows"): 2027 has the statutory days
(全国年节及纪念日放假办法, 2024 revision) with a weekday off in lieu of each one
falling on a weekend, computed by the ``holidays`` package — so readiness says
``degraded`` for 2027 until an admin enters the notice. The expectations below
name which days are the law's (certain) and which are the in-lieu estimate.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from prometheus_client import REGISTRY

from tousu_common.db import Database
from tousu_common.events.catalog import CustomerTier, SlaClock, Urgency
from tousu_routing.bootstrap import Routing
from tousu_routing.domain.calendar import YearSource, required_years
from tousu_routing.entrypoints.calendar_watch import CalendarWatch

from .conftest import Desk, FakeTime, received, settings_for
from .test_desk import staged

SHANGHAI = ZoneInfo("Asia/Shanghai")
Auth = Callable[..., dict[str, str]]

#: A 2027 notice *shaped* like the State Council's (the real one was not published
#: when this was written): Spring Festival 2-5 … 2-11 off, Saturday 2-20 worked.
TEST_NOTICE_2027 = {
    "year": 2027,
    "source": "test notice (not the State Council's): Spring Festival only",
    "holidays": [f"2027-02-{d:02d}" for d in range(5, 12)],
    "makeup_working_days": ["2027-01-30", "2027-02-20"],
}


def sh(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


@pytest.fixture
def routing() -> Routing:
    return Routing(settings_for("sqlite+aiosqlite:///:memory:"), FakeTime(sh(2027, 1, 4, 9)))


def first_response_due(routing: Routing, received_at: datetime) -> datetime:
    """An important complaint's first response: one working day (9 working hours)."""
    policy = routing.policy
    budget = policy.budget(Urgency.important, SlaClock.first_response, CustomerTier.general, False)
    due = policy.due(budget, received_at.astimezone(UTC), [])
    assert due is not None
    return due.astimezone(SHANGHAI)


# -- what the shipped calendar knows ------------------------------------------------


def test_2026_is_the_state_councils_notice_and_2027_the_statutory_days(routing: Routing) -> None:
    years = routing.public_years
    assert years[2026].source is YearSource.notice and years[2026].origin == "data/cn-2026.yaml"
    assert years[2027].source is YearSource.statutory
    assert years[2027].makeup_days == frozenset()  # the notice's 调休 are not known
    assert years[2028].source is YearSource.statutory
    off_2027 = sorted(d for d in years[2027].holidays if d.isoweekday() <= 5)
    assert off_2027 == [
        date(2027, 1, 1),  # 元旦 (Fri)
        date(2027, 2, 5),  # 除夕 (Fri)
        date(2027, 2, 8),  # 初三 (Mon)
        date(2027, 2, 9),  # in lieu of 初一 on Saturday (estimate)
        date(2027, 2, 10),  # in lieu of 初二 on Sunday (estimate)
        date(2027, 4, 5),  # 清明 (Mon)
        date(2027, 5, 3),  # in lieu of 5-1 on Saturday (estimate)
        date(2027, 5, 4),  # in lieu of 5-2 on Sunday (estimate)
        date(2027, 6, 9),  # 端午 (Wed)
        date(2027, 9, 15),  # 中秋 (Wed)
        date(2027, 10, 1),  # 国庆 (Fri)
        date(2027, 10, 4),  # in lieu of 10-2 on Saturday (estimate)
        date(2027, 10, 5),  # in lieu of 10-3 on Sunday (estimate)
    ]


def test_the_shipped_2026_notice_agrees_with_the_holidays_package() -> None:
    """Two transcriptions of the same notice: ours and the package's."""
    from tousu_routing.adapters.public_holidays import package_years, shipped_notices

    [ours] = shipped_notices()
    [theirs] = package_years((2026,))
    assert theirs.source is YearSource.notice
    weekdays = {d for d in ours.holidays if d.isoweekday() <= 5}
    assert weekdays == {d for d in theirs.holidays if d.isoweekday() <= 5}
    assert ours.makeup_days == theirs.makeup_days


def test_due_dates_skip_spring_festival_2027(routing: Routing) -> None:
    calendar = routing.policy.calendar
    # The law's days (certain): 除夕 Friday 2-5 … 初三 Monday 2-8.
    for day in range(5, 9):
        assert not calendar.is_working_day(date(2027, 2, day))
    # Received Thursday 2-4 at 16:00: 1.5 h that day, then nothing until Thursday
    # 2-11 (2-9 and 2-10 are the days in lieu of 初一/初二 on the weekend).
    assert first_response_due(routing, sh(2027, 2, 4, 16)) == sh(2027, 2, 11, 16)


def test_due_dates_skip_national_day_2027(routing: Routing) -> None:
    # Thursday 9-30 16:00 → Friday 10-1 国庆, the weekend, 10-4/10-5 in lieu → Wednesday.
    assert first_response_due(routing, sh(2027, 9, 30, 16)) == sh(2027, 10, 6, 16)


def test_due_dates_skip_new_year_2028(routing: Routing) -> None:
    # 2028-01-01 is a Saturday: Monday 1-3 is off in lieu → Tuesday 1-4.
    assert first_response_due(routing, sh(2027, 12, 31, 16)) == sh(2028, 1, 4, 16)


def test_qingming_2027_falls_on_a_monday(routing: Routing) -> None:
    assert first_response_due(routing, sh(2027, 4, 2, 16)) == sh(2027, 4, 6, 16)


# -- which years must be known ------------------------------------------------------


def test_next_year_is_required_from_the_first_of_december() -> None:
    assert required_years(date(2027, 11, 30)) == [2027]
    assert required_years(date(2027, 12, 1)) == [2027, 2028]
    assert required_years(date(2028, 1, 1)) == [2028]


async def test_readiness_is_degraded_without_next_years_notice(
    db: Database, jwt_secret: str, caplog: pytest.LogCaptureFixture
) -> None:
    time = FakeTime(sh(2028, 12, 2, 10).astimezone(UTC))
    routing = Routing(settings_for(db.url, jwt_secret), time)
    watch = CalendarWatch(db, routing)
    gauge = {"service": "routing"}

    readiness = await watch.readiness(db)
    assert readiness["calendar"].startswith("degraded")
    assert "2028, 2029" in readiness["calendar"]
    assert REGISTRY.get_sample_value("tousu_calendar_years_uncovered", gauge) == 2

    with caplog.at_level(logging.ERROR, logger="tousu_routing.entrypoints.calendar_watch"):
        assert await watch.check() == [2028, 2029]
        assert await watch.check() == [2028, 2029]  # same day: one line
        time.advance(days=1)
        await watch.check()
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2
    assert "2029" in errors[0].getMessage()


async def test_a_notice_entered_over_the_api_covers_its_year(
    db: Database, client: httpx.AsyncClient, auth: Auth, time: FakeTime, jwt_secret: str
) -> None:
    time.current = sh(2026, 12, 5, 10).astimezone(UTC)  # today, as the issue was written
    watch = CalendarWatch(db, Routing(settings_for(db.url, jwt_secret), time))
    assert (await watch.readiness(db))["calendar"].startswith("degraded: no State Council")
    coverage = (await client.get("/v1/calendar/coverage", headers=auth("admin"))).json()
    assert coverage == {
        "today": "2026-12-05",
        "required_years": [2026, 2027],
        "uncovered_years": [2027],
    }

    answer = await client.put(
        "/v1/calendar/notices/2027", json=TEST_NOTICE_2027, headers=auth("admin", sub="adm-1")
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["version"] == 1
    assert await watch.readiness(db) == {"calendar": "ok"}
    year = (await client.get("/v1/calendar/years/2027", headers=auth("admin"))).json()
    assert year["source"] == "notice" and year["calendar_version"] == 1
    assert year["makeup_working_days"] == ["2027-01-30", "2027-02-20"]
    assert "2027-02-11" in year["holidays"]
    # 2028-12-01: 2028 and 2029 have no notice.
    time.current = sh(2028, 12, 1, 10).astimezone(UTC)
    assert (await watch.readiness(db))["calendar"].startswith("degraded")


async def test_a_worked_make_up_saturday_counts(
    desk: Desk, db: Database, client: httpx.AsyncClient, auth: Auth
) -> None:
    answer = await client.put(
        "/v1/calendar/notices/2027", json=TEST_NOTICE_2027, headers=auth("admin")
    )
    assert answer.status_code == 201, answer.text
    # Friday 2-19 16:00: 1.5 h, then Saturday 2-20 is worked (调休上班): due 16:00 that Saturday.
    payload = received(received_at=sh(2027, 2, 19, 16).astimezone(UTC))
    await desk.deliver(payload)
    [(_, triaged)] = await staged(db, payload.complaint_id)
    assert datetime.fromisoformat(triaged["first_response_due"]) == sh(2027, 2, 20, 16)
    # And Spring Festival now runs to 2-11 as the notice says (Thursday 2-4 16:00 → Friday 2-12).
    before = received(received_at=sh(2027, 2, 4, 16).astimezone(UTC), customer_id=None)
    await desk.deliver(before)
    [(_, triaged)] = await staged(db, before.complaint_id)
    assert datetime.fromisoformat(triaged["first_response_due"]) == sh(2027, 2, 12, 16)


# -- the company's own days ------------------------------------------------------------


async def test_a_plant_shutdown_added_over_the_api_moves_new_due_dates(
    desk: Desk, db: Database, client: httpx.AsyncClient, auth: Auth
) -> None:
    monday_16 = sh(2027, 3, 1, 16).astimezone(UTC)
    earlier = received(received_at=monday_16)
    await desk.deliver(earlier)

    shutdown = {"date": "2027-03-02", "kind": "holiday", "note": "停产检修 plant shutdown"}
    answer = await client.post("/v1/calendar/days", json=shutdown, headers=auth("admin", sub="a1"))
    assert answer.status_code == 201, answer.text
    view = answer.json()
    assert view["version"] == 1 and view["created_by"] == "a1"
    assert view["document"]["days"] == [shutdown]

    later = received(received_at=monday_16, customer_id=None)
    await desk.deliver(later)
    due = {}
    for payload in (earlier, later):
        [(_, triaged)] = await staged(db, payload.complaint_id)
        due[payload.complaint_id] = datetime.fromisoformat(triaged["first_response_due"])
    # Computed before the change: Tuesday 16:00; after it, Tuesday is off → Wednesday.
    assert due[earlier.complaint_id] == sh(2027, 3, 2, 16)
    assert due[later.complaint_id] == sh(2027, 3, 3, 16)
    # Each clock says which calendar version computed it.
    for payload, version in ((earlier, 0), (later, 1)):
        view = (await client.get(f"/v1/triage/{payload.complaint_id}", headers=auth("csc"))).json()
        assert {c["calendar_version"] for c in view["clocks"]} == {version}
    versions = (await client.get("/v1/calendar/versions", headers=auth("admin"))).json()
    assert versions["items"][0]["version"] == 1 and versions["items"][0]["clocks"] == 2


async def test_an_extra_working_day_on_a_public_holiday_is_worked(
    desk: Desk, db: Database, client: httpx.AsyncClient, auth: Auth
) -> None:
    day = {"date": "2027-04-05", "kind": "working", "note": "清明 worked: year-end orders"}
    assert (
        await client.post("/v1/calendar/days", json=day, headers=auth("admin"))
    ).status_code == 201
    payload = received(received_at=sh(2027, 4, 2, 16).astimezone(UTC))
    await desk.deliver(payload)
    [(_, triaged)] = await staged(db, payload.complaint_id)
    assert datetime.fromisoformat(triaged["first_response_due"]) == sh(2027, 4, 5, 16)


async def test_calendar_edits_are_admin_only_versioned_and_validated(
    client: httpx.AsyncClient, auth: Auth
) -> None:
    day = {"date": "2027-08-02", "kind": "holiday"}
    assert (await client.post("/v1/calendar/days", json=day)).status_code == 401
    assert (
        await client.post("/v1/calendar/days", json=day, headers=auth("csc"))
    ).status_code == 403
    assert (await client.get("/v1/calendar", headers=auth("csc"))).status_code == 403
    empty = (await client.get("/v1/calendar", headers=auth("admin"))).json()
    assert empty["version"] == 0 and empty["document"] == {"days": [], "notices": []}

    admin = auth("admin")
    assert (await client.post("/v1/calendar/days", json=day, headers=admin)).status_code == 201
    again = await client.post("/v1/calendar/days", json=day, headers=admin)
    assert again.status_code == 409
    stale = await client.post(
        "/v1/calendar/days?base_version=0", json={**day, "date": "2027-08-03"}, headers=admin
    )
    assert stale.status_code == 409
    assert stale.json()["error"]["fields"][0]["field"] == "base_version"
    bad = await client.post("/v1/calendar/days", json={**day, "kind": "maybe"}, headers=admin)
    assert bad.status_code == 422 and "kind" in bad.text
    wrong_year = await client.put("/v1/calendar/notices/2028", json=TEST_NOTICE_2027, headers=admin)
    assert wrong_year.status_code == 409
    outside = {**TEST_NOTICE_2027, "holidays": ["2028-01-01"]}
    answer = await client.put("/v1/calendar/notices/2027", json=outside, headers=admin)
    assert answer.status_code == 422 and "holidays" in answer.text

    removed = await client.delete("/v1/calendar/days/2027-08-02", headers=admin)
    assert removed.status_code == 200 and removed.json()["version"] == 2
    assert (await client.delete("/v1/calendar/days/2027-08-02", headers=admin)).status_code == 404
    first = (await client.get("/v1/calendar/versions/1", headers=admin)).json()
    assert first["document"]["days"] == [{"date": "2027-08-02", "kind": "holiday", "note": ""}]


def test_the_day_after_a_holiday_is_not_skipped(routing: Routing) -> None:
    # Guard for the arithmetic itself: Tuesday 2027-04-06 09:00 + 1 working hour.
    calendar = routing.policy.calendar
    start = sh(2027, 4, 6, 9).astimezone(UTC)
    assert calendar.add_working_time(start, 3600) == start + timedelta(hours=1)


def test_company_days_win_over_public_days() -> None:
    from tousu_routing.domain.calendar import BusinessCalendar, PublicYear, compose

    notice = PublicYear(
        year=2027,
        source=YearSource.notice,
        holidays=frozenset({date(2027, 10, 6)}),
        makeup_days=frozenset({date(2027, 10, 9)}),  # a Saturday worked
        origin="test",
    )
    calendar = compose(BusinessCalendar(), [notice])
    assert calendar.is_working_day(date(2027, 10, 9))
    assert not calendar.is_working_day(date(2027, 10, 6))
    company = compose(
        BusinessCalendar(),
        [notice],
        company_holidays={date(2027, 10, 9)},  # plant shutdown on the make-up Saturday
        company_working_days={date(2027, 10, 6)},  # worked although a public holiday
    )
    assert not company.is_working_day(date(2027, 10, 9))
    assert company.is_working_day(date(2027, 10, 6))
