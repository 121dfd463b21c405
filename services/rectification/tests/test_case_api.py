"""The customer resolution over the API, in-process, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

import httpx
import pytest

from tousu_common.db import Database
from tousu_common.events import new_event
from tousu_common.events.catalog import (
    Channel,
    ComplaintAmended,
    ComplaintReassigned,
    ComplaintReceived,
    ComplaintWithdrawn,
    CustomerDecision,
    ResolutionDecisionReceived,
)
from tousu_rectification.handlers.complaint_events import (
    apply_customer_decision,
    end_wait_on_customer_reply,
    follow_reassignment,
    keep_complaint_facts,
    withdraw_case,
)

pytestmark = pytest.mark.integration

Headers = Callable[..., dict[str, str]]
DUE = (date.today() + timedelta(days=7)).isoformat()


def repair(**overrides: object) -> dict[str, object]:
    return {"kind": "repair", "description": "更换密封圈", "due_date": DUE, **overrides}


def refund(amount: str = "1200.50") -> dict[str, object]:
    return {
        "kind": "refund",
        "description": "退还维修费",
        "due_date": DUE,
        "amount": amount,
        "currency": "CNY",
    }


async def apply(db: Database, handler: Callable, payload: object) -> None:
    async with db.transaction() as session:
        await handler(session, new_event(payload, source="tousu/intake"))  # type: ignore[arg-type]


async def test_customer_resolution_from_proposal_to_closing(
    client: httpx.AsyncClient,
    open_case: Callable[..., Awaitable[UUID]],
    staff: Headers,
    staged: Callable,
) -> None:
    complaint = await open_case(owner="quality")
    owner = staff("quality", department="quality", sub="q-zhang")
    agent = staff("agent", department="csc", sub="agent-li")
    base = f"/v1/cases/{complaint}"

    async def post(path: str, headers: dict[str, str], body: object = None) -> dict:
        answer = await client.post(base + path, json=body, headers=headers)
        assert answer.status_code == 200, answer.text
        return answer.json()

    case = await post("/resolution", owner, {"investigation": "密封圈老化", "actions": [repair()]})
    assert (case["status"], case["plan_version"]) == ("resolution_proposed", 1)
    assert case["first_response_at"] == case["resolution_proposed_at"]
    await post("/resolution/decision", agent, {"decision": "reject", "comment": "太慢"})
    case = await post("/resolution", owner, {"actions": [repair(), refund()]})
    assert case["plan_version"] == 2
    await post("/resolution/decision", agent, {"decision": "accept", "plan_version": 2})
    case = await post("/actions/2/done", owner, {"note": "已退款"})
    assert case["status"] == "resolution_accepted"
    assert case["next_due_what"] == "action:1"
    case = await post("/actions/1/done", owner)
    assert case["status"] == "resolution_implemented"
    case = await post("/callback", agent, {"score": 2, "comment": "还是漏"})
    assert case["status"] == "awaiting_resolution"
    await post("/resolution", owner, {"actions": [repair(description="整机更换")]})
    await post("/resolution/decision", agent, {"decision": "accept", "via": "email"})
    await post("/actions/1/done", owner)
    case = await post("/callback", agent, {"score": 5, "comment": "满意"})

    assert case["status"] == "closed"
    assert case["close_conditions_unmet"] == []
    assert [plan["decision"] for plan in case["plans"]] == ["reject", "accept", "accept"]
    assert case["plans"][1]["actions"][1]["amount"] == "1200.50"
    assert [entry["action"] for entry in case["history"]] == [
        "case.opened",
        "case.first_response_recorded",
        "resolution.proposed",
        "resolution.rejected",
        "resolution.proposed",
        "resolution.accepted",
        "resolution.action_done",
        "resolution.action_done",
        "resolution.implemented",
        "callback.done",
        "resolution.proposed",
        "resolution.accepted",
        "resolution.action_done",
        "resolution.implemented",
        "callback.done",
        "complaint.closed",
    ]
    assert {entry["by"] for entry in case["history"][1:]} == {"q-zhang", "agent-li"}
    events = await staged(complaint)
    assert [event_type for event_type, _ in events] == [
        "case.opened",
        "case.first_response_recorded",
        "resolution.proposed",
        "resolution.rejected",
        "resolution.proposed",
        "resolution.accepted",
        "resolution.implemented",
        "callback.done",
        "resolution.proposed",
        "resolution.accepted",
        "resolution.implemented",
        "callback.done",
        "complaint.closed",
    ]
    closed = events[-1][1]
    assert closed["satisfaction_score"] == 5 and closed["reopen_count"] == 0
    assert closed["rectifications"] == 0 and closed["withdrawn"] is False
    assert closed["first_response_at"] is not None and closed["resolution_accepted_at"]
    assert events[4][1]["actions"][1] == {
        "kind": "refund",
        "description": "退还维修费",
        "due_date": DUE,
        "amount": "1200.50",
        "currency": "CNY",
    }


async def test_closed_complaint_reopens_with_a_reason_and_closes_again(
    client: httpx.AsyncClient,
    open_case: Callable[..., Awaitable[UUID]],
    staff: Headers,
    staged: Callable,
    db: Database,
) -> None:
    complaint = await open_case(owner="csc")
    received_at = datetime.now(UTC) - timedelta(hours=3)
    await apply(
        db,
        keep_complaint_facts,
        ComplaintReceived(
            complaint_id=complaint,
            reference="TS-2026-000777",
            channel=Channel.web,
            received_at=received_at,
            title="t",
            description="d",
            feedback_requested=True,
        ),
    )
    csc = staff("csc", department="csc")
    base = f"/v1/cases/{complaint}"
    for path, body in [
        ("/first-response", {"channel": "hotline"}),
        ("/resolution", {"actions": [repair()]}),
        ("/resolution/decision", {"decision": "accept"}),
        ("/actions/1/done", None),
        ("/callback", {"score": 4}),
    ]:
        answer = await client.post(base + path, json=body, headers=csc)
        assert answer.status_code == 200, (path, answer.text)
    assert answer.json()["status"] == "closed"
    assert answer.json()["feedback_requested"] is True

    refused = await client.post(base + "/reopen", json={"reason": ""}, headers=csc)
    assert refused.status_code == 422
    assert refused.json()["error"]["fields"][0]["field"] == "reason"
    reopened = await client.post(base + "/reopen", json={"reason": "又漏了"}, headers=csc)
    assert reopened.status_code == 200
    assert (reopened.json()["status"], reopened.json()["reopen_count"]) == (
        "awaiting_resolution",
        1,
    )
    for path, body in [
        ("/resolution", {"actions": [repair()]}),
        ("/resolution/decision", {"decision": "accept"}),
        ("/actions/1/done", None),
        ("/callback", {"score": 5}),
    ]:
        answer = await client.post(base + path, json=body, headers=csc)
        assert answer.status_code == 200, (path, answer.text)
    events = await staged(complaint)
    types = [event_type for event_type, _ in events]
    assert types.count("complaint.closed") == 2 and types.count("complaint.reopened") == 1
    last = events[-1][1]
    assert last["reopen_count"] == 1
    assert datetime.fromisoformat(last["received_at"]) == received_at
    assert last["customer_tier"] == "general"


async def test_a_plan_with_bad_actions_is_refused_naming_each_field(
    client: httpx.AsyncClient,
    open_case: Callable[..., Awaitable[UUID]],
    staff: Headers,
    staged: Callable,
) -> None:
    complaint = await open_case(owner="csc")
    csc = staff("csc")
    yesterday = (date.today() - timedelta(days=2)).isoformat()
    answer = await client.post(
        f"/v1/cases/{complaint}/resolution",
        json={
            "actions": [
                {"kind": "refund", "description": "退款", "due_date": DUE, "amount": "10"},
                repair(amount="5", due_date=yesterday),
            ]
        },
        headers=csc,
    )
    assert answer.status_code == 422
    # The schema of each kind (in the document) refuses these before anything else.
    assert {item["field"] for item in answer.json()["error"]["fields"]} == {
        "actions.0.currency",
        "actions.1.amount",
    }
    late = await client.post(
        f"/v1/cases/{complaint}/resolution",
        json={"actions": [repair(due_date=yesterday)]},
        headers=csc,
    )
    assert late.status_code == 422
    assert [item["field"] for item in late.json()["error"]["fields"]] == ["actions.0.due_date"]
    for body in (
        {"actions": []},
        {"actions": [refund(amount="-1")]},
        {"actions": [{**refund(), "currency": "cny"}]},
        {"actions": [{**repair(), "kind": "pray"}]},
        {"actions": [repair()], "surprise": 1},
    ):
        invalid = await client.post(f"/v1/cases/{complaint}/resolution", json=body, headers=csc)
        assert invalid.status_code == 422, body
        assert invalid.json()["error"]["fields"], body
    assert [t for t, _ in await staged(complaint)] == ["case.opened"]


async def test_waiting_on_the_customer_pauses_and_their_reply_resumes(
    client: httpx.AsyncClient,
    open_case: Callable[..., Awaitable[UUID]],
    staff: Headers,
    staged: Callable,
    db: Database,
) -> None:
    complaint = await open_case(owner="logistics")
    owner = staff("department", department="logistics")
    base = f"/v1/cases/{complaint}"
    started = await client.post(base + "/customer-wait", json={"reason": "需要照片"}, headers=owner)
    assert started.status_code == 200
    assert started.json()["waiting_on_customer"] is True
    again = await client.post(base + "/customer-wait", json={"reason": "x"}, headers=owner)
    assert again.status_code == 409 and again.json()["error"]["code"] == "case_conflict"
    await apply(
        db,
        end_wait_on_customer_reply,
        ComplaintAmended(
            complaint_id=complaint,
            reference="TS-2026-000777",
            kind="email",
            text="照片见附件",
            amended_at=datetime.now(UTC),
            by="customer",
            from_customer=True,
        ),
    )
    case = (await client.get(base, headers=owner)).json()
    assert case["waiting_on_customer"] is False
    await client.post(base + "/customer-wait", json={"reason": "确认地址"}, headers=owner)
    ended = await client.post(base + "/customer-wait/end", headers=owner)
    assert ended.status_code == 200 and ended.json()["waiting_on_customer"] is False
    assert [t for t, _ in await staged(complaint)] == [
        "case.opened",
        "case.customer_wait_started",
        "case.customer_wait_ended",
        "case.customer_wait_started",
        "case.customer_wait_ended",
    ]
    first = await client.post(base + "/first-response", headers=owner)
    assert first.status_code == 200
    twice = await client.post(base + "/first-response", headers=owner)
    assert twice.status_code == 409 and "already" in twice.json()["error"]["message"]


async def test_the_customers_decision_from_intake_applies_once_for_the_current_plan(
    client: httpx.AsyncClient,
    open_case: Callable[..., Awaitable[UUID]],
    staff: Headers,
    staged: Callable,
    db: Database,
) -> None:
    complaint = await open_case(owner="csc")
    csc = staff("csc")
    base = f"/v1/cases/{complaint}"
    await client.post(base + "/resolution", json={"actions": [repair()]}, headers=csc)
    await client.post(base + "/resolution/decision", json={"decision": "reject"}, headers=csc)
    await client.post(base + "/resolution", json={"actions": [repair()]}, headers=csc)

    def decision(version: int, answer: CustomerDecision) -> ResolutionDecisionReceived:
        return ResolutionDecisionReceived(
            complaint_id=complaint,
            reference="TS-2026-000777",
            plan_version=version,
            decision=answer,
            comment="可以",
            via=Channel.web,
            decided_at=datetime.now(UTC),
        )

    before = await staged(complaint)
    await apply(db, apply_customer_decision, decision(1, CustomerDecision.accept))  # stale plan
    assert await staged(complaint) == before
    await apply(db, apply_customer_decision, decision(2, CustomerDecision.accept))
    await apply(db, apply_customer_decision, decision(2, CustomerDecision.reject))  # too late
    events = await staged(complaint)
    assert [t for t, _ in events[len(before) :]] == ["resolution.accepted"]
    assert events[-1][1]["by"] == "customer" and events[-1][1]["via"] == "web"
    case = (await client.get(base, headers=csc)).json()
    assert case["status"] == "resolution_accepted"
    assert case["plans"][1]["decided_by"] == "customer"


async def test_withdrawal_ends_the_case_and_reassignment_moves_it(
    client: httpx.AsyncClient,
    open_case: Callable[..., Awaitable[UUID]],
    staff: Headers,
    staged: Callable,
    db: Database,
) -> None:
    complaint = await open_case(owner="quality")
    await apply(
        db,
        follow_reassignment,
        ComplaintReassigned(
            complaint_id=complaint,
            reference="TS-2026-000777",
            from_department="quality",
            to_department="sales",
            reason="合同问题",
            by="csc-1",
            reassigned_at=datetime.now(UTC),
        ),
    )
    case = (await client.get(f"/v1/cases/{complaint}", headers=staff("csc"))).json()
    assert case["owner_department"] == "sales"
    assert case["history"][-1]["action"] == "case.owner_changed"
    # The old owner may no longer act; the new one may.
    old = staff("quality", department="quality")
    new = staff("department", department="sales")
    assert (
        await client.post(f"/v1/cases/{complaint}/first-response", headers=old)
    ).status_code == 403
    assert (
        await client.post(f"/v1/cases/{complaint}/first-response", headers=new)
    ).status_code == 200

    await apply(
        db,
        withdraw_case,
        ComplaintWithdrawn(
            complaint_id=complaint,
            reference="TS-2026-000777",
            reason="已自行解决",
            withdrawn_at=datetime.now(UTC),
            by="customer",
        ),
    )
    case = (await client.get(f"/v1/cases/{complaint}", headers=staff("csc"))).json()
    assert case["status"] == "withdrawn"
    event_type, closed = (await staged(complaint))[-1]
    assert event_type == "complaint.closed" and closed["withdrawn"] is True


async def test_worklist_shows_my_departments_open_cases_soonest_due_first(
    client: httpx.AsyncClient,
    open_case: Callable[..., Awaitable[UUID]],
    staff: Headers,
) -> None:
    now = datetime.now(UTC)
    late = await open_case(owner="technical", first_response_due=now - timedelta(hours=1))
    soon = await open_case(owner="technical", first_response_due=now + timedelta(hours=5))
    later = await open_case(
        owner="technical",
        first_response_due=now + timedelta(days=10),
        resolution_plan_due=now + timedelta(days=12),
    )
    await open_case(owner="sales")
    mine = staff("department", department="technical")

    listed = (await client.get("/v1/cases", headers=mine)).json()
    assert [item["complaint_id"] for item in listed["items"]] == [str(late), str(soon), str(later)]
    assert listed["total"] == 3
    assert [item["overdue"] for item in listed["items"]] == [True, False, False]
    assert listed["items"][0]["next_due_what"] == "first_response"

    overdue = (await client.get("/v1/cases?due=overdue", headers=mine)).json()
    assert [item["complaint_id"] for item in overdue["items"]] == [str(late)]
    due_soon = (await client.get("/v1/cases?due=due_soon", headers=mine)).json()
    assert [item["complaint_id"] for item in due_soon["items"]] == [str(soon)]
    page = (await client.get("/v1/cases?limit=1&offset=1", headers=mine)).json()
    assert [item["complaint_id"] for item in page["items"]] == [str(soon)]
    assert page["total"] == 3

    # An action's due date becomes the next due item once the plan is accepted.
    csc = staff("csc")
    await client.post(
        f"/v1/cases/{later}/resolution",
        json={"actions": [repair(due_date=(date.today() + timedelta(days=1)).isoformat())]},
        headers=csc,
    )
    await client.post(
        f"/v1/cases/{later}/resolution/decision", json={"decision": "accept"}, headers=csc
    )
    listed = (await client.get("/v1/cases?due=due_soon", headers=mine)).json()
    assert {item["complaint_id"]: item["next_due_what"] for item in listed["items"]} == {
        str(soon): "first_response",
        str(later): "action:1",
    }

    other = await client.get("/v1/cases?department=sales", headers=mine)
    assert other.status_code == 403
    everything = await client.get("/v1/cases?all_departments=true", headers=mine)
    assert everything.status_code == 403
    csc_view = (await client.get("/v1/cases?department=sales", headers=csc)).json()
    assert csc_view["total"] == 1
    assert (await client.get("/v1/cases?due=someday", headers=mine)).status_code == 422
    assert (await client.get("/v1/cases", headers=staff("manager"))).status_code == 422


async def test_if_match_refuses_a_change_based_on_an_old_version(
    client: httpx.AsyncClient,
    open_case: Callable[..., Awaitable[UUID]],
    staff: Headers,
    staged: Callable,
) -> None:
    complaint = await open_case(owner="csc")
    csc = staff("csc")
    base = f"/v1/cases/{complaint}"
    version = (await client.get(base, headers=csc)).json()["version"]
    first = await client.post(base + "/first-response", headers={**csc, "If-Match": f'"{version}"'})
    assert first.status_code == 200 and first.json()["version"] == version + 1
    stale = await client.post(
        base + "/customer-wait", json={"reason": "照片"}, headers={**csc, "If-Match": str(version)}
    )
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "stale_case"
    garbage = await client.post(
        base + "/customer-wait", json={"reason": "照片"}, headers={**csc, "If-Match": "*x"}
    )
    assert garbage.status_code == 422
    [problem] = garbage.json()["error"]["fields"]
    assert problem["field"] == "header.If-Match" and "pattern" in problem["problem"]
    assert [t for t, _ in await staged(complaint)] == [
        "case.opened",
        "case.first_response_recorded",
    ]


async def test_a_plan_for_a_case_that_does_not_exist_is_404_whatever_its_dates(
    client: httpx.AsyncClient, staff: Headers
) -> None:
    """The case is looked up before the plan's due dates are checked against today."""
    long_ago = repair(due_date="2001-01-01")
    answer = await client.post(
        f"/v1/cases/{uuid4()}/resolution", json={"actions": [long_ago]}, headers=staff("csc")
    )
    assert answer.status_code == 404, answer.text
