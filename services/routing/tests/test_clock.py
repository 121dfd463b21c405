"""One SLA clock, no database: warning and breach once each, pause, stop, re-budget."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from hypothesis import given, settings
from hypothesis import strategies as st

from tousu_common.events.catalog import (
    ComplaintEscalated,
    CustomerTier,
    SlaBreached,
    SlaClock,
    SlaWarning,
    Urgency,
)
from tousu_routing.domain.calendar import BusinessCalendar
from tousu_routing.domain.clocks import Clock, ClockState
from tousu_routing.domain.sla import SlaPolicy

POLICY = SlaPolicy.from_table(BusinessCalendar())
START = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 10:00 Shanghai


def urgent_clock(**overrides: object) -> Clock:
    values: dict = {
        "complaint_id": uuid4(),
        "reference": "TS-2026-000001",
        "kind": SlaClock.first_response,
        "urgency": Urgency.urgent,
        "customer_tier": CustomerTier.general,
        "key_account": False,
        "owner_department": "quality",
        "started_at": START,
        **overrides,
    }
    return Clock.start(POLICY, **values)


def test_warning_and_breach_are_raised_once_each() -> None:
    clock = urgent_clock()
    assert clock.due_at == START + timedelta(hours=2)
    assert clock.warn_at == START + timedelta(minutes=96)
    assert clock.next_check_at == clock.warn_at
    assert clock.check(START + timedelta(minutes=95)) == []
    [warning] = clock.check(START + timedelta(minutes=97))
    assert isinstance(warning, SlaWarning) and warning.due_at == clock.due_at
    assert clock.next_check_at == clock.due_at
    assert clock.check(START + timedelta(minutes=98)) == []
    breach, escalation = clock.check(START + timedelta(hours=2))
    assert isinstance(breach, SlaBreached)
    assert isinstance(escalation, ComplaintEscalated)
    assert (escalation.department, escalation.to_role, escalation.by) == (
        "quality",
        "manager",
        "sla",
    )
    assert clock.check(START + timedelta(days=1)) == []
    assert clock.next_check_at is None


def test_key_account_halves_the_budget() -> None:
    assert urgent_clock(key_account=True).due_at == START + timedelta(hours=1)
    assert urgent_clock(customer_tier=CustomerTier.strategic).due_at == START + timedelta(hours=1)


def test_a_pause_moves_the_deadline_by_its_length() -> None:
    clock = urgent_clock()
    clock.pause(POLICY, START + timedelta(minutes=30))
    assert clock.state is ClockState.paused and clock.due_at is None
    assert clock.next_check_at is None
    assert clock.check(START + timedelta(days=3)) == []
    clock.resume(POLICY, START + timedelta(minutes=75))
    assert clock.due_at == START + timedelta(hours=2, minutes=45)


def test_a_stopped_clock_raises_nothing() -> None:
    clock = urgent_clock()
    clock.stop(START + timedelta(minutes=10))
    assert clock.state is ClockState.stopped and clock.next_check_at is None
    assert clock.check(START + timedelta(days=1)) == []
    clock.pause(POLICY, START + timedelta(minutes=20))  # no effect once stopped
    assert clock.state is ClockState.stopped


def test_rebudget_keeps_start_pauses_and_flags() -> None:
    clock = urgent_clock()
    clock.check(START + timedelta(minutes=100))  # warning raised
    clock.rebudget(
        POLICY,
        urgency=Urgency.general,
        customer_tier=CustomerTier.general,
        key_account=False,
        owner_department="sales",
    )
    assert clock.started_at == START and clock.warning_sent_at is not None
    # General: 2 working days (18 h) from Monday 10:00 → Wednesday 10:00.
    assert clock.due_at == START + timedelta(days=2)
    assert clock.owner_department == "sales"
    # The warning was raised under the old budget; only the breach is left.
    assert [type(e) for e in clock.check(START + timedelta(days=2))] == [
        SlaBreached,
        ComplaintEscalated,
    ]


@settings(max_examples=150, deadline=None)
@given(
    urgency=st.sampled_from(list(Urgency)),
    kind=st.sampled_from(list(SlaClock)),
    waits=st.lists(st.tuples(st.integers(0, 5 * 86400), st.integers(0, 3 * 86400)), max_size=4),
)
def test_pausing_a_clock_never_brings_its_deadline_closer(
    urgency: Urgency, kind: SlaClock, waits: list[tuple[int, int]]
) -> None:
    clock = urgent_clock(urgency=urgency, kind=kind)
    unpaused = clock.due_at
    assert unpaused is not None and unpaused >= START
    cursor = START
    for gap, length in waits:
        cursor += timedelta(seconds=gap)
        clock.pause(POLICY, cursor)
        cursor += timedelta(seconds=length)
        clock.resume(POLICY, cursor)
        assert clock.due_at is not None and clock.due_at >= unpaused
        assert clock.warn_at is not None and START <= clock.warn_at <= clock.due_at
