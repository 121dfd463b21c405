"""The triage and clock state machines are one table each: every legal move in
them works, and a move the table does not name raises (no database)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tousu_routing.domain.clocks import (
    CLOCK_TRANSITIONS,
    ClockAction,
    ClockState,
    IllegalClockMove,
    check_clock_move,
)
from tousu_routing.domain.model import (
    TRIAGE_TRANSITIONS,
    IllegalTriageMove,
    Status,
    TriageAction,
    check_move,
)

TRIAGE_LEGAL = [
    (action, source)
    for action, move in TRIAGE_TRANSITIONS.items()
    for source in sorted(move.sources)
]
CLOCK_LEGAL = [
    (action, source)
    for action, move in CLOCK_TRANSITIONS.items()
    for source in sorted(move.sources)
]


def test_every_triage_action_has_a_row() -> None:
    assert set(TRIAGE_TRANSITIONS) == set(TriageAction)


def test_every_clock_action_has_a_row() -> None:
    assert set(CLOCK_TRANSITIONS) == set(ClockAction)


@pytest.mark.parametrize(("action", "source"), TRIAGE_LEGAL)
def test_legal_triage_move_leads_to_its_target(action: TriageAction, source: Status) -> None:
    assert check_move(action, source) is TRIAGE_TRANSITIONS[action].target


@given(st.sampled_from(list(TriageAction)), st.sampled_from(list(Status)))
def test_triage_move_outside_the_table_raises_a_conflict(
    action: TriageAction, status: Status
) -> None:
    if status in TRIAGE_TRANSITIONS[action].sources:
        return
    with pytest.raises(IllegalTriageMove) as refused:
        check_move(action, status)
    assert refused.value.status_code == 409
    assert refused.value.fields[0]["field"] == "complaint_id"


def test_triage_refusals_say_what_they_said_before_the_table() -> None:
    with pytest.raises(IllegalTriageMove, match=r"^the complaint is already triaged and has a"):
        check_move(TriageAction.linked_by_person, Status.triaged)
    with pytest.raises(IllegalTriageMove) as refused:
        check_move(TriageAction.reassigned, Status.manual_triage)
    assert refused.value.message == "only a triaged complaint can be reassigned; triage it first"
    assert refused.value.fields == [{"field": "complaint_id", "problem": "status is manual_triage"}]


def test_a_duplicate_cannot_be_triaged_by_a_person() -> None:
    with pytest.raises(IllegalTriageMove, match="unlink it before triaging it"):
        check_move(TriageAction.triaged_by_person, Status.duplicate)


@pytest.mark.parametrize(("action", "source"), CLOCK_LEGAL)
def test_legal_clock_move_leads_to_its_target(action: ClockAction, source: ClockState) -> None:
    assert check_clock_move(action, source) is CLOCK_TRANSITIONS[action].target


@given(st.sampled_from(list(ClockAction)), st.sampled_from(list(ClockState)))
def test_clock_move_is_legal_ignored_or_refused(action: ClockAction, state: ClockState) -> None:
    move = CLOCK_TRANSITIONS[action]
    assert not (move.sources & move.ignored)
    if state in move.sources:
        assert check_clock_move(action, state) is move.target
    elif state in move.ignored:
        assert check_clock_move(action, state) is None
    else:
        with pytest.raises(IllegalClockMove):
            check_clock_move(action, state)


def test_a_cancelled_clock_is_never_restarted() -> None:
    with pytest.raises(IllegalClockMove, match="cancelled cannot restart"):
        check_clock_move(ClockAction.restart, ClockState.cancelled)
