"""The customer asks for the rectification feedback after filing, is sent it, and
confirms (or disputes) it — recorded on the rectification and on the case (SQLite
and PostgreSQL; the handlers as the inbox consumer calls them)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
import pytest

from tousu_common.db import Database
from tousu_common.events import Event, new_event
from tousu_common.events.catalog import (
    Channel,
    ComplaintFeedbackRequested,
    EventPayload,
    FeedbackAnswer,
    FeedbackAnswerReceived,
)
from tousu_rectification.handlers.feedback import record_feedback_answer, record_feedback_request

from .conftest import in_days, outbox_types

pytestmark = pytest.mark.integration

Headers = Callable[..., dict[str, str]]


async def deliver(db: Database, handler: Callable[..., Awaitable[None]], payload: Any) -> Event:
    """What the inbox consumer does with one event: the handler in one transaction."""
    event = new_event(payload, source="tousu/intake")
    async with db.transaction() as session:
        await handler(session, event)
    return event


def asked(complaint_id: UUID, via: Channel = Channel.web) -> EventPayload:
    return ComplaintFeedbackRequested(
        complaint_id=complaint_id,
        reference="TS-2027-000042",
        via=via,
        requested_at=datetime(2027, 3, 2, 8, 30, tzinfo=UTC),
    )


def answered(complaint_id: UUID, rectification_id: str, answer: FeedbackAnswer) -> EventPayload:
    return FeedbackAnswerReceived(
        complaint_id=complaint_id,
        reference="TS-2027-000042",
        rectification_id=UUID(rectification_id),
        answer=answer,
        via=Channel.web,
        answered_at=datetime(2027, 3, 4, 9, 0, tzinfo=UTC),
    )


async def verified_instruction(api: httpx.AsyncClient, as_: Headers, complaint_id: UUID) -> str:
    """A service instruction taken through done and a passed verification; its id."""
    created = await api.post(
        f"/v1/cases/{complaint_id}/instructions",
        json={"department": "logistics", "instruction": "改进装车固定方式", "due_date": in_days(5)},
        headers=as_("csc"),
    )
    assert created.status_code == 201, created.text
    rid = created.json()["rectification_id"]
    done = await api.post(
        f"/v1/rectifications/{rid}/done",
        json={
            "root_cause_category": "logistics",
            "root_cause": "绑带数量不足",
            "corrective_action": "每托盘四道绑带并拍照留档",
        },
        headers=as_("department", department="logistics"),
    )
    assert done.status_code == 200, done.text
    verified = await api.post(
        f"/v1/rectifications/{rid}/verification",
        json={"passed": True, "comment": "抽查三车，无松动"},
        headers=as_("csc"),
    )
    assert verified.status_code == 200, verified.text
    return rid


async def test_feedback_asked_for_after_verification_is_sent_once_and_confirmed_on_the_case(
    api: httpx.AsyncClient, db: Database, as_: Headers, open_case: Callable[..., Awaitable[UUID]]
) -> None:
    complaint_id = await open_case()
    rid = await verified_instruction(api, as_, complaint_id)
    # Nobody asked at filing: verification alone tells the customer nothing.
    assert "rectification.feedback_requested" not in await outbox_types(db, complaint_id)

    await deliver(db, record_feedback_request, asked(complaint_id))
    await deliver(db, record_feedback_request, asked(complaint_id, Channel.email))  # again
    sent = await outbox_types(db, complaint_id)
    assert sent.count("rectification.feedback_requested") == 1

    case_url = f"/v1/cases/{complaint_id}"
    case = (await api.get(case_url, headers=as_("csc"))).json()
    assert case["feedback_requested"] is True
    assert case["feedback_requested_via"] == "web"
    assert case["feedback_requested_at"].startswith("2027-03-02T08:30")
    assert [(f["rectification_id"], f["answer"]) for f in case["feedback"]] == [(rid, None)]
    assert [
        e["detail"] for e in case["history"] if e["action"] == "customer.feedback_requested"
    ] == [f"via web; fed back now: {case['feedback'][0]['number']}"]

    await deliver(db, record_feedback_answer, answered(complaint_id, rid, FeedbackAnswer.confirmed))
    # A second answer (another tab, a replay with a new id) changes nothing.
    await deliver(db, record_feedback_answer, answered(complaint_id, rid, FeedbackAnswer.disputed))

    case = (await api.get(case_url, headers=as_("csc"))).json()
    [feedback] = case["feedback"]
    assert (feedback["answer"], feedback["via"]) == ("confirmed", "web")
    assert feedback["answered_at"].startswith("2027-03-04T09:00")
    assert [
        e["action"] for e in case["history"] if e["action"].startswith("customer.feedback")
    ] == [
        "customer.feedback_requested",
        "customer.feedback_confirmed",
    ]
    types = await outbox_types(db, complaint_id)
    assert types.count("rectification.feedback_answered") == 1
    rect = (await api.get(f"/v1/rectifications/{rid}", headers=as_("csc"))).json()
    assert [h["action"] for h in rect["history"]][-2:] == ["send_feedback", "feedback_confirmed"]


async def test_feedback_asked_for_before_verification_goes_out_when_it_is_verified(
    api: httpx.AsyncClient, db: Database, as_: Headers, open_case: Callable[..., Awaitable[UUID]]
) -> None:
    complaint_id = await open_case()
    await deliver(db, record_feedback_request, asked(complaint_id, Channel.email))
    rid = await verified_instruction(api, as_, complaint_id)
    types = await outbox_types(db, complaint_id)
    assert types[-2:] == ["rectification.verification_passed", "rectification.feedback_requested"]
    await deliver(db, record_feedback_answer, answered(complaint_id, rid, FeedbackAnswer.disputed))
    case = (await api.get(f"/v1/cases/{complaint_id}", headers=as_("csc"))).json()
    assert case["feedback_requested_via"] == "email"
    assert [(f["rectification_id"], f["answer"]) for f in case["feedback"]] == [(rid, "disputed")]
    assert case["history"][-1]["action"] == "customer.feedback_disputed"


async def test_an_answer_to_feedback_never_sent_is_ignored(
    api: httpx.AsyncClient, db: Database, as_: Headers, open_case: Callable[..., Awaitable[UUID]]
) -> None:
    complaint_id = await open_case()
    rid = await verified_instruction(api, as_, complaint_id)  # no feedback asked for
    before = await outbox_types(db, complaint_id)
    await deliver(db, record_feedback_answer, answered(complaint_id, rid, FeedbackAnswer.confirmed))
    assert await outbox_types(db, complaint_id) == before
    case = (await api.get(f"/v1/cases/{complaint_id}", headers=as_("csc"))).json()
    assert case["feedback"] == []
