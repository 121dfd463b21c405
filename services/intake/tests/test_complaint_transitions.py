"""The complaint's status table: every legal move works, every other one is a 409."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tousu_common.domain_errors import Conflict
from tousu_common.events.catalog import AmendmentKind, Channel
from tousu_intake.domain.model import (
    ALL_STATUSES,
    COMPLAINT_TRANSITIONS,
    Complaint,
    ComplaintAction,
    ComplaintStatus,
    next_status,
)

AT = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
LEGAL = [
    (action, source, target)
    for action, move in COMPLAINT_TRANSITIONS.items()
    for source, target in sorted(move.steps.items())
]
ILLEGAL = [
    (action, status)
    for action, move in COMPLAINT_TRANSITIONS.items()
    for status in sorted(ALL_STATUSES - set(move.steps))
]


def complaint(status: str) -> Complaint:
    made = Complaint.receive(
        reference="TS-2026-000042",
        channel=Channel.hotline,
        title="漏油",
        description="发动机漏油",
        customer_name="王先生",
        customer_phone=None,
        customer_email=None,
        product_model=None,
        serial_number=None,
        language="zh",
        received_at=AT,
        received_by="agent-1",
    )
    made.status = status
    made.events.clear()
    return made


def act(made: Complaint, action: ComplaintAction) -> None:
    match action:
        case ComplaintAction.transcribe:
            made.amend(
                kind=AmendmentKind.transcription,
                text="打字",
                by="agent-1",
                from_customer=False,
                at=AT,
            )
        case ComplaintAction.withdraw:
            made.withdraw(reason="已解决", by="customer", at=AT)
        case _:
            kind = action.value.removeprefix("mirror_")
            assert made.mirror(kind)


def test_the_table_names_only_known_statuses_and_every_action() -> None:
    assert set(COMPLAINT_TRANSITIONS) == set(ComplaintAction)
    for move in COMPLAINT_TRANSITIONS.values():
        assert set(move.steps) <= ALL_STATUSES
        assert set(move.steps.values()) <= ALL_STATUSES


@pytest.mark.parametrize(("action", "source", "target"), LEGAL)
def test_every_legal_move_works_through_the_aggregate(
    action: ComplaintAction, source: str, target: str
) -> None:
    made = complaint(source)
    act(made, action)
    assert made.status == target


@pytest.mark.parametrize(("action", "status"), ILLEGAL)
def test_every_illegal_move_raises_and_changes_nothing(
    action: ComplaintAction, status: str
) -> None:
    made = complaint(status)
    with pytest.raises(Conflict):
        act(made, action)
    assert made.status == status
    assert made.events == []


def test_refusals_keep_their_messages() -> None:
    with pytest.raises(Conflict, match="TS-2026-000042 is already withdrawn") as caught:
        next_status(ComplaintAction.withdraw, ComplaintStatus.withdrawn, reference="TS-2026-000042")
    assert caught.value.fields == [{"field": "complaint_id", "problem": "already withdrawn"}]
    with pytest.raises(Conflict, match="is not waiting for a transcription") as caught:
        next_status(ComplaintAction.transcribe, ComplaintStatus.received, reference="TS-2026-1")
    assert caught.value.fields == [{"field": "complaint_id", "problem": "status is received"}]


def test_mirror_ignores_entries_that_do_not_concern_the_status() -> None:
    made = complaint(ComplaintStatus.received)
    assert made.mirror("triaged") is False
    assert made.status == ComplaintStatus.received


def test_a_reopened_entry_leaves_an_open_complaint_as_it_is() -> None:
    made = complaint(ComplaintStatus.needs_transcription)
    assert made.mirror("reopened")
    assert made.status == ComplaintStatus.needs_transcription
