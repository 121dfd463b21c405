"""Personal data in what customers write: a hotline complaint, a second call and
a withdrawal carry phone numbers, e-mail addresses and an ID number in their
text. On ``tousu.complaints`` (read off the real broker) they are masked, part,
serial and order numbers survive; intake's own API still shows staff what the
customer said, word for word."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from tousu_common.db import Database
from tousu_common.devstack import Broker
from tousu_common.messaging.outbox import OutboxRelay
from tousu_common.testing.helpers import header, read_topic, settings_for_tests

from .conftest import outbox_events

pytestmark = pytest.mark.integration

TITLE = "YC6L-280发动机漏油，请回电13812345678"
DESCRIPTION = (
    "客户王先生反映：2027年3月15日购买的YC6L-280发动机（出厂编号 SN 2027031500123456，"
    "订单号PO-2027-000123）行驶13800公里后缸盖漏油，已花费维修费¥12,800.00元。\n"
    "联系电话13812345678，备用138-1234-5678，微信同号+86 139 8765 4321；"
    "公司座机021-5555 1234转806，深圳办事处(0755)8888-1234。\n"
    "邮箱zhang.san@163.com。身份证号11010519491231002X（报销用）。"
    "贵司客服热线400-800-1234一直占线。"
)
SECOND_CALL = (
    "客户再次来电：漏油加剧，发票请寄到 ｌｉ．ｓｉ＠ｅｘａｍｐｌｅ．ｃｏｍ，"
    "手机１３９１２３４５６７８"
)
WITHDRAWAL = "客户已自行修复，如有问题打0571-87654321找李工"

PERSONAL = [
    "13812345678",
    "1234-5678",
    "8765 4321",
    "5555 1234",
    "8888-1234",
    "zhang.san",
    "19491231",
    "ｌｉ．ｓｉ",
    "１３９１２３４５６７８",
    "87654321",
]
SURVIVORS = [
    "YC6L-280",
    "SN 2027031500123456",
    "PO-2027-000123",
    "13800公里",
    "¥12,800.00元",
    "400-800-1234",
    "漏油",
]


def on_topic(records: list, complaint_id: str) -> dict[str, dict]:
    return {
        header(record, "ce_type"): json.loads(record.value)
        for record in records
        if record.key == complaint_id.encode()
    }


async def test_free_text_on_the_topic_is_masked_and_staff_still_read_the_original(
    client: httpx.AsyncClient,
    headers_for: Callable[..., dict],
    db: Database,
    broker: Broker,
) -> None:
    agent = headers_for("agent")
    created = await client.post(
        "/v1/complaints",
        json={
            "title": TITLE,
            "description": DESCRIPTION,
            "customer_name": "王建国",
            "customer_phone": "+86 138 1234 5678",
            "customer_email": "zhang.san@163.com",
            "product_model": "YC6L-280",
            "serial_number": "SN 2027031500123456",
        },
        headers=agent,
    )
    assert created.status_code == 201, created.text
    complaint_id = created.json()["id"]
    amended = await client.post(
        f"/v1/complaints/{complaint_id}/amendments",
        data={"kind": "call", "text": SECOND_CALL},
        headers=agent,
    )
    assert amended.status_code == 201, amended.text
    withdrawn = await client.post(
        f"/v1/complaints/{complaint_id}/withdraw", json={"reason": WITHDRAWAL}, headers=agent
    )
    assert withdrawn.status_code == 200, withdrawn.text

    # The outbox rows are already masked: a re-publication cannot leak either.
    staged = json.dumps(await outbox_events(db), ensure_ascii=False)
    for personal in PERSONAL:
        assert personal not in staged, personal

    settings = settings_for_tests(broker.bootstrap, db.url)
    relay = OutboxRelay(db, settings)
    try:
        assert await relay.publish_batch() >= 3
    finally:
        await relay.close()
    records = await read_topic(
        broker.bootstrap,
        "tousu.complaints",
        until=lambda rs: len(on_topic(rs, complaint_id)) >= 3,
    )
    events = on_topic(records, complaint_id)
    assert set(events) == {"complaint.received", "complaint.amended", "complaint.withdrawn"}
    wire = b"".join(r.value for r in records if r.key == complaint_id.encode()).decode()
    for personal in PERSONAL:
        assert personal not in wire, personal

    received = events["complaint.received"]
    assert received["title"] == "YC6L-280发动机漏油，请回电138****5678"
    for shown in (
        "联系电话138****5678，备用138****5678，微信同号+86 139****4321；",
        "公司座机021-****1234转806，深圳办事处(0755)****1234。",
        "邮箱z***@163.com。身份证号110105********002X（报销用）。",
    ):
        assert shown in received["description"], shown
    for survivor in SURVIVORS:
        assert survivor in received["description"], survivor
    assert received["serial_number"] == "SN 2027031500123456"  # an identifier, not free text
    assert events["complaint.amended"]["text"] == (
        "客户再次来电：漏油加剧，发票请寄到 l***@example.com，手机139****5678"
    )
    reason = events["complaint.withdrawn"]["reason"]
    assert reason == "客户已自行修复，如有问题打0571-****4321找李工"

    # Intake keeps what the customer said, behind its API, for staff.
    view = await client.get(f"/v1/complaints/{complaint_id}", headers=headers_for("csc"))
    assert view.status_code == 200
    body = view.json()
    assert body["title"] == TITLE and body["description"] == DESCRIPTION
    assert [a["text"] for a in body["amendments"]] == [SECOND_CALL]
    assert (await client.get(f"/v1/complaints/{complaint_id}")).status_code == 401
