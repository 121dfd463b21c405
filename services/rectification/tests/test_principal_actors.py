"""Every actor is a Principal, and the authorization check always runs (issue 16).

No I/O: the case and rectification aggregates on their own. A user id string (or
anything else that is not a :class:`Principal`) is refused with ``TypeError`` — it
can no longer slip past the 403 — and every command that changes state refuses a
principal without the role, leaving the aggregate as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any
from uuid import uuid4

import pytest

from tousu_common.auth import Principal
from tousu_common.errors import Forbidden
from tousu_common.events.catalog import (
    ComplaintCategory,
    ComplaintTriaged,
    FeedbackAnswer,
    ResolutionAction,
    ResolutionActionKind,
    RootCauseCategory,
    Urgency,
)
from tousu_rectification.domain.model import Case
from tousu_rectification.domain.permissions import (
    OWNER_STAFF,
    SYSTEM,
    authorize,
    customer,
    relayed,
)
from tousu_rectification.domain.rectification import (
    CaseRef,
    EightD,
    QualityReport,
    Rectification,
    SupplierRef,
)

T0 = datetime(2027, 3, 1, 8, 0, tzinfo=UTC)
DUE = date(2027, 3, 20)
CASE_REF = CaseRef(uuid4(), uuid4(), "TS-2027-000016")
#: Staff with every token role but none that any of these commands accepts.
NOBODY = Principal("sales-9", frozenset({"department", "gateway", "service"}), "sales")
CSC = Principal("csc-1", frozenset({"csc"}), "csc")
QUALITY = Principal("qa-1", frozenset({"quality"}), "quality")
PLAN = [ResolutionAction(kind=ResolutionActionKind.repair, description="修", due_date=DUE)]
ANSWER = EightD("隔离", "材料", RootCauseCategory.material, "换料", "检验")


def new_case() -> Case:
    triaged = ComplaintTriaged(
        complaint_id=uuid4(),
        reference="TS-2027-000016",
        category=ComplaintCategory.product_quality,
        urgency=Urgency.important,
        owner_department="quality",
        decided_by="rules",
        rule_id="product-quality",
        ruleset_version="2027.1-1",
        triaged_at=T0,
    )
    case = Case.open(triaged, at=T0)
    case.events.clear()
    return case


def instruction() -> Rectification:
    return Rectification.instruct(
        CASE_REF,
        number="RI-2027-0001",
        department="logistics",
        instruction="整改",
        due_date=DUE,
        actor=CSC,
        at=T0,
    )


def report(actor: Any = CSC) -> QualityReport:
    return QualityReport.issue(
        CASE_REF,
        number="EQR-2027-0001",
        product_model="YC6L",
        serial_or_batch="B1",
        failure_description="漏油",
        quantity_affected=2,
        actor=actor,
        at=T0,
    )


def notice(actor: Any = QUALITY) -> Rectification:
    return Rectification.issue_notice(
        report(),
        number="RN-2027-0001",
        department=None,
        supplier=SupplierRef(uuid4(), "油泵厂"),
        requirement="8D",
        due_date=DUE,
        actor=actor,
        at=T0,
    )


Command = Callable[[Any], object]

#: A representative command of each kind: case commands (staff, customer, system-only,
#: caller-checked hooks) and rectification commands (create, transition, feedback).
CASE_COMMANDS: dict[str, Callable[[Case, Any], object]] = {
    "record_first_response": lambda c, by: c.record_first_response(by=by, at=T0),
    "start_customer_wait": lambda c, by: c.start_customer_wait(reason="照片", by=by, at=T0),
    "end_customer_wait": lambda c, by: c.end_customer_wait(by=by, at=T0),
    "propose_resolution": lambda c, by: c.propose_resolution(actions=PLAN, by=by, at=T0),
    "accept_resolution": lambda c, by: c.accept_resolution(by=by, at=T0),
    "reject_resolution": lambda c, by: c.reject_resolution(by=by, at=T0),
    "complete_action": lambda c, by: c.complete_action(1, by=by, at=T0),
    "record_callback": lambda c, by: c.record_callback(score=5, by=by, at=T0),
    "close": lambda c, by: c.close(by=by, at=T0),
    "reopen": lambda c, by: c.reopen(reason="又漏了", by=by, at=T0),
    "withdraw": lambda c, by: c.withdraw(reason="不用了", by=by, at=T0),
    "change_owner": lambda c, by: c.change_owner("sales", by=by, at=T0),
}
#: Hooks whose caller authorized the actor under the rectification's own rule.
CASE_HOOKS: dict[str, Callable[[Case, Any], object]] = {
    "rectification_opened": lambda c, by: c.rectification_opened(by=by, at=T0),
    "rectification_settled": lambda c, by: c.rectification_settled(by=by, at=T0),
    "note": lambda c, by: c.note("rectification.verification_failed", by=by, at=T0),
}
RECTIFICATION_COMMANDS: dict[str, Callable[[Rectification, Any], object]] = {
    "mark_done": lambda r, by: r.mark_done(
        root_cause_category=RootCauseCategory.logistics,
        root_cause="r",
        corrective_action="c",
        actor=by,
        at=T0,
    ),
    "pass_verification": lambda r, by: r.pass_verification(
        comment="ok", feedback_requested=False, actor=by, at=T0
    ),
    "fail_verification": lambda r, by: r.fail_verification(reason="仍延误", actor=by, at=T0),
    "waive": lambda r, by: r.waive(reason="不需要", actor=by, at=T0),
    "send_feedback": lambda r, by: r.send_feedback(actor=by, at=T0),
    "record_feedback_answer": lambda r, by: r.record_feedback_answer(
        FeedbackAnswer.confirmed, via=None, actor=by, at=T0
    ),
}
NOTICE_COMMANDS: dict[str, Callable[[Rectification, Any], object]] = {
    "attach_evidence": lambda r, by: r.attach_evidence(count=1, names="a.jpg", actor=by, at=T0),
    "dispatch": lambda r, by: r.dispatch(actor=by, at=T0),
    "record_supplier_response": lambda r, by: r.record_supplier_response(
        ANSWER, evidence_count=0, actor=by, at=T0
    ),
}
CREATORS: dict[str, Callable[[Any], object]] = {
    "Case.open": lambda by: Case.open(new_case_triaged(), at=T0, by=by),
    "QualityReport.issue": report,
    "Rectification.instruct": lambda by: Rectification.instruct(
        CASE_REF,
        number="RI-2027-0002",
        department="logistics",
        instruction="整改",
        due_date=DUE,
        actor=by,
        at=T0,
    ),
    "Rectification.issue_notice": notice,
}


def new_case_triaged() -> ComplaintTriaged:
    return ComplaintTriaged(
        complaint_id=uuid4(),
        reference="TS-2027-000017",
        category=ComplaintCategory.product_quality,
        urgency=Urgency.important,
        owner_department="logistics",
        decided_by="rules",
        rule_id="delivery",
        ruleset_version="2027.1-1",
        triaged_at=T0,
    )


def everything() -> list[tuple[str, Command]]:
    """(name, call with an actor) for every command above, each on a fresh aggregate."""
    calls: list[tuple[str, Command]] = []
    for name, case_command in {**CASE_COMMANDS, **CASE_HOOKS}.items():
        calls.append((name, lambda by, f=case_command: f(new_case(), by)))
    for name, rect_command in RECTIFICATION_COMMANDS.items():
        calls.append((name, lambda by, f=rect_command: f(instruction(), by)))
    for name, notice_command in NOTICE_COMMANDS.items():
        calls.append((name, lambda by, f=notice_command: f(notice(), by)))
    calls.extend(CREATORS.items())
    calls.append(
        ("authorize", lambda by: authorize(by, OWNER_STAFF, owner_department="q", action="x"))
    )
    return calls


@pytest.mark.parametrize("actor", ["csc-1", "system", None, {"subject": "csc-1"}])
@pytest.mark.parametrize(("name", "call"), everything(), ids=[n for n, _ in everything()])
def test_an_actor_that_is_not_a_principal_is_refused(
    name: str, call: Command, actor: object
) -> None:
    with pytest.raises(TypeError, match="must be a Principal"):
        call(actor)


@pytest.mark.parametrize("name", sorted(CASE_COMMANDS))
def test_every_case_command_refuses_a_principal_without_the_role(name: str) -> None:
    case = new_case()
    before = (case.status, case.owner_department, case.plan_version, case.first_response_at)
    with pytest.raises(Forbidden):
        CASE_COMMANDS[name](case, NOBODY)
    assert (case.status, case.owner_department, case.plan_version, case.first_response_at) == (
        before
    )
    assert case.events == []


@pytest.mark.parametrize("name", sorted(RECTIFICATION_COMMANDS))
def test_every_rectification_command_refuses_a_principal_without_the_role(name: str) -> None:
    rect = instruction()
    before = (rect.status, len(rect.history), len(rect.events), rect.feedback_sent_at)
    with pytest.raises(Forbidden):
        RECTIFICATION_COMMANDS[name](rect, NOBODY)
    assert (rect.status, len(rect.history), len(rect.events), rect.feedback_sent_at) == before


@pytest.mark.parametrize("name", sorted(NOTICE_COMMANDS))
def test_every_notice_command_refuses_a_principal_without_the_role(name: str) -> None:
    rect = notice()
    before = (rect.status, len(rect.history), len(rect.events))
    with pytest.raises(Forbidden):
        NOTICE_COMMANDS[name](rect, NOBODY)
    assert (rect.status, len(rect.history), len(rect.events)) == before


@pytest.mark.parametrize("name", ["QualityReport.issue", "Rectification.instruct"])
def test_creating_refuses_a_principal_without_the_role(name: str) -> None:
    with pytest.raises(Forbidden):
        CREATORS[name](NOBODY)


def test_issue_notice_refuses_a_principal_without_the_role() -> None:
    with pytest.raises(Forbidden):
        notice(NOBODY)


@pytest.mark.parametrize("name", ["withdraw", "change_owner"])
def test_system_only_case_commands_check_the_actor_given_not_the_system(name: str) -> None:
    """Before, withdraw and change_owner checked SYSTEM whoever acted; staff got through."""
    case = new_case()
    with pytest.raises(Forbidden):
        CASE_COMMANDS[name](case, CSC)
    assert case.events == [] and case.owner_department == "quality"


def test_actions_from_other_services_keep_their_subject_in_the_history() -> None:
    case = new_case()
    assert case.change_owner("sales", by=relayed("csc-7"), at=T0) is True
    case.withdraw(reason="不用了", by=relayed("agent-2"), at=T0)
    assert {(type(event).__name__, event.by) for event in case.events} == {
        ("HistoryRecorded", "csc-7"),
        ("HistoryRecorded", "agent-2"),
        ("ComplaintClosed", "agent-2"),
    }
    opened = Case.open(new_case_triaged(), at=T0)
    assert opened.events[0].by == SYSTEM.subject
    rect = instruction()
    RECTIFICATION_COMMANDS["mark_done"](
        rect, Principal("lg-1", frozenset({"department"}), "logistics")
    )
    rect.pass_verification(comment="ok", feedback_requested=False, actor=CSC, at=T0)
    assert rect.send_feedback(actor=customer(), at=T0) is True
    assert rect.history[-1].by == "customer"
