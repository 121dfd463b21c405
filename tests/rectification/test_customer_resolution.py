"""The customer resolution end to end: real broker, four services as processes,
SQLite and PostgreSQL. The customer's answer arrives the way intake sends it:
a ``resolution.decision_received`` on ``tousu.complaints``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from tousu_common.devstack import Stack
from tousu_common.events import new_event
from tousu_common.events.catalog import Channel, CustomerDecision, ResolutionDecisionReceived
from tousu_common.testing.helpers import header, read_topic
from tousu_common.testing.wait import eventually

from ..conftest import complaint_body, get_json_if

pytestmark = pytest.mark.integration

DUE = (date.today() + timedelta(days=5)).isoformat()


def action(kind: str = "repair", **extra: object) -> dict[str, object]:
    return {"kind": kind, "description": f"{kind} 发动机", "due_date": DUE, **extra}


async def send_decision(
    bootstrap: str, complaint_id: UUID, reference: str, version: int, decision: CustomerDecision
) -> None:
    """What intake's relay would publish when the customer answers on the tracking page."""
    event = new_event(
        ResolutionDecisionReceived(
            complaint_id=complaint_id,
            reference=reference,
            plan_version=version,
            decision=decision,
            comment="网页确认",
            via=Channel.web,
            decided_at=datetime.now(UTC),
        ),
        source="tousu/intake",
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            event.topic, event.value(), key=event.key, headers=event.headers()
        )
    finally:
        await producer.stop()


def test_rejected_revised_accepted_unsatisfied_reworked_satisfied_closed(
    stack: Stack, auth: Callable[..., dict[str, str]]
) -> None:
    agent = auth("agent", sub="agent-li", department="csc")
    owner = auth("quality", sub="q-zhang", department="quality")
    other_department = auth("department", sub="s-wang", department="sales")
    rectification = stack.url("rectification")
    with httpx.Client(timeout=10) as client:
        created = client.post(
            f"{stack.url('intake')}/v1/complaints", json=complaint_body(), headers=auth("agent")
        )
        assert created.status_code == 201, created.text
        complaint_id, reference = UUID(created.json()["id"]), created.json()["reference"]
        case_url = f"{rectification}/v1/cases/{complaint_id}"
        case = eventually(lambda: get_json_if(client, case_url, agent))
        assert case["owner_department"] == "quality"

        def post(path: str, headers: dict[str, str], body: object = None) -> dict:
            answer = client.post(case_url + path, json=body, headers=headers)
            assert answer.status_code == 200, (path, answer.text)
            return answer.json()

        def refused(path: str, headers: dict[str, str], body: object, status: int) -> None:
            version = client.get(case_url, headers=agent).json()["version"]
            answer = client.post(case_url + path, json=body, headers=headers)
            assert answer.status_code == status, (path, answer.text)
            assert client.get(case_url, headers=agent).json()["version"] == version

        refused("/resolution", other_department, {"actions": [action()]}, 403)
        refused("/callback", agent, {"score": 5}, 409)
        post("/resolution", owner, {"investigation": "油封失效", "actions": [action()]})
        post("/resolution/decision", agent, {"decision": "reject", "comment": "要换新机"})
        post(
            "/resolution",
            owner,
            {
                "actions": [
                    action("replace"),
                    action("compensation", amount="800.00", currency="CNY"),
                ]
            },
        )

        async def customer_answers() -> None:
            # An answer to the old plan is ignored; the one to the current plan applies.
            await send_decision(
                stack.bootstrap, complaint_id, reference, 1, CustomerDecision.accept
            )
            await send_decision(
                stack.bootstrap, complaint_id, reference, 2, CustomerDecision.accept
            )

        asyncio.run(customer_answers())
        case = eventually(
            lambda: (
                (c := get_json_if(client, case_url, agent))
                and c["status"] == "resolution_accepted"
                and c
            )
        )
        assert case["plans"][1]["decided_by"] == "customer"
        post("/actions/1/done", owner)
        post("/actions/2/done", owner, {"note": "已转账"})
        case = post("/callback", agent, {"score": 2, "comment": "还在漏油"})
        assert case["status"] == "awaiting_resolution"
        post("/resolution", owner, {"actions": [action("repair")]})
        post("/resolution/decision", agent, {"decision": "accept", "via": "hotline"})
        post("/actions/1/done", owner)
        case = post("/callback", agent, {"score": 5, "comment": "满意"})
        assert case["status"] == "closed"
        refused("/close", auth("csc"), None, 409)

    def closed(records: list) -> bool:
        return any(
            r.key == str(complaint_id).encode() and header(r, "ce_type") == "complaint.closed"
            for r in records
        )

    records = asyncio.run(read_topic(stack.bootstrap, "tousu.cases", until=closed, timeout=30))
    mine = [r for r in records if r.key == str(complaint_id).encode()]
    assert [header(r, "ce_type") for r in mine] == [
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
    payloads = [json.loads(r.value) for r in mine]
    assert [p.get("plan_version") for p in payloads if "plan_version" in p] == [
        1,
        1,
        2,
        2,
        2,
        3,
        3,
        3,
    ]
    assert payloads[5]["by"] == "customer" and payloads[5]["via"] == "web"
    assert payloads[7]["satisfied"] is False and payloads[11]["satisfied"] is True
    final = payloads[-1]
    assert final["satisfaction_score"] == 5 and final["reopen_count"] == 0
    assert final["rectifications"] == 0 and final["withdrawn"] is False
    assert final["received_at"] is not None  # kept from intake's complaint.received
    assert final["customer_tier"] == "general" and final["owner_department"] == "quality"
