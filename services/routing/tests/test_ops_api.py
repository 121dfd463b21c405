"""The operator API (``/v1/ops``, from libs/common) through routing's app on its migrated
database, both backends: who may see and touch dead letters, listing and paging.
Re-drive itself is tested against a running consumer in libs/common/tests/test_dead_letters.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest
import sqlalchemy as sa

from tousu_common.db import Database
from tousu_common.messaging.deadletters import dead_letter_row
from tousu_common.messaging.tables import dead_letter

pytestmark = pytest.mark.integration

Auth = Callable[..., dict[str, str]]


@dataclass
class Record:
    offset: int
    topic: str = "tousu.complaints"
    partition: int = 0
    key: bytes | None = b"9b0c6f3e-0000-4000-8000-000000000001"
    value: bytes | None = b'{"not": "a complaint"}'
    headers: tuple[tuple[str, bytes], ...] = (("ce_type", b"complaint.received"),)


async def dead_letters(db: Database, consumer: str, count: int, first_offset: int = 0) -> None:
    rows = [
        dead_letter_row(consumer, Record(offset=first_offset + n), f"boom {n}", attempts=5)
        for n in range(count)
    ]
    async with db.transaction() as session:
        await session.execute(sa.insert(dead_letter), rows)


async def test_ops_endpoints_need_a_token(client: httpx.AsyncClient) -> None:
    for method, url in [
        ("GET", "/v1/ops/status"),
        ("GET", "/v1/ops/dead-letters"),
        ("GET", "/v1/ops/dead-letters/1"),
        ("POST", "/v1/ops/dead-letters/1/redrive"),
        ("POST", "/v1/ops/dead-letters/1/discard"),
    ]:
        answer = await client.request(method, url)
        assert answer.status_code == 401, url
        assert answer.json()["error"]["code"] == "not_authenticated"


async def test_staff_may_not_read_dead_letters_and_managers_may_not_change_them(
    client: httpx.AsyncClient, db: Database, auth: Auth
) -> None:
    await dead_letters(db, "tousu-routing", 1)
    assert (await client.get("/v1/ops/dead-letters", headers=auth("csc"))).status_code == 403
    assert (await client.get("/v1/ops/status", headers=auth("quality"))).status_code == 403
    listed = await client.get("/v1/ops/dead-letters", headers=auth("manager"))
    assert listed.status_code == 200 and listed.json()["total"] == 1
    dead_id = listed.json()["items"][0]["id"]
    redrive = await client.post(f"/v1/ops/dead-letters/{dead_id}/redrive", headers=auth("manager"))
    assert redrive.status_code == 403
    discard = await client.post(
        f"/v1/ops/dead-letters/{dead_id}/discard", json={"reason": "x"}, headers=auth("manager")
    )
    assert discard.status_code == 403
    assert discard.json()["error"]["message"] == "requires one of the roles: admin"


async def test_unknown_dead_letter_is_404_and_a_bad_id_422(
    client: httpx.AsyncClient, auth: Auth
) -> None:
    for method, url, body in [
        ("GET", "/v1/ops/dead-letters/999", None),
        ("POST", "/v1/ops/dead-letters/999/redrive", None),
        ("POST", "/v1/ops/dead-letters/999/discard", {"reason": "gone"}),
    ]:
        answer = await client.request(method, url, json=body, headers=auth("admin"))
        assert answer.status_code == 404, url
        assert answer.json()["error"] == {"code": "not_found", "message": "no dead letter 999"}
    huge = await client.get(f"/v1/ops/dead-letters/{2**64}", headers=auth("admin"))
    assert huge.status_code == 422
    assert huge.json()["error"]["fields"][0]["field"] == "path.dead_letter_id"


async def test_dead_letters_are_listed_newest_first_filtered_paged_and_without_values(
    client: httpx.AsyncClient, db: Database, auth: Auth
) -> None:
    await dead_letters(db, "tousu-routing", 5)
    await dead_letters(db, "tousu-routing-other", 2, first_offset=100)
    url = "/v1/ops/dead-letters"
    page = (
        await client.get(
            url,
            params={"consumer": "tousu-routing", "limit": 2, "offset": 1},
            headers=auth("admin"),
        )
    ).json()
    assert page["total"] == 5 and (page["limit"], page["offset"]) == (2, 1)
    assert [item["source_offset"] for item in page["items"]] == [3, 2]
    assert all("value" not in item and "headers" not in item for item in page["items"])
    assert page["items"][0]["error"] == "boom 3" and page["items"][0]["status"] == "dead"
    everything = (await client.get(url, headers=auth("admin"))).json()
    assert everything["total"] == 7
    none_discarded = await client.get(url, params={"status": "discarded"}, headers=auth("admin"))
    assert none_discarded.json()["total"] == 0
    bad = await client.get(url, params={"status": "lost", "limit": 0}, headers=auth("admin"))
    assert bad.status_code == 422
    assert {f["field"] for f in bad.json()["error"]["fields"]} == {"query.status", "query.limit"}

    one = everything["items"][0]
    detail = (await client.get(f"{url}/{one['id']}", headers=auth("admin"))).json()
    assert detail["value"] == '{"not": "a complaint"}' and detail["value_encoding"] == "utf-8"
    assert detail["headers"] == [{"name": "ce_type", "value": "complaint.received"}]


async def test_an_offset_past_the_deepest_page_is_a_422_naming_it_not_a_500(
    client: httpx.AsyncClient, auth: Auth
) -> None:
    """Found by schemathesis: an offset past 2**63 reached the database and was a 500."""
    for offset in (263961895495725842432, 1_000_001):
        answer = await client.get(
            "/v1/ops/dead-letters", params={"offset": offset}, headers=auth("admin")
        )
        assert answer.status_code == 422, offset
        assert answer.json()["error"]["fields"][0]["field"] == "query.offset"
    deepest = await client.get(
        "/v1/ops/dead-letters", params={"offset": 1_000_000}, headers=auth("admin")
    )
    assert deepest.status_code == 200 and deepest.json()["items"] == []


async def test_discarding_needs_a_reason_and_records_who_discarded(
    client: httpx.AsyncClient, db: Database, auth: Auth
) -> None:
    await dead_letters(db, "tousu-routing", 1)
    [item] = (await client.get("/v1/ops/dead-letters", headers=auth("admin"))).json()["items"]
    url = f"/v1/ops/dead-letters/{item['id']}/discard"
    blank = await client.post(url, json={"reason": "   "}, headers=auth("admin"))
    assert blank.status_code == 422 and blank.json()["error"]["fields"][0]["field"] == "reason"
    done = await client.post(
        url, json={"reason": "sent by a test tool"}, headers=auth("admin", sub="op-3")
    )
    assert done.status_code == 200
    assert (done.json()["status"], done.json()["redriven_by"]) == ("discarded", "op-3")
    assert done.json()["resolution"] == "sent by a test tool"
    again = await client.post(url, json={"reason": "again"}, headers=auth("admin"))
    assert again.status_code == 409
    redrive = await client.post(f"/v1/ops/dead-letters/{item['id']}/redrive", headers=auth("admin"))
    assert redrive.status_code == 409 and "already discarded" in redrive.json()["error"]["message"]


async def test_input_postgresql_cannot_store_is_a_422_naming_the_field(
    client: httpx.AsyncClient, db: Database, auth: Auth
) -> None:
    await dead_letters(db, "tousu-routing", 1)
    [item] = (await client.get("/v1/ops/dead-letters", headers=auth("admin"))).json()["items"]
    nul_reason = await client.post(
        f"/v1/ops/dead-letters/{item['id']}/discard",
        json={"reason": "bad\u0000reason"},
        headers=auth("admin"),
    )
    assert nul_reason.status_code == 422
    assert nul_reason.json()["error"]["fields"][0]["field"] == "reason"
    nul_consumer = await client.get(
        "/v1/ops/dead-letters", params={"consumer": "a\u0000b"}, headers=auth("admin")
    )
    assert nul_consumer.status_code == 422
    assert nul_consumer.json()["error"]["fields"][0]["field"] == "query.consumer"
