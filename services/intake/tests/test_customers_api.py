"""The customer register over HTTP: entry, CSV import (UTF-8, GBK), caller lookup."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

pytestmark = pytest.mark.integration

HEADER_EN = "code,name,segment,tier,phones,emails,faxes,products,language\n"
HEADER_ZH = "客户编码,客户名称,客户类型,客户等级,电话,邮箱,传真,产品序列号,语言\n"


def customer_body(**overrides: object) -> dict:
    body: dict = {
        "name": "宇通客车",
        "external_code": "C-100",
        "segment": "oem",
        "tier": "strategic",
        "phones": ["+86 371 6666 8888", "138-0013-8000"],
        "emails": ["Service@Yutong.example"],
        "faxes": ["0371-66668889"],
        "products": [{"model": "YC6L", "serial_number": "sn-100"}],
    }
    body.update(overrides)
    return body


async def test_staff_register_and_edit_customers_others_may_not(
    client: httpx.AsyncClient, headers_for: Callable[..., dict]
) -> None:
    created = await client.post("/v1/customers", json=customer_body(), headers=headers_for("agent"))
    assert created.status_code == 201, created.text
    customer = created.json()
    assert customer["phones"] == ["+86 371 6666 8888", "138-0013-8000"]
    assert customer["products"] == [{"serial_number": "SN-100", "model": "YC6L"}]

    edited = await client.put(
        f"/v1/customers/{customer['id']}",
        json=customer_body(tier="key", phones=["13900000000"]),
        headers=headers_for("csc"),
    )
    assert edited.status_code == 200 and edited.json()["tier"] == "key"
    assert edited.json()["phones"] == ["13900000000"]

    denied = await client.post(
        "/v1/customers", json=customer_body(external_code="C-2"), headers=headers_for("department")
    )
    assert denied.status_code == 403
    readable = await client.get(f"/v1/customers/{customer['id']}", headers=headers_for("quality"))
    assert readable.status_code == 200
    assert (await client.get(f"/v1/customers/{customer['id']}")).status_code == 401

    duplicate = await client.post(
        "/v1/customers", json=customer_body(), headers=headers_for("agent")
    )
    assert duplicate.status_code == 409
    bad_phone = await client.post(
        "/v1/customers",
        json=customer_body(external_code="C-3", phones=["12"]),
        headers=headers_for("agent"),
    )
    assert bad_phone.status_code == 422
    assert bad_phone.json()["error"]["fields"][0]["field"] == "phones.0"


async def test_csv_import_in_gbk_with_chinese_headers_reports_rejected_rows(
    client: httpx.AsyncClient, headers_for: Callable[..., dict]
) -> None:
    rows = (
        HEADER_ZH
        + "K-1,潍柴动力,主机厂,战略,0536-2297000；13800000001,qc@weichai.example,0536-2297001,"
        "WP10:W1001;W1002,中文\n"
        + "K-2,济南经销商,经销商,重要,13800000002,,,,\n"
        + "K-3,,终端客户,一般,13800000003,,,,\n"  # no name
        + "K-4,坏电话,经销商,一般,call me,not-an-email,,,\n"  # two problems
        + "K-5,未知等级,经销商,超级,,,,,\n"
    )
    response = await client.post(
        "/v1/customers/import",
        files={"file": ("客户.csv", rows.encode("gbk"), "text/csv")},
        headers=headers_for("csc"),
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["encoding"] == "gb18030"
    assert (report["imported"], report["updated"]) == (2, 0)
    assert [(p["row"], p["field"]) for p in report["rejected"]] == [
        (4, "name"),
        (5, "phones"),
        (5, "emails"),
        (6, "tier"),
    ]
    found = await client.get(
        "/v1/customers/lookup", params={"serial": "w1002"}, headers=headers_for("agent")
    )
    [customer] = found.json()
    assert customer["name"] == "潍柴动力" and customer["tier"] == "strategic"
    assert customer["segment"] == "oem"
    assert customer["products"] == [
        {"serial_number": "W1001", "model": "WP10"},
        {"serial_number": "W1002", "model": None},
    ]
    # Nothing of the rejected rows exists.
    for phone in ("13800000003", "13800000004"):
        nobody = await client.get(
            "/v1/customers/lookup", params={"phone": phone}, headers=headers_for("agent")
        )
        assert nobody.json() == []


async def test_csv_import_in_utf8_with_bom_upserts_by_code(
    client: httpx.AsyncClient, headers_for: Callable[..., dict]
) -> None:
    first = HEADER_EN + "E-1,Dealer One,dealer,general,13800000011,a@x.example,,,en\n"
    again = (
        HEADER_EN
        + "E-1,Dealer One Ltd,dealer,key,13800000012,,,,en\n"
        + "E-2,End User,end_customer,general,,b@x.example,,SN9,\n"
        + "E-2,End User twice,end_customer,general,,,,,\n"
    )
    headers = headers_for("admin")
    for content, expected in ((first, (1, 0)), (again, (1, 1))):
        response = await client.post(
            "/v1/customers/import",
            files={"file": ("export.csv", b"\xef\xbb\xbf" + content.encode(), "text/csv")},
            headers=headers,
        )
        assert response.status_code == 200, response.text
        report = response.json()
        assert report["encoding"] == "utf-8-sig"
        assert (report["imported"], report["updated"]) == expected
    assert report["rejected"] == [
        {"row": 4, "field": "code", "problem": "the same code is on line 3 too"}
    ]
    [dealer] = (
        await client.get("/v1/customers/lookup", params={"phone": "13800000012"}, headers=headers)
    ).json()
    assert dealer["name"] == "Dealer One Ltd" and dealer["tier"] == "key"
    # The row replaced the old contacts.
    old = await client.get("/v1/customers/lookup", params={"phone": "13800000011"}, headers=headers)
    assert old.json() == []


async def test_csv_import_refuses_unreadable_files_and_strangers(
    client: httpx.AsyncClient, headers_for: Callable[..., dict]
) -> None:
    no_code = await client.post(
        "/v1/customers/import",
        files={"file": ("x.csv", b"name,phones\nA,1\n", "text/csv")},
        headers=headers_for("csc"),
    )
    assert no_code.status_code == 422
    assert no_code.json()["error"]["fields"][0]["field"] == "file"
    binary = await client.post(
        "/v1/customers/import",
        files={"file": ("x.csv", b"\xff\xfe\x00\x00\x81\x30", "text/csv")},
        headers=headers_for("csc"),
    )
    assert binary.status_code == 422
    agent = await client.post(
        "/v1/customers/import",
        files={"file": ("x.csv", HEADER_EN.encode(), "text/csv")},
        headers=headers_for("agent"),
    )
    assert agent.status_code == 403


async def test_lookup_by_any_contact_shows_open_complaints(
    client: httpx.AsyncClient, headers_for: Callable[..., dict]
) -> None:
    agent = headers_for("agent")
    customer = (await client.post("/v1/customers", json=customer_body(), headers=agent)).json()
    filed = await client.post(
        "/v1/complaints",
        json={
            "title": "空调不制冷",
            "description": "车辆空调不制冷",
            "customer_name": "宇通客车 张工",
            "customer_phone": "13800138000",
        },
        headers=agent,
    )
    assert filed.status_code == 201 and filed.json()["customer_id"] == customer["id"]
    for params in (
        {"phone": "+8613800138000"},
        {"email": "service@yutong.EXAMPLE"},
        {"fax": "+86 371 66668889"},
        {"serial": "SN-100"},
    ):
        response = await client.get("/v1/customers/lookup", params=params, headers=agent)
        assert response.status_code == 200, response.text
        [match] = response.json()
        assert match["id"] == customer["id"], params
        assert [c["reference"] for c in match["open_complaints"]] == [filed.json()["reference"]]
    nothing_known = await client.get("/v1/customers/lookup", headers=agent)
    assert nothing_known.status_code == 200 and nothing_known.json() == []
    bad = await client.get("/v1/customers/lookup", params={"phone": "x"}, headers=agent)
    # The document's pattern refuses it, named as every query parameter is.
    assert bad.status_code == 422 and bad.json()["error"]["fields"][0]["field"] == "query.phone"


async def test_provisional_customer_is_merged_into_the_registered_one(
    client: httpx.AsyncClient, headers_for: Callable[..., dict]
) -> None:
    agent = headers_for("agent")
    filed = (
        await client.post(
            "/v1/complaints",
            json={
                "title": "异响",
                "description": "异响",
                "customer_name": "陌生人",
                "customer_phone": "13600000000",
            },
            headers=agent,
        )
    ).json()
    provisional = filed["customer_id"]
    registered = (await client.post("/v1/customers", json=customer_body(), headers=agent)).json()
    refused = await client.post(
        f"/v1/customers/{registered['id']}/merge", json={"into": provisional}, headers=agent
    )
    assert refused.status_code == 409
    merged = await client.post(
        f"/v1/customers/{provisional}/merge", json={"into": registered["id"]}, headers=agent
    )
    assert merged.status_code == 200, merged.text
    assert merged.json()["moved_complaints"] == 1
    assert "13600000000" in merged.json()["customer"]["phones"]
    assert (await client.get(f"/v1/customers/{provisional}", headers=agent)).status_code == 404
    [match] = (
        await client.get("/v1/customers/lookup", params={"phone": "13600000000"}, headers=agent)
    ).json()
    assert match["id"] == registered["id"]
    assert [c["id"] for c in match["open_complaints"]] == [filed["id"]]
