"""The customer's timeline, from events to plain words (no I/O)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import pytest

from tousu_common.events import Event, new_event
from tousu_common.events.catalog import (
    CaseOpened,
    ComplaintAmended,
    ComplaintCategory,
    ComplaintClosed,
    ComplaintTriaged,
    ComplaintWithdrawn,
    ResolutionAccepted,
    ResolutionAction,
    ResolutionDecisionReceived,
    ResolutionProposed,
    SlaWarning,
    Urgency,
)
from tousu_intake.domain.timeline import (
    STAGES,
    Entry,
    TrackingState,
    advance,
    describe,
    entry_for,
    stage_label,
)

CID = uuid4()
REF = "TS-2026-000001"
T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def triaged(minutes: int = 1) -> Event:
    return new_event(
        ComplaintTriaged(
            complaint_id=CID,
            reference=REF,
            category=ComplaintCategory.product_quality,
            urgency=Urgency.urgent,
            owner_department="quality",
            decided_by="rules",
            ruleset_version="1",
            triaged_at=at(minutes),
        ),
        source="test",
    )


def proposed(version: int, minutes: int) -> Event:
    return new_event(
        ResolutionProposed(
            complaint_id=CID,
            reference=REF,
            case_id=uuid4(),
            by="csc-1",
            at=at(minutes),
            plan_version=version,
            actions=[
                ResolutionAction(kind="replace", description="更换油封", due_date=date(2026, 12, 1))
            ],
        ),
        source="test",
    )


def run(events: list[Event]) -> TrackingState:
    state = TrackingState()
    for event in events:
        entry = entry_for(event)
        if entry is not None:
            state = advance(state, entry)
    return state


def test_triage_in_plain_words_in_both_languages() -> None:
    entry = entry_for(triaged())
    assert entry is not None
    assert describe(entry, "zh") == "已分类为产品质量问题（紧急），由质量部负责处理。"
    assert "the Quality department is handling it" in describe(entry, "en")
    state = run([triaged()])
    assert state.stage == "in_progress" and state.owner_department == "quality"
    assert stage_label(state.stage, "zh") == "处理中"


def test_proposed_plan_waits_for_an_answer_until_accepted() -> None:
    state = run([triaged(), proposed(1, 10)])
    assert state.stage == "plan_proposed"
    assert state.pending_plan is not None and state.pending_plan["version"] == 1
    decision = new_event(
        ResolutionDecisionReceived(
            complaint_id=CID,
            reference=REF,
            plan_version=1,
            decision="accept",
            via="web",
            decided_at=at(11),
        ),
        source="test",
    )
    state = run([triaged(), proposed(1, 10), decision])
    assert state.decision_sent == "accept" and state.pending_plan is not None
    accepted = new_event(
        ResolutionAccepted(
            complaint_id=CID,
            reference=REF,
            case_id=uuid4(),
            by="customer",
            at=at(12),
            plan_version=1,
        ),
        source="test",
    )
    state = run([triaged(), proposed(1, 10), decision, accepted])
    assert state.pending_plan is None and state.decision_sent is None
    assert state.stage == "plan_accepted"


def test_a_revised_plan_replaces_the_old_one() -> None:
    state = run([proposed(1, 10), proposed(2, 20)])
    assert state.pending_plan is not None and state.pending_plan["version"] == 2
    # an older plan arriving late does not replace the newer one
    state = run([proposed(2, 20), proposed(1, 10)])
    assert state.pending_plan is not None and state.pending_plan["version"] == 2


def test_an_older_event_from_another_topic_does_not_move_the_stage_back() -> None:
    opened = new_event(
        CaseOpened(
            complaint_id=CID,
            reference=REF,
            case_id=uuid4(),
            status="open",
            owner_department="quality",
            category=ComplaintCategory.product_quality,
            urgency=Urgency.urgent,
            opened_at=at(2),
        ),
        source="test",
    )
    state = run([proposed(1, 10), triaged(1), opened])
    assert state.stage == "plan_proposed"


def test_internal_events_and_staff_notes_are_not_shown() -> None:
    warning = new_event(
        SlaWarning(
            complaint_id=CID,
            reference=REF,
            clock="first_response",
            started_at=at(0),
            due_at=at(120),
            owner_department="quality",
            urgency=Urgency.urgent,
            raised_at=at(90),
        ),
        source="test",
    )
    note = new_event(
        ComplaintAmended(
            complaint_id=CID, reference=REF, kind="note", text="内部", amended_at=at(3), by="a"
        ),
        source="test",
    )
    assert entry_for(warning) is None and entry_for(note) is None


def test_a_withdrawal_stays_withdrawn_when_the_case_is_closed_for_it() -> None:
    """Rectification ends the case with complaint.closed(withdrawn=true); in either
    arrival order the customer reads "withdrawn", once, never "closed"."""
    withdrawn = new_event(
        ComplaintWithdrawn(
            complaint_id=CID, reference=REF, reason="已解决", withdrawn_at=at(5), by="customer"
        ),
        source="test",
    )
    closed = new_event(
        ComplaintClosed(
            complaint_id=CID,
            reference=REF,
            case_id=uuid4(),
            by="system",
            at=at(5),
            category=ComplaintCategory.product_quality,
            urgency=Urgency.urgent,
            owner_department="quality",
            opened_at=at(2),
            withdrawn=True,
        ),
        source="test",
    )
    assert entry_for(closed) is None
    assert run([triaged(), withdrawn, closed]).stage == "withdrawn"
    assert run([triaged(), closed, withdrawn]).stage == "withdrawn"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_entry_kind_and_stage_has_words(lang: str) -> None:
    kinds = [
        "received", "triaged", "retriaged", "reassigned", "duplicate_linked",
        "duplicate_unlinked", "case_opened", "first_response", "waiting_for_customer",
        "wait_ended", "plan_proposed", "plan_accepted", "plan_rejected", "decision_sent",
        "plan_implemented", "callback", "rectification_started", "rectification_verified",
        "rectification_feedback", "customer_added", "closed", "reopened", "withdrawn",
        "feedback_asked", "feedback_answer_sent",
    ]  # fmt: skip
    for kind in kinds:
        text = describe(Entry(kind, T0, {"department": "csc", "actions": []}), lang)
        assert text and text != kind
    for stage in STAGES:
        assert stage_label(stage, lang)
