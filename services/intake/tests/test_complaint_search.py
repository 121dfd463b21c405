"""The console's complaint search (issue 15) on ``GET /v1/complaints``: by serial
number (the complaint's own, or its customer's registered product), by text in
the title or description, by channel and by the day received in the company's
time zone, with the total count for a pager. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

import httpx
import pytest

from tousu_common.db import Database
from tousu_common.events import Channel
from tousu_common.events.catalog import CustomerSegment, CustomerTier
from tousu_intake.adapters.customers import CustomerRepository
from tousu_intake.config import Settings
from tousu_intake.domain.commands import ReceiveFromChannel
from tousu_intake.domain.customers import Contact, ContactKind, CustomerRecord, Product
from tousu_intake.handlers.receive import receive

pytestmark = pytest.mark.integration

Filed = dict[str, dict[str, Any]]


def shanghai(day: int, hour: int, minute: int = 0) -> datetime:
    """A wall-clock time in March 2027 in Asia/Shanghai (UTC+8), as an instant."""
    return datetime(2027, 3, day, hour, minute, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)


async def file(db: Database, settings: Settings, **values: Any) -> dict[str, Any]:
    command = ReceiveFromChannel(customer_name=values.pop("customer_name", "王建国"), **values)
    receipt = await receive(db, settings, command, received_by="agent-1")
    return {"id": receipt.body["id"], "reference": receipt.body["reference"], **values}


@pytest.fixture
async def filed(db: Database, tmp_path: Path) -> Filed:
    settings = Settings(jwt_secret="x" * 40, database_url=db.url, data_dir=tmp_path)
    customer = CustomerRecord(
        id=uuid4(),
        name="潍柴客车厂",
        tier=CustomerTier.key,
        segment=CustomerSegment.oem,
        external_code="C-001",
        contacts=[Contact(ContactKind.phone, "8613800138000", "138 0013 8000")],
        products=[Product("SN-0001", "YC6L")],
    )
    async with db.transaction() as session:
        await CustomerRepository(session).save(customer)
    return {
        # 01:00 in Shanghai on 1 March is still 28 February in UTC.
        "leak": await file(
            db,
            settings,
            channel=Channel.hotline,
            customer_id=customer.id,
            title="发动机漏油",
            description="缸盖处漏油，Oil Leak 严重",
            serial_number="sn-0001",
            product_model="YC6L",
            received_at=shanghai(1, 1),
        ),
        # Names no serial number: its customer's register says which engine.
        "service": await file(
            db,
            settings,
            channel=Channel.email,
            customer_id=customer.id,
            title="服务态度差",
            description="维修站人员态度恶劣",
            received_at=shanghai(1, 23, 30),
        ),
        # 00:10 in Shanghai on 2 March is still 1 March in UTC.
        "noise": await file(
            db,
            settings,
            channel=Channel.letter,
            customer_id=customer.id,
            title="发动机异响",
            description="怠速时有异响",
            serial_number="SN-0002",
            received_at=shanghai(2, 0, 10),
        ),
        "late": await file(
            db,
            settings,
            channel=Channel.web,
            customer_name="李四",
            customer_phone="13900139000",
            title="交货延误",
            description="订单 ORDER_7 的货 100% 未到",
            serial_number="SN-0001X",
            received_at=shanghai(5, 10),
        ),
    }


async def search(
    client: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> dict[str, Any]:
    answer = await client.get("/v1/complaints", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


def names(filed: Filed, page: dict[str, Any]) -> list[str]:
    by_id = {c["id"]: name for name, c in filed.items()}
    return [by_id[item["id"]] for item in page["items"]]


@pytest.fixture
def csc(headers_for: Callable[..., dict]) -> dict[str, str]:
    return headers_for("csc")


async def test_by_serial_number_the_complaints_own_or_its_customers_product(
    client: httpx.AsyncClient, csc: dict[str, str], filed: Filed
) -> None:
    page = await search(client, csc, serial=" Sn-0001 ")
    assert names(filed, page) == ["service", "leak"] and page["total"] == 2
    assert page["items"][1]["serial_number"] == "sn-0001"
    assert page["items"][1]["product_model"] == "YC6L"
    assert names(filed, await search(client, csc, serial="SN-0002")) == ["noise"]
    assert names(filed, await search(client, csc, serial="sn-0001x")) == ["late"]
    assert (await search(client, csc, serial="SN-9999"))["total"] == 0


async def test_by_text_in_the_title_or_description_any_case(
    client: httpx.AsyncClient, csc: dict[str, str], filed: Filed
) -> None:
    assert names(filed, await search(client, csc, q="oil leak")) == ["leak"]
    assert names(filed, await search(client, csc, q="发动机")) == ["noise", "leak"]
    assert names(filed, await search(client, csc, q="态度恶劣")) == ["service"]
    # LIKE's wildcards are searched for as themselves.
    assert names(filed, await search(client, csc, q="0%")) == ["late"]
    assert names(filed, await search(client, csc, q="R_7")) == ["late"]
    assert (await search(client, csc, q="R%7"))["total"] == 0
    assert names(filed, await search(client, csc, q="  异响 ")) == ["noise"]


async def test_by_channel_and_by_day_received_in_the_companys_time_zone(
    client: httpx.AsyncClient, csc: dict[str, str], filed: Filed
) -> None:
    assert names(filed, await search(client, csc, channel="email")) == ["service"]
    assert names(filed, await search(client, csc, channel="letter")) == ["noise"]
    one_day = await search(client, csc, received_from="2027-03-01", received_to="2027-03-01")
    assert names(filed, one_day) == ["service", "leak"]
    assert names(filed, await search(client, csc, received_from="2027-03-02")) == [
        "late",
        "noise",
    ]
    assert names(filed, await search(client, csc, received_to="2027-03-01")) == [
        "service",
        "leak",
    ]
    assert (await search(client, csc, received_to="2027-02-28"))["total"] == 0
    # The ends of the calendar are no bound rather than an error.
    everything = await search(client, csc, received_from="0001-01-01", received_to="9999-12-31")
    assert everything["total"] == 4


async def test_filters_combine_and_the_total_counts_every_page(
    client: httpx.AsyncClient, csc: dict[str, str], filed: Filed
) -> None:
    first = await search(client, csc, received_from="2027-03-01", limit=3)
    assert first["total"] == 4 and first["limit"] == 3 and first["offset"] == 0
    assert names(filed, first) == ["late", "noise", "service"]
    rest = await search(client, csc, received_from="2027-03-01", limit=3, offset=3)
    assert rest["total"] == 4 and names(filed, rest) == ["leak"]
    past = await search(client, csc, received_from="2027-03-01", limit=3, offset=6)
    assert past["total"] == 4 and past["items"] == []
    # Every summary keeps the fields it had.
    assert set(first["items"][0]) >= {
        "id",
        "reference",
        "status",
        "channel",
        "title",
        "customer_name",
        "customer_id",
        "key_account",
        "received_at",
        "received_by",
    }
    combined = await search(
        client, csc, serial="SN-0001", q="漏油", channel="hotline", received_to="2027-03-01"
    )
    assert names(filed, combined) == ["leak"] and combined["total"] == 1
    assert (await search(client, csc, serial="SN-0001", channel="web"))["total"] == 0
    by_phone = await search(client, csc, phone="13800138000", q="发动机")
    assert names(filed, by_phone) == ["noise", "leak"]
    by_reference = await search(client, csc, reference=filed["late"]["reference"], q="延误")
    assert names(filed, by_reference) == ["late"]


BAD = [
    ({"q": "漏"}, "query.q"),
    ({"q": "x" * 201}, "query.q"),
    ({"q": "   "}, "query.q"),
    ({"serial": ""}, "query.serial"),
    ({"serial": "S" * 101}, "query.serial"),
    ({"received_from": "2027-3-1"}, "query.received_from"),
    ({"received_from": "0"}, "query.received_from"),
    ({"received_to": "2027-02-30"}, "query.received_to"),
    ({"received_from": "2027-03-02", "received_to": "2027-03-01"}, "query.received_to"),
    ({"channel": "pigeon"}, "query.channel"),
    ({"limit": "0"}, "query.limit"),
    ({"limit": "101"}, "query.limit"),
    ({"offset": "-1"}, "query.offset"),
]


async def test_bad_search_values_are_422_naming_the_field(
    client: httpx.AsyncClient, csc: dict[str, str]
) -> None:
    for params, field in BAD:
        answer = await client.get("/v1/complaints", params=params, headers=csc)
        assert answer.status_code == 422, (params, answer.text)
        assert [f["field"] for f in answer.json()["error"]["fields"]] == [field], params
    assert (await client.get("/v1/complaints", params={"q": "漏油"})).status_code == 401
