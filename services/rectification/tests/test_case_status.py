"""The case state machine and aggregate, without a database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from uuid import uuid4

import pytest

from tousu_common.auth import Principal
from tousu_common.errors import Conflict, Forbidden
from tousu_common.events.catalog import (
    CallbackDone,
    CaseOpened,
    ComplaintCategory,
    ComplaintClosed,
    ComplaintTriaged,
    ResolutionAction,
    ResolutionActionKind,
    Urgency,
)
from tousu_rectification.domain.events import HistoryRecorded
from tousu_rectification.domain.model import Case, CloseConditionsUnmet
from tousu_rectification.domain.permissions import SYSTEM, customer
from tousu_rectification.domain.status import (
    OPENING_STATUS,
    TABLE,
    TRANSITIONS,
    CaseConflict,
    CaseStatus,
    IllegalTransition,
    check_transition,
)

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
CSC = Principal("csc-user-7", frozenset({"csc"}), "csc")
AGENT = Principal("agent-3", frozenset({"agent"}), "csc")
QUALITY = Principal("q-1", frozenset({"quality"}), "quality")
SALES = Principal("s-1", frozenset({"department"}), "sales")
MANAGER = Principal("manager-1", frozenset({"manager"}), "quality")


def triaged(**overrides: object) -> ComplaintTriaged:
    values: dict[str, object] = {
        "complaint_id": uuid4(),
        "reference": "TS-2026-000321",
        "category": ComplaintCategory.product_quality,
        "urgency": Urgency.important,
        "owner_department": "quality",
        "decided_by": "rules",
        "rule_id": "product-quality",
        "ruleset_version": "2026.11-1",
        "triaged_at": T0,
    }
    values.update(overrides)
    return ComplaintTriaged.model_validate(values)


def opened_case() -> Case:
    case = Case.open(triaged(), at=T0)
    case.events.clear()
    return case


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def plan(*kinds: ResolutionActionKind) -> list[ResolutionAction]:
    return [
        ResolutionAction(
            kind=kind,
            description=f"{kind} it",
            due_date=date(2026, 12, 1),
            amount=Decimal("120.50") if kind is ResolutionActionKind.refund else None,
            currency="CNY" if kind is ResolutionActionKind.refund else None,
        )
        for kind in kinds or (ResolutionActionKind.repair,)
    ]


def implemented_case() -> Case:
    case = opened_case()
    case.propose_resolution(actions=plan(), by=CSC, at=at(1))
    case.accept_resolution(by=AGENT, at=at(2), plan_version=1)
    case.complete_action(1, by=QUALITY, at=at(3))
    case.events.clear()
    return case


def event_types(case: Case) -> list[str]:
    return [type(event).__name__ for event in case.events if not isinstance(event, HistoryRecorded)]


# -- the table ---------------------------------------------------------------


def test_every_status_is_reachable_from_opening() -> None:
    reached, frontier = {OPENING_STATUS}, [OPENING_STATUS]
    while frontier:
        for target in TRANSITIONS[frontier.pop()]:
            if target not in reached:
                reached.add(target)
                frontier.append(target)
    assert reached == set(CaseStatus)


def test_only_withdrawn_is_a_dead_end() -> None:
    assert [status for status in CaseStatus if not TRANSITIONS[status]] == [CaseStatus.withdrawn]


def test_every_command_has_a_row_that_names_its_sources() -> None:
    assert all(row.sources for row in TABLE.values())


@pytest.mark.parametrize(
    ("from_status", "to_status"),
    [
        (CaseStatus.awaiting_resolution, CaseStatus.closed),
        (CaseStatus.awaiting_resolution, CaseStatus.resolution_accepted),
        (CaseStatus.resolution_rejected, CaseStatus.resolution_implemented),
        (CaseStatus.closed, CaseStatus.resolution_proposed),
    ],
)
def test_an_illegal_transition_is_refused_naming_both_statuses(
    from_status: CaseStatus, to_status: CaseStatus
) -> None:
    with pytest.raises(IllegalTransition) as refused:
        check_transition(from_status, to_status)
    assert refused.value.from_status is from_status
    assert str(from_status) in str(refused.value) and str(to_status) in str(refused.value)


def test_an_illegal_transition_is_a_conflict_for_the_caller() -> None:
    refused = IllegalTransition(CaseStatus.closed, CaseStatus.resolution_proposed)
    assert isinstance(refused, Conflict)
    assert (refused.status_code, refused.code) == (409, "illegal_transition")


# -- the aggregate -------------------------------------------------------------


def test_opening_a_case_awaits_a_resolution_and_announces_it() -> None:
    complaint = triaged(owner_department="logistics", category=ComplaintCategory.delivery)
    case = Case.open(complaint, at=T0)
    assert case.status is CaseStatus.awaiting_resolution
    assert (case.owner_department, case.version, case.plan_version) == ("logistics", 1, 0)
    history, announcement = case.events
    assert history == HistoryRecorded(
        case.case_id, "case.opened", None, CaseStatus.awaiting_resolution, T0, "system"
    )
    assert isinstance(announcement, CaseOpened)
    assert announcement.owner_department == "logistics"


def test_proposing_counts_as_first_response_and_records_who() -> None:
    case = opened_case()
    case.propose_resolution(actions=plan(), investigation="worn seal", by=CSC, at=at(30))
    assert case.status is CaseStatus.resolution_proposed
    assert case.first_response_at == at(30) and case.plan_version == 1
    assert event_types(case) == ["FirstResponseRecorded", "ResolutionProposed"]
    moved = [e for e in case.events if isinstance(e, HistoryRecorded) and e.from_status]
    assert (moved[-1].action, moved[-1].by, moved[-1].at) == (
        "resolution.proposed",
        CSC.subject,
        at(30),
    )


def test_rejected_plan_can_be_revised_as_a_new_version() -> None:
    case = opened_case()
    case.propose_resolution(actions=plan(), by=CSC, at=at(1))
    case.reject_resolution(by=customer(), at=at(2), plan_version=1, reason="too slow")
    case.propose_resolution(actions=plan(ResolutionActionKind.replace), by=CSC, at=at(3))
    assert (case.status, case.plan_version) == (CaseStatus.resolution_proposed, 2)


def test_an_answer_to_an_old_plan_is_refused() -> None:
    case = opened_case()
    case.propose_resolution(actions=plan(), by=CSC, at=at(1))
    case.reject_resolution(by=AGENT, at=at(2))
    case.propose_resolution(actions=plan(), by=CSC, at=at(3))
    assert not case.decision_applies(1) and case.decision_applies(2)
    with pytest.raises(CaseConflict):
        case.accept_resolution(by=AGENT, at=at(4), plan_version=1)


def test_the_last_action_done_implements_the_plan() -> None:
    case = opened_case()
    case.propose_resolution(
        actions=plan(ResolutionActionKind.repair, ResolutionActionKind.refund), by=CSC, at=at(1)
    )
    case.accept_resolution(by=AGENT, at=at(2))
    assert case.complete_action(2, by=QUALITY, at=at(3)) is False
    assert case.status is CaseStatus.resolution_accepted
    with pytest.raises(CaseConflict):
        case.complete_action(2, by=QUALITY, at=at(4))
    assert case.complete_action(1, by=QUALITY, at=at(5)) is True
    assert case.status is CaseStatus.resolution_implemented


def test_a_satisfied_callback_without_rectifications_closes_with_the_timings() -> None:
    case = implemented_case()
    assert case.record_callback(score=5, comment="好", by=AGENT, at=at(10)) is True
    assert case.status is CaseStatus.closed
    callback, closed = [e for e in case.events if not isinstance(e, HistoryRecorded)]
    assert isinstance(callback, CallbackDone) and callback.satisfied
    assert isinstance(closed, ComplaintClosed)
    assert closed.satisfaction_score == 5 and closed.first_response_at == at(1)
    assert closed.resolution_seconds == 600 and not closed.withdrawn


def test_an_unsatisfied_callback_reopens_the_resolution() -> None:
    case = implemented_case()
    assert case.record_callback(score=2, by=AGENT, at=at(10)) is False
    assert case.status is CaseStatus.awaiting_resolution
    case.propose_resolution(actions=plan(), by=CSC, at=at(11))
    assert case.plan_version == 2


def test_open_rectifications_hold_the_close_until_the_last_is_settled() -> None:
    case = opened_case()
    case.rectification_opened(by=CSC, at=at(1))
    case.rectification_opened(by=CSC, at=at(1))
    case.propose_resolution(actions=plan(), by=CSC, at=at(2))
    case.accept_resolution(by=AGENT, at=at(3))
    case.complete_action(1, by=CSC, at=at(4))
    case.record_callback(score=4, by=AGENT, at=at(5))
    assert case.status is CaseStatus.satisfied
    with pytest.raises(CloseConditionsUnmet) as refused:
        case.close(by=CSC, at=at(6))
    assert refused.value.fields == [
        {"field": "rectifications", "problem": "2 not verified or waived"}
    ]
    assert case.rectification_settled(by=QUALITY, at=at(7)) is False
    assert case.rectification_settled(by=MANAGER, at=at(8), waived=True) is True
    assert case.status is CaseStatus.closed
    closed = case.events[-1]
    assert isinstance(closed, ComplaintClosed)
    assert (closed.rectifications, closed.rectifications_waived) == (2, 1)


def test_a_rectification_cannot_open_on_a_closed_case() -> None:
    case = implemented_case()
    case.record_callback(score=5, by=AGENT, at=at(10))
    with pytest.raises(IllegalTransition):
        case.rectification_opened(by=CSC, at=at(11))
    with pytest.raises(IllegalTransition):
        case.rectification_settled(by=CSC, at=at(11))


def test_closing_lists_every_unmet_condition() -> None:
    case = opened_case()
    case.rectification_opened(by=CSC, at=at(1))
    with pytest.raises(CloseConditionsUnmet) as refused:
        case.close(by=CSC, at=at(2))
    assert [item["field"] for item in refused.value.fields] == [
        "resolution",
        "implementation",
        "callback",
        "rectifications",
    ]
    assert case.status is CaseStatus.awaiting_resolution


def test_a_closed_case_can_be_reopened_and_worked_again() -> None:
    case = implemented_case()
    case.record_callback(score=5, by=AGENT, at=at(10))
    case.reopen(reason="leaking again", by=CSC, at=at(20))
    assert (case.status, case.reopen_count) == (CaseStatus.awaiting_resolution, 1)
    assert event_types(case)[-1] == "ComplaintReopened"


def test_wrong_role_or_department_is_forbidden_before_the_state_is_looked_at() -> None:
    case = opened_case()  # owned by quality
    with pytest.raises(Forbidden):
        case.propose_resolution(actions=plan(), by=SALES, at=at(1))
    with pytest.raises(Forbidden):
        case.reopen(reason="x", by=QUALITY, at=at(1))  # wrong role and wrong state: 403 first
    assert case.events == [] and case.status is CaseStatus.awaiting_resolution


def test_a_case_cannot_close_before_the_customer_has_a_resolution() -> None:
    case = opened_case()
    with pytest.raises(CloseConditionsUnmet):
        case.close(by=CSC, at=at(1))
    assert case.status is CaseStatus.awaiting_resolution and case.events == []


def test_withdrawal_ends_the_case_and_says_so() -> None:
    case = opened_case()
    case.withdraw(reason="solved it myself", by=customer(), at=at(5))
    assert case.status is CaseStatus.withdrawn
    closed = case.events[-1]
    assert isinstance(closed, ComplaintClosed) and closed.withdrawn


def test_waiting_on_the_customer_starts_once_and_ends_on_their_answer() -> None:
    case = opened_case()
    case.start_customer_wait(reason="need photos", by=QUALITY, at=at(1))
    with pytest.raises(CaseConflict):
        case.start_customer_wait(reason="again", by=QUALITY, at=at(2))
    case.end_customer_wait(by=SYSTEM, at=at(3))
    assert not case.waiting_on_customer
    assert event_types(case) == ["CustomerWaitStarted", "CustomerWaitEnded"]


def test_status_cannot_be_assigned_directly() -> None:
    case = opened_case()
    with pytest.raises(AttributeError):
        case.status = CaseStatus.closed  # type: ignore[misc]


def test_a_note_adds_history_without_changing_the_case() -> None:
    case = opened_case()
    case.note("rectification.verification_failed", by=QUALITY, at=at(1), detail="still leaks")
    assert case.status is CaseStatus.awaiting_resolution
    assert case.events == [
        HistoryRecorded(
            case.case_id,
            "rectification.verification_failed",
            CaseStatus.awaiting_resolution,
            CaseStatus.awaiting_resolution,
            at(1),
            "q-1",
            "still leaks",
        )
    ]
