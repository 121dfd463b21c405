"""The agents' hotline API: create linked to a customer, amend, withdraw, list mine,
search, attachments, the contact endpoint and the key-account line."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

import httpx
import pytest
import sqlalchemy as sa

from tousu_common.db import Database
from tousu_common.events import new_event
from tousu_common.events.catalog import ComplaintCategory, ComplaintClosed, Urgency
from tousu_intake.adapters.orm import ComplaintRow
from tousu_intake.domain.tracking import verify_tracking_token
from tousu_intake.handlers.tracking import project_event

from .conftest import count_rows, outbox_events, statements, stored_files

pytestmark = pytest.mark.integration

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7V\xbd\xfa"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)


def complaint(**overrides: object) -> dict:
    body: dict = {
        "title": "发动机漏油",
        "description": "客户卡车发动机漏油",
        "customer_name": "王建国",
        "customer_phone": "+86 138 0013 8000",
        "product_model": "YC6L",
        "serial_number": "SN-1",
    }
    body.update(overrides)
    return body


async def test_unknown_caller_gets_a_provisional_customer_and_a_tracking_token(
    client: httpx.AsyncClient, headers_for: Callable[..., dict], db: Database, jwt_secret: str
) -> None:
    response = await client.post("/v1/complaints", json=complaint(), headers=headers_for("agent"))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["provisional_customer"] is True and body["key_account"] is False
    assert verify_tracking_token(jwt_secret, body["id"], body["tracking_token"])
    [event] = await outbox_events(db)
    assert event["provisional_customer"] is True
    assert event["customer_id"] == body["customer_id"]
    customer = await client.get(
        f"/v1/customers/{body['customer_id']}", headers=headers_for("agent")
    )
    assert customer.json()["provisional"] is True and customer.json()["name"] == "王建国"


async def test_strategic_customer_is_flagged_on_every_channel_and_on_the_dedicated_one(
    client: httpx.AsyncClient, headers_for: Callable[..., dict], db: Database
) -> None:
    agent = headers_for("agent")
    customer = (
        await client.post(
            "/v1/customers",
            json={
                "name": "一汽解放",
                "tier": "key",
                "segment": "oem",
                "emails": ["qa@faw.example"],
            },
            headers=agent,
        )
    ).json()
    by_id = await client.post(
        "/v1/complaints", json=complaint(customer_id=customer["id"]), headers=agent
    )
    by_email = await client.post(
        "/v1/complaints",
        json=complaint(customer_phone=None, customer_email="QA@faw.example"),
        headers=agent,
    )
    dedicated = await client.post(
        "/v1/channels/key-account", json=complaint(customer_phone="13911112222"), headers=agent
    )
    for response in (by_id, by_email, dedicated):
        assert response.status_code == 201, response.text
        assert response.json()["key_account"] is True
    events = await outbox_events(db)
    assert [(e["channel"], e["key_account"], e["customer_tier"]) for e in events] == [
        ("hotline", True, "key"),
        ("hotline", True, "key"),
        ("key_account", True, "general"),
    ]
    assert events[0]["customer_segment"] == "oem"
    gateway = await client.post(
        "/v1/channels/key-account", json=complaint(), headers=headers_for("gateway")
    )
    assert gateway.status_code == 403


async def test_amendment_with_a_file_is_listed_and_downloadable_by_staff_only(
    client: httpx.AsyncClient, headers_for: Callable[..., dict], db: Database, data_dir: Path
) -> None:
    agent = headers_for("agent")
    created = (await client.post("/v1/complaints", json=complaint(), headers=agent)).json()
    amended = await client.post(
        f"/v1/complaints/{created['id']}/amendments",
        data={"kind": "call", "text": "客户再次来电：漏油加剧"},
        files=[("files", ("现场照片.jpg", PNG, "image/jpeg"))],  # it is really a PNG
        headers=agent,
    )
    assert amended.status_code == 201, amended.text
    assert amended.json()["from_customer"] is True
    events = await outbox_events(db)
    assert [e["type"] for e in events] == ["complaint.received", "complaint.amended"]
    assert events[1]["kind"] == "call" and events[1]["attachment_count"] == 1

    view = (await client.get(f"/v1/complaints/{created['id']}", headers=agent)).json()
    [attachment] = view["attachments"]
    assert attachment["content_type"] == "image/png"
    assert attachment["filename"] == "现场照片.jpg.png"
    assert [a["text"] for a in view["amendments"]] == ["客户再次来电：漏油加剧"]

    download = await client.get(attachment["url"], headers=headers_for("quality"))
    assert download.status_code == 200 and download.content == PNG
    assert download.headers["content-type"] == "image/png"
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["content-disposition"].startswith("attachment;")
    assert (await client.get(attachment["url"], headers=headers_for("gateway"))).status_code == 403
    assert (await client.get(attachment["url"])).status_code == 401
    other = (await client.post("/v1/complaints", json=complaint(), headers=agent)).json()
    wrong = f"/v1/complaints/{other['id']}/attachments/{attachment['id']}"
    assert (await client.get(wrong, headers=agent)).status_code == 404
    assert len(stored_files(data_dir)) == 1


async def test_bad_amendments_change_nothing(
    client: httpx.AsyncClient, headers_for: Callable[..., dict], db: Database, data_dir: Path
) -> None:
    agent = headers_for("agent")
    created = (await client.post("/v1/complaints", json=complaint(), headers=agent)).json()
    url = f"/v1/complaints/{created['id']}/amendments"
    exe = await client.post(
        url,
        data={"text": "x"},
        files=[("files", ("a.pdf", b"MZ\x90\x00" * 10, "application/pdf"))],
        headers=agent,
    )
    assert exe.status_code == 422 and exe.json()["error"]["fields"][0]["field"] == "files[0]"
    wrong_kind = await client.post(url, data={"text": "x", "kind": "transcription"}, headers=agent)
    assert wrong_kind.status_code == 422
    unknown = await client.post(
        "/v1/complaints/00000000-0000-0000-0000-000000000000/amendments",
        data={"text": "x"},
        headers=agent,
    )
    assert unknown.status_code == 404
    assert await count_rows(db, "amendments") == 0 and stored_files(data_dir) == []
    assert len(await outbox_events(db)) == 1


async def test_my_recent_complaints_and_search_by_reference_phone_customer_status(
    client: httpx.AsyncClient, headers_for: Callable[..., dict], token_for: Callable[..., str]
) -> None:
    me = {"Authorization": f"Bearer {token_for('agent', sub='agent-me')}"}
    other = {"Authorization": f"Bearer {token_for('agent', sub='agent-other')}"}
    mine = []
    for index in range(3):
        response = await client.post(
            "/v1/complaints", json=complaint(title=f"第{index}件"), headers=me
        )
        mine.append(response.json())
    theirs = (
        await client.post(
            "/v1/complaints", json=complaint(customer_phone="021-5555 0000"), headers=other
        )
    ).json()

    page = (await client.get("/v1/complaints?mine=true&limit=2", headers=me)).json()
    assert page["total"] == 3 and page["limit"] == 2
    assert [item["title"] for item in page["items"]] == ["第2件", "第1件"]
    rest = (await client.get("/v1/complaints?mine=true&limit=2&offset=2", headers=me)).json()
    assert [item["title"] for item in rest["items"]] == ["第0件"]

    by_reference = (
        await client.get(f"/v1/complaints?reference={theirs['reference'].lower()}", headers=me)
    ).json()
    assert [item["id"] for item in by_reference["items"]] == [theirs["id"]]
    by_phone = (await client.get("/v1/complaints?phone=13800138000", headers=me)).json()
    assert by_phone["total"] == 3
    by_landline = (await client.get("/v1/complaints?phone=+862155550000", headers=me)).json()
    assert [item["id"] for item in by_landline["items"]] == [theirs["id"]]
    by_customer = (
        await client.get(f"/v1/complaints?customer_id={mine[0]['customer_id']}", headers=me)
    ).json()
    assert by_customer["total"] == 3  # one caller, one (provisional) customer
    by_status = (await client.get("/v1/complaints?status=needs_transcription", headers=me)).json()
    assert by_status["total"] == 0
    by_name = (await client.get("/v1/complaints?customer_name=建国&open=true", headers=me)).json()
    assert by_name["total"] == 4
    bad = await client.get("/v1/complaints?limit=1000", headers=me)
    assert bad.status_code == 422


async def test_contact_endpoint_gives_notify_what_it_needs(
    client: httpx.AsyncClient, headers_for: Callable[..., dict], jwt_secret: str
) -> None:
    created = (
        await client.post(
            "/v1/complaints",
            json=complaint(customer_email="wang@example.com", language="en"),
            headers=headers_for("agent"),
        )
    ).json()
    contact = await client.get(
        f"/v1/complaints/{created['id']}/contact", headers=headers_for("service")
    )
    assert contact.status_code == 200, contact.text
    body = contact.json()
    assert body["customer_name"] == "王建国" and body["email"] == "wang@example.com"
    assert body["phone"] == "+86 138 0013 8000" and body["language"] == "en"
    assert body["tracking_url"].endswith(
        f"/track/{created['reference']}?token={created['tracking_token']}"
    )
    assert body["customer_tier"] == "general" and body["key_account"] is False
    denied = await client.get(
        f"/v1/complaints/{created['id']}/contact", headers=headers_for("department")
    )
    assert denied.status_code == 403


async def test_batch_contact_read_gives_each_complaint_its_own_customer(
    db: Database, client: httpx.AsyncClient, headers_for: Callable[..., dict]
) -> None:
    agent, service = headers_for("agent"), headers_for("service")
    wang = (
        await client.post(
            "/v1/complaints",
            json=complaint(customer_email="wang@example.com", language="en"),
            headers=agent,
        )
    ).json()
    li = (
        await client.post(
            "/v1/complaints",
            json=complaint(customer_name="李明", customer_phone="+86 139 0000 1111"),
            headers=agent,
        )
    ).json()
    unknown = str(uuid4())
    with statements(db) as batch_read:
        answer = await client.post(
            "/v1/complaints/contacts",
            json={"ids": [wang["id"], unknown, li["id"]]},
            headers=service,
        )
    assert answer.status_code == 200, answer.text
    # complaint, register contacts and filing mail in one statement (notify reads this
    # for every message it sends)
    assert batch_read == {"SELECT complaints": 1}
    by_id = {c["complaint_id"]: c for c in answer.json()["contacts"]}
    assert set(by_id) == {wang["id"], li["id"]}  # the unknown id is left out
    assert by_id[wang["id"]]["email"] == "wang@example.com"
    assert by_id[wang["id"]]["language"] == "en"
    assert by_id[li["id"]]["customer_name"] == "李明" and by_id[li["id"]]["email"] is None
    assert by_id[li["id"]]["phone"] == "+86 139 0000 1111"
    # the same answer as the one-complaint read, field for field
    with statements(db) as single_read:
        single = await client.get(f"/v1/complaints/{wang['id']}/contact", headers=service)
    assert single.json() == by_id[wang["id"]]
    assert single_read == {"SELECT complaints": 1}

    denied = await client.post(
        "/v1/complaints/contacts", json={"ids": [wang["id"]]}, headers=headers_for("department")
    )
    assert denied.status_code == 403
    for ids in ([], [str(uuid4()) for _ in range(101)], ["not-a-uuid"]):
        refused = await client.post("/v1/complaints/contacts", json={"ids": ids}, headers=service)
        assert refused.status_code == 422, refused.text
        assert any("ids" in f["field"] for f in refused.json()["error"]["fields"])


async def test_json_bodies_stay_small_while_uploads_may_be_large(
    client: httpx.AsyncClient, headers_for: Callable[..., dict]
) -> None:
    agent = headers_for("agent")
    huge = await client.post(
        "/v1/complaints", json=complaint(description="漏" * 600_000), headers=agent
    )
    assert huge.status_code == 413 and huge.json()["request_id"]
    assert huge.headers["x-request-id"] == huge.json()["request_id"]
    created = (await client.post("/v1/complaints", json=complaint(), headers=agent)).json()
    text = ("发动机漏油" * 250_000).encode()  # 3.75 MB of text: fine as an upload
    upload = await client.post(
        f"/v1/complaints/{created['id']}/amendments",
        data={"text": "附件：详细记录"},
        files=[("files", ("log.txt", text, "text/plain"))],
        headers=agent,
    )
    assert upload.status_code == 201, upload.text


# --- withdrawal and feedback_requested ----------------------------------------


async def status_of(db: Database, cid: object) -> str:
    async with db.sessions() as session:
        return await session.scalar(
            sa.select(ComplaintRow.status).where(ComplaintRow.id == UUID(str(cid)))
        )


async def test_agent_withdraws_once_with_the_reason_on_the_event(
    client: httpx.AsyncClient, headers_for: Callable[..., dict], db: Database
) -> None:
    agent = headers_for("agent")
    created = (await client.post("/v1/complaints", json=complaint(), headers=agent)).json()
    url = f"/v1/complaints/{created['id']}/withdraw"
    response = await client.post(url, json={"reason": "  客户已自行修复  "}, headers=agent)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "withdrawn" and body["reason"] == "客户已自行修复"
    assert body["reference"] == created["reference"]
    events = await outbox_events(db)
    assert [e["type"] for e in events] == ["complaint.received", "complaint.withdrawn"]
    withdrawn = events[1]
    assert withdrawn["complaint_id"] == created["id"]
    assert withdrawn["reference"] == created["reference"]
    assert withdrawn["reason"] == "客户已自行修复" and withdrawn["by"] == body["by"]
    assert withdrawn["withdrawn_at"]
    assert await status_of(db, created["id"]) == "withdrawn"
    # no longer among the caller's open complaints
    open_list = await client.get("/v1/complaints?open=true", headers=agent)
    assert created["id"] not in [c["id"] for c in open_list.json()["items"]]

    again = await client.post(url, json={"reason": "再撤一次"}, headers=headers_for("csc"))
    assert again.status_code == 409
    error = again.json()["error"]
    assert error["code"] == "conflict"
    assert error["fields"] == [{"field": "complaint_id", "problem": "already withdrawn"}]
    assert len(await outbox_events(db)) == 2
    assert await status_of(db, created["id"]) == "withdrawn"
    # rectification ends the case for it with complaint.closed(withdrawn=true): still withdrawn
    now = datetime.now(UTC)
    case_ended = ComplaintClosed(
        complaint_id=created["id"],
        reference=created["reference"],
        case_id=uuid4(),
        by="system",
        at=now,
        category=ComplaintCategory.product_quality,
        urgency=Urgency.general,
        owner_department="quality",
        opened_at=now,
        withdrawn=True,
    )
    async with db.transaction() as session:
        await project_event(session, new_event(case_ended, source="tousu/rectification"))
    assert await status_of(db, created["id"]) == "withdrawn"


async def test_a_closed_complaint_cannot_be_withdrawn(
    client: httpx.AsyncClient, headers_for: Callable[..., dict], db: Database
) -> None:
    agent = headers_for("agent")
    created = (await client.post("/v1/complaints", json=complaint(), headers=agent)).json()
    now = datetime.now(UTC)
    closed = ComplaintClosed(
        complaint_id=created["id"],
        reference=created["reference"],
        case_id=uuid4(),
        by="csc-1",
        at=now,
        category=ComplaintCategory.product_quality,
        urgency=Urgency.general,
        owner_department="quality",
        opened_at=now,
    )
    async with db.transaction() as session:
        await project_event(session, new_event(closed, source="tousu/rectification"))
    response = await client.post(
        f"/v1/complaints/{created['id']}/withdraw", json={"reason": "晚了"}, headers=agent
    )
    assert response.status_code == 409
    assert response.json()["error"]["fields"][0]["problem"] == "already closed"
    assert [e["type"] for e in await outbox_events(db)] == ["complaint.received"]
    assert await status_of(db, created["id"]) == "closed"


async def test_withdrawal_needs_the_right_role_a_known_complaint_and_a_reason(
    client: httpx.AsyncClient, headers_for: Callable[..., dict], db: Database
) -> None:
    agent = headers_for("agent")
    created = (await client.post("/v1/complaints", json=complaint(), headers=agent)).json()
    url = f"/v1/complaints/{created['id']}/withdraw"
    for role in ("quality", "gateway", "service", "department"):
        refused = await client.post(url, json={"reason": "x"}, headers=headers_for(role))
        assert refused.status_code == 403, role
    assert (await client.post(url, json={"reason": "x"})).status_code == 401
    unknown = await client.post(
        f"/v1/complaints/{uuid4()}/withdraw", json={"reason": "x"}, headers=agent
    )
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    for bad in ({}, {"reason": "   "}, {"reason": "x" * 2001}, {"reason": "x", "by": "me"}):
        invalid = await client.post(url, json=bad, headers=agent)
        assert invalid.status_code == 422, bad
        assert any(
            "reason" in f["field"] or "by" in f["field"] for f in invalid.json()["error"]["fields"]
        )
    longest = await client.post(url, json={"reason": "原" * 2000}, headers=agent)
    assert longest.status_code == 200
    events = await outbox_events(db)
    assert [e["type"] for e in events] == ["complaint.received", "complaint.withdrawn"]
    assert len(events[1]["reason"]) == 2000


async def test_hotline_passes_feedback_requested_to_the_event(
    client: httpx.AsyncClient, headers_for: Callable[..., dict], db: Database
) -> None:
    agent = headers_for("agent")
    wanted = await client.post(
        "/v1/complaints", json=complaint(feedback_requested=True), headers=agent
    )
    default = await client.post("/v1/complaints", json=complaint(), headers=agent)
    assert wanted.status_code == default.status_code == 201
    bad = await client.post(
        "/v1/complaints", json=complaint(feedback_requested="maybe"), headers=agent
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["fields"][0]["field"].endswith("feedback_requested")
    events = await outbox_events(db)
    assert [(e["type"], e["feedback_requested"]) for e in events] == [
        ("complaint.received", True),
        ("complaint.received", False),
    ]
