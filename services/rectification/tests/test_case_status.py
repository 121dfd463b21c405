"""The case state machine, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from tousu_common.errors import Conflict
from tousu_common.events import CaseOpened, ComplaintCategory, ComplaintTriaged, Urgency
from tousu_rectification.domain.events import StatusChanged
from tousu_rectification.domain.model import Case
from tousu_rectification.domain.status import (
    OPENING_STATUS,
    TRANSITIONS,
    CaseStatus,
    IllegalTransition,
    check_transition,
)

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
CSC = "csc-user-7"


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


# -- the table ---------------------------------------------------------------


def test_every_status_has_a_way_out() -> None:
    # No dead ends: even a closed case can be reopened.
    assert set(TRANSITIONS) == set(CaseStatus)
    assert all(TRANSITIONS[status] for status in CaseStatus)


def test_every_status_is_reachable_from_opening() -> None:
    reached, frontier = {OPENING_STATUS}, [OPENING_STATUS]
    while frontier:
        for target in TRANSITIONS[frontier.pop()]:
            if target not in reached:
                reached.add(target)
                frontier.append(target)
    assert reached == set(CaseStatus)


def test_a_legal_transition_passes_the_check() -> None:
    check_transition(CaseStatus.resolution_proposed, CaseStatus.resolution_accepted)


@pytest.mark.parametrize(
    ("from_status", "to_status"),
    [
        (CaseStatus.awaiting_resolution, CaseStatus.closed),
        (CaseStatus.awaiting_resolution, CaseStatus.resolution_accepted),
        (CaseStatus.resolution_rejected, CaseStatus.resolution_implemented),
        (CaseStatus.resolution_proposed, CaseStatus.resolution_proposed),
        (CaseStatus.closed, CaseStatus.awaiting_resolution),
    ],
)
def test_an_illegal_transition_is_refused_naming_both_statuses(
    from_status: CaseStatus, to_status: CaseStatus
) -> None:
    with pytest.raises(IllegalTransition) as refused:
        check_transition(from_status, to_status)
    assert refused.value.from_status is from_status
    assert refused.value.to_status is to_status
    assert str(from_status) in str(refused.value)
    assert str(to_status) in str(refused.value)


def test_an_illegal_transition_is_a_conflict_for_the_caller() -> None:
    # So the API answers 409 with a JSON body without catching it.
    refused = IllegalTransition(CaseStatus.closed, CaseStatus.resolution_proposed)
    assert isinstance(refused, Conflict)
    assert refused.status_code == 409
    assert refused.code == "illegal_transition"


# -- the aggregate -------------------------------------------------------------


def test_opening_a_case_awaits_a_resolution_and_announces_it() -> None:
    complaint = triaged(owner_department="logistics", category=ComplaintCategory.delivery)
    case = Case.open(complaint, at=T0)
    assert case.status is CaseStatus.awaiting_resolution
    assert case.owner_department == "logistics"
    assert case.version == 1
    history, announcement = case.events
    assert history == StatusChanged(
        case.case_id, None, CaseStatus.awaiting_resolution, T0, "system"
    )
    assert announcement == CaseOpened(
        complaint_id=complaint.complaint_id,
        reference=complaint.reference,
        case_id=case.case_id,
        status="awaiting_resolution",
        owner_department="logistics",
        category=ComplaintCategory.delivery,
        urgency=Urgency.important,
        opened_at=T0,
    )


def test_proposing_a_resolution_moves_the_case_and_records_who_did_it() -> None:
    case = opened_case()
    case.propose_resolution(by=CSC, at=at(30))
    assert case.status is CaseStatus.resolution_proposed
    assert case.events == [
        StatusChanged(
            case_id=case.case_id,
            from_status=CaseStatus.awaiting_resolution,
            to_status=CaseStatus.resolution_proposed,
            at=at(30),
            by=CSC,
        )
    ]


def test_rejected_plan_can_be_revised() -> None:
    case = opened_case()
    case.propose_resolution(by=CSC, at=at(1))
    case.reject_resolution(by="customer", at=at(2))
    case.propose_resolution(by=CSC, at=at(3))
    assert case.status is CaseStatus.resolution_proposed


def test_a_satisfied_customer_lets_the_case_close() -> None:
    case = opened_case()
    case.propose_resolution(by=CSC, at=at(1))
    case.accept_resolution(by="customer", at=at(2))
    case.record_implementation(by="service-station-12", at=at(3))
    case.schedule_callback(by=CSC, at=at(4))
    case.close(by=CSC, at=at(5))
    assert case.status is CaseStatus.closed
    assert [event.to_status for event in case.events if isinstance(event, StatusChanged)] == [
        CaseStatus.resolution_proposed,
        CaseStatus.resolution_accepted,
        CaseStatus.resolution_implemented,
        CaseStatus.awaiting_callback,
        CaseStatus.closed,
    ]


def test_an_unsatisfied_callback_sends_the_case_back_to_work() -> None:
    case = opened_case()
    case.propose_resolution(by=CSC, at=at(1))
    case.accept_resolution(by="customer", at=at(2))
    case.record_implementation(by=CSC, at=at(3))
    case.schedule_callback(by=CSC, at=at(4))
    case.record_dissatisfaction(by=CSC, at=at(5))
    assert case.status is CaseStatus.awaiting_resolution


def test_a_closed_case_can_be_reopened_and_worked_again() -> None:
    case = Case(
        case_id=uuid4(),
        complaint_id=uuid4(),
        reference="TS-2026-000001",
        status=CaseStatus.closed,
        owner_department="csc",
        category=ComplaintCategory.service_quality,
        urgency=Urgency.general,
        opened_at=T0,
        version=7,
    )
    case.reopen(by="manager-1", at=at(1))
    case.resume(by=CSC, at=at(2))
    assert case.status is CaseStatus.awaiting_resolution


def test_a_case_cannot_close_before_the_customer_has_a_resolution() -> None:
    case = opened_case()
    with pytest.raises(IllegalTransition) as refused:
        case.close(by=CSC, at=at(1))
    assert refused.value.from_status is CaseStatus.awaiting_resolution
    assert refused.value.to_status is CaseStatus.closed
    # Refused means untouched: same status, nothing recorded.
    assert case.status is CaseStatus.awaiting_resolution
    assert case.events == []


def test_status_cannot_be_assigned_directly() -> None:
    case = opened_case()
    with pytest.raises(AttributeError):
        case.status = CaseStatus.closed  # type: ignore[misc]
