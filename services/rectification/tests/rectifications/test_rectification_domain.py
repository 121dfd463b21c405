"""The rectification aggregate without a database: the transition table, who may act,
and the events each transition raises."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import pytest

from tousu_common.auth import Principal
from tousu_common.errors import Conflict, Forbidden, InvalidInput
from tousu_common.events.catalog import RectificationKind, RootCauseCategory
from tousu_rectification.domain.rectification import (
    OPEN,
    TRANSITIONS,
    Action,
    CaseRef,
    EightD,
    QualityReport,
    Rectification,
    RectificationStatus,
    SupplierRef,
    Who,
    supplier_actor,
)

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
CASE = CaseRef(uuid4(), uuid4(), "TS-2026-000123")
CSC = Principal("csc-1", frozenset({"csc"}), "csc")
QUALITY = Principal("qa-1", frozenset({"quality"}), "quality")
SUPPLY = Principal("sp-1", frozenset({"supply"}), "supply")
ADMIN = Principal("root", frozenset({"admin"}), None)
ANSWER = EightD("隔离", "材料", RootCauseCategory.material, "换料", "检验")


def staff(department: str) -> Principal:
    return Principal(f"{department}-1", frozenset({"department"}), department)


def instruction() -> Rectification:
    return Rectification.instruct(
        CASE,
        number="RI-2026-0001",
        department="logistics",
        instruction="整改",
        due_date=date(2026, 12, 1),
        actor=CSC,
        at=NOW,
    )


def supplier_notice() -> tuple[Rectification, SupplierRef]:
    report = QualityReport.issue(
        CASE,
        number="EQR-2026-0001",
        product_model="YC6L",
        serial_or_batch="B1",
        failure_description="漏油",
        quantity_affected=2,
        actor=CSC,
        at=NOW,
    )
    supplier = SupplierRef(uuid4(), "油泵厂")
    notice = Rectification.issue_notice(
        report,
        number="RN-2026-0001",
        department=None,
        supplier=supplier,
        requirement="8D",
        due_date=date(2026, 12, 1),
        actor=QUALITY,
        at=NOW,
    )
    assert report.notice_count == 1
    return notice, supplier


def test_the_table_covers_every_kind_and_every_open_status_can_move() -> None:
    for kind in RectificationKind:
        sources = {s for t in TRANSITIONS if kind in t.kinds for s in t.sources}
        assert sources >= OPEN - (
            {RectificationStatus.awaiting_dispatch, RectificationStatus.awaiting_supplier}
            if kind is not RectificationKind.supplier_notice
            else {RectificationStatus.in_progress}
        ), kind
    settled = {RectificationStatus.verified, RectificationStatus.waived}
    assert not any(set(t.sources) & settled for t in TRANSITIONS)


def test_a_failed_verification_goes_back_to_the_recipient_with_the_reason() -> None:
    rect = instruction()
    rect.mark_done(
        root_cause_category=RootCauseCategory.logistics,
        root_cause="r",
        corrective_action="c",
        actor=staff("logistics"),
        at=NOW,
    )
    with pytest.raises(InvalidInput):
        rect.fail_verification(reason=" ", actor=CSC, at=NOW)
    rect.fail_verification(reason="仍延误", actor=CSC, at=NOW)
    assert rect.status is RectificationStatus.in_progress
    assert [type(e).__name__ for e in rect.events] == [
        "RectificationInstructed",
        "RectificationDone",
        "VerificationFailed",
    ]
    assert [h.by for h in rect.history] == ["csc-1", "logistics-1", "csc-1"]


def test_only_the_recipient_department_marks_an_instruction_done() -> None:
    rect = instruction()
    for wrong in (staff("sales"), CSC, QUALITY, Principal("x", frozenset({"department"}), None)):
        with pytest.raises(Forbidden):
            rect.mark_done(
                root_cause_category=RootCauseCategory.other,
                root_cause="r",
                corrective_action="c",
                actor=wrong,
                at=NOW,
            )
    assert rect.status is RectificationStatus.in_progress and len(rect.history) == 1


def test_a_failed_supplier_verification_waits_for_the_supplier_again() -> None:
    notice, supplier = supplier_notice()
    with pytest.raises(Conflict):  # not dispatched yet
        notice.record_supplier_response(ANSWER, evidence_count=0, actor=SUPPLY, at=NOW)
    notice.dispatch(actor=SUPPLY, at=NOW)
    with pytest.raises(Forbidden):  # another supplier's link
        notice.record_supplier_response(
            ANSWER, evidence_count=0, actor=supplier_actor(uuid4()), at=NOW
        )
    notice.record_supplier_response(
        ANSWER, evidence_count=2, actor=supplier_actor(supplier.supplier_id), at=NOW
    )
    notice.fail_verification(reason="复测渗漏", actor=QUALITY, at=NOW)
    assert notice.status is RectificationStatus.awaiting_supplier
    assert notice.may(Action.record_supplier_response, SUPPLY)


def test_admin_is_never_the_supplier_but_may_act_for_staff() -> None:
    notice, _ = supplier_notice()
    assert not notice._is(Who.supplier, ADMIN)
    notice.dispatch(actor=ADMIN, at=NOW)
    assert notice.status is RectificationStatus.awaiting_supplier


def test_verified_with_feedback_requested_tells_the_customer_plan_and_result() -> None:
    notice, _ = supplier_notice()
    notice.dispatch(actor=SUPPLY, at=NOW)
    notice.record_supplier_response(ANSWER, evidence_count=0, actor=SUPPLY, at=NOW)
    notice.pass_verification(comment="有效", feedback_requested=True, actor=QUALITY, at=NOW)
    feedback = notice.events[-1]
    assert type(feedback).__name__ == "RectificationFeedbackRequested"
    assert "换料" in feedback.summary and "有效" in feedback.summary
    assert feedback.supplier_name == "油泵厂"
    with pytest.raises(Conflict):
        notice.waive(reason="r", actor=Principal("m", frozenset({"manager"}), None), at=NOW)


def test_issuing_needs_the_right_role_and_a_due_date_not_in_the_past() -> None:
    with pytest.raises(Forbidden):
        Rectification.instruct(
            CASE,
            number="n",
            department="sales",
            instruction="i",
            due_date=date(2026, 12, 1),
            actor=QUALITY,
            at=NOW,
        )
    with pytest.raises(InvalidInput):
        Rectification.instruct(
            CASE,
            number="n",
            department="sales",
            instruction="i",
            due_date=NOW.date() - timedelta(days=1),
            actor=CSC,
            at=NOW,
        )
    with pytest.raises(Forbidden):
        QualityReport.issue(
            CASE,
            number="n",
            product_model=None,
            serial_or_batch=None,
            failure_description="d",
            quantity_affected=1,
            actor=QUALITY,
            at=NOW,
        )
