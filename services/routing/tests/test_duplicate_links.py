"""A CSC person links a complaint as a duplicate by hand (``POST /v1/duplicates/{id}``,
issue 15's console): the same ``complaint.duplicate_linked`` the rules emit, in the
same transaction, on the topic; afterwards the complaint is what an automatic
link makes it, and the existing unlink undoes it. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from uuid import uuid4

import httpx
import pytest

from tousu_common.db import Database
from tousu_common.devstack import Broker
from tousu_common.events.catalog import (
    AmendmentKind,
    ComplaintAmended,
    ComplaintCategory,
    ComplaintClosed,
    ComplaintWithdrawn,
    Urgency,
)
from tousu_common.messaging.outbox import OutboxRelay
from tousu_common.testing.helpers import header, read_topic, settings_for_tests

from .conftest import MONDAY_10, Desk, FakeTime, received
from .test_desk import staged

pytestmark = pytest.mark.integration

Auth = Callable[..., dict[str, str]]
#: No rule matches it: it waits in the CSC's manual triage queue.
UNMATCHED = {"title": "其他问题", "description": "希望贵公司能在我们县城开一家门店。"}


def link(original_id: Any, reason: str | None = "客户第二次来电，同一台发动机") -> dict[str, Any]:
    body: dict[str, Any] = {"original_id": str(original_id)}
    if reason is not None:
        body["reason"] = reason
    return body


async def queue_refs(client: httpx.AsyncClient, auth: Auth) -> set[str]:
    page = (await client.get("/v1/worklists/triage-queue", headers=auth("csc"))).json()
    return {item["reference"] for item in page["items"]}


async def department_refs(client: httpx.AsyncClient, auth: Auth) -> set[str]:
    page = (await client.get("/v1/worklists/department", headers=auth("csc"))).json()
    return {item["reference"] for item in page["items"]}


async def test_a_complaint_in_the_triage_queue_is_linked_by_hand_and_unlinked_again(
    desk: Desk, db: Database, client: httpx.AsyncClient, auth: Auth, time: FakeTime
) -> None:
    first = received()
    await desk.deliver(first)
    # Another customer record (a colleague of the same company called): the rules
    # cannot link it, a person can.
    again = received(reference="TS-2026-000124", **UNMATCHED)
    await desk.deliver(again)
    assert again.reference in await queue_refs(client, auth)
    time.advance(minutes=30)

    answer = await client.post(
        f"/v1/duplicates/{again.complaint_id}",
        json=link(first.complaint_id, "  同一台发动机，电话13812345678  "),
        headers=auth("csc", sub="csc-7", department="csc"),
    )
    assert answer.status_code == 200, answer.text
    view = answer.json()
    assert view["status"] == "duplicate" and view["duplicate_of"] == str(first.complaint_id)
    assert view["first_response_due"] is None and view["resolution_plan_due"] is None
    assert {c["state"] for c in view["clocks"]} == {"cancelled"}
    assert {c["outcome"] for c in view["clocks"]} == {"cancelled"}
    # Out of the manual triage queue, like an automatic link.
    assert again.reference not in await queue_refs(client, auth)
    stored = (await client.get(f"/v1/triage/{again.complaint_id}", headers=auth("csc"))).json()
    assert stored["status"] == "duplicate" and stored["duplicate_of"] == str(first.complaint_id)

    events = await staged(db, again.complaint_id)
    assert [kind for kind, _ in events] == ["complaint.duplicate_linked"]
    linked = events[0][1]
    assert linked["duplicate_of"] == str(first.complaint_id)
    assert linked["duplicate_of_reference"] == first.reference
    assert linked["by"] == "csc-7"
    assert linked["linked_at"].startswith((MONDAY_10 + timedelta(minutes=31)).date().isoformat())
    # Trimmed, and masked like every free text on the way to the topic.
    assert linked["reason"] == "同一台发动机，电话138****5678"

    # The existing unlink undoes a hand-made link: triaged again as new work.
    unlinked = await client.delete(
        f"/v1/duplicates/{again.complaint_id}", headers=auth("csc", sub="csc-8")
    )
    assert unlinked.status_code == 200, unlinked.text
    assert unlinked.json()["status"] == "manual_triage"
    assert unlinked.json()["duplicate_of"] is None
    assert {c["state"] for c in unlinked.json()["clocks"]} == {"running"}
    assert again.reference in await queue_refs(client, auth)
    kinds = [kind for kind, _ in await staged(db, again.complaint_id)]
    assert kinds == ["complaint.duplicate_linked", "complaint.duplicate_unlinked"]


async def test_a_triaged_complaint_is_not_linked_by_hand_and_nothing_changes(
    desk: Desk, db: Database, client: httpx.AsyncClient, auth: Auth
) -> None:
    """It has a case in rectification already: a link here would leave that case open
    with no clock on it, so the CSC withdraws or closes it there instead."""
    first = received()
    await desk.deliver(first)
    # Same problem, but another serial number: the rules triaged it as new work.
    again = received(
        customer_id=first.customer_id, reference="TS-2026-000124", serial_number="SN-2"
    )
    await desk.deliver(again)
    assert {first.reference, again.reference} <= await department_refs(client, auth)

    answer = await client.post(
        f"/v1/duplicates/{again.complaint_id}",
        json=link(first.complaint_id, reason=None),
        headers=auth("manager", sub="mgr-1"),
    )
    assert answer.status_code == 409, answer.text
    assert answer.json()["error"]["fields"] == [
        {"field": "complaint_id", "problem": "already triaged"}
    ]
    assert again.reference in await department_refs(client, auth)
    kinds = [kind for kind, _ in await staged(db, again.complaint_id)]
    assert kinds == ["complaint.triaged"]


async def test_naming_a_duplicate_links_to_the_complaint_it_repeats(
    desk: Desk, db: Database, client: httpx.AsyncClient, auth: Auth
) -> None:
    first = received()
    await desk.deliver(first)
    repeat = received(customer_id=first.customer_id, reference="TS-2026-000124")
    await desk.deliver(repeat)  # linked by the rules to `first`
    third = received(reference="TS-2026-000125", **UNMATCHED)
    await desk.deliver(third)

    answer = await client.post(
        f"/v1/duplicates/{third.complaint_id}", json=link(repeat.complaint_id), headers=auth("csc")
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["duplicate_of"] == str(first.complaint_id)
    linked = (await staged(db, third.complaint_id))[-1][1]
    assert linked["duplicate_of"] == str(first.complaint_id)
    assert linked["duplicate_of_reference"] == first.reference

    # Naming one's own duplicate is linking to oneself (both wait for triage here).
    fourth = received(reference="TS-2026-000126", **UNMATCHED)
    fifth = received(reference="TS-2026-000127", **UNMATCHED)
    await desk.deliver(fourth)
    await desk.deliver(fifth)
    answer = await client.post(
        f"/v1/duplicates/{fifth.complaint_id}", json=link(fourth.complaint_id), headers=auth("csc")
    )
    assert answer.status_code == 200, answer.text
    answer = await client.post(
        f"/v1/duplicates/{fourth.complaint_id}", json=link(fifth.complaint_id), headers=auth("csc")
    )
    assert answer.status_code == 409, answer.text
    assert answer.json()["error"]["fields"][0]["field"] == "original_id"


async def test_what_cannot_be_linked_is_refused_naming_the_field(
    desk: Desk, db: Database, client: httpx.AsyncClient, auth: Auth, time: FakeTime
) -> None:
    csc = auth("csc")
    first = received()
    await desk.deliver(first)
    again = received(reference="TS-2026-000124", **UNMATCHED)
    await desk.deliver(again)
    url = f"/v1/duplicates/{again.complaint_id}"

    def field_of(answer: httpx.Response) -> str:
        return answer.json()["error"]["fields"][0]["field"]

    # Unknown complaint or original: 404.
    answer = await client.post(
        f"/v1/duplicates/{uuid4()}", json=link(first.complaint_id), headers=csc
    )
    assert answer.status_code == 404 and field_of(answer) == "complaint_id"
    answer = await client.post(url, json=link(uuid4()), headers=csc)
    assert answer.status_code == 404 and field_of(answer) == "original_id"
    # Itself: 409.
    answer = await client.post(url, json=link(again.complaint_id), headers=csc)
    assert answer.status_code == 409 and field_of(answer) == "original_id"
    # Bad bodies: 422 naming the field.
    for body, field in (
        ({"original_id": "not-a-uuid"}, "original_id"),
        ({}, "original_id"),
        ({**link(first.complaint_id), "reason": "x" * 501}, "reason"),
        ({**link(first.complaint_id), "by": "someone"}, "by"),
    ):
        answer = await client.post(url, json=body, headers=csc)
        assert answer.status_code == 422, body
        assert field_of(answer) == field, answer.text
    assert (
        await client.post("/v1/duplicates/nope", json=link(first.complaint_id), headers=csc)
    ).status_code == 422

    # Already linked: 409 (unlink first), whichever original is named.
    other = received(reference="TS-2026-000125")
    await desk.deliver(other)
    assert (await client.post(url, json=link(first.complaint_id), headers=csc)).status_code == 200
    for original in (first.complaint_id, other.complaint_id):
        answer = await client.post(url, json=link(original), headers=csc)
        assert answer.status_code == 409 and field_of(answer) == "complaint_id"
    assert (await client.delete(url, headers=csc)).status_code == 200

    # A closed original: 409 (the new complaint would be nobody's work).
    await desk.deliver(
        ComplaintClosed(
            complaint_id=first.complaint_id,
            reference=first.reference,
            case_id=uuid4(),
            by="csc-1",
            at=time.now(),
            category=ComplaintCategory.product_quality,
            urgency=Urgency.important,
            owner_department="quality",
            opened_at=time.now(),
        )
    )
    answer = await client.post(url, json=link(first.complaint_id), headers=csc)
    assert answer.status_code == 409 and field_of(answer) == "original_id"
    # A withdrawn complaint is not linked either.
    await desk.deliver(
        ComplaintWithdrawn(
            complaint_id=again.complaint_id,
            reference=again.reference,
            reason="已解决",
            withdrawn_at=time.now(),
            by="customer",
        )
    )
    answer = await client.post(url, json=link(other.complaint_id), headers=csc)
    assert answer.status_code == 409 and field_of(answer) == "complaint_id"
    # Nothing of all that reached the outbox but the one link and its unlink.
    kinds = [kind for kind, _ in await staged(db, again.complaint_id)]
    assert kinds.count("complaint.duplicate_linked") == 1


async def test_only_the_triage_desk_links_duplicates(
    desk: Desk, db: Database, client: httpx.AsyncClient, auth: Auth
) -> None:
    first = received()
    await desk.deliver(first)
    again = received(reference="TS-2026-000124", **UNMATCHED)
    await desk.deliver(again)
    url = f"/v1/duplicates/{again.complaint_id}"
    body = link(first.complaint_id)
    assert (await client.post(url, json=body)).status_code == 401
    for headers in (
        auth("agent", department="csc"),
        auth("department", department="logistics"),
        auth("quality", department="quality"),
        auth("supply", department="supply"),
    ):
        answer = await client.post(url, json=body, headers=headers)
        assert answer.status_code == 403, answer.text
    assert [kind for kind, _ in await staged(db, again.complaint_id)] == []
    status = (await client.get(f"/v1/triage/{again.complaint_id}", headers=auth("csc"))).json()
    assert status["status"] == "manual_triage"


async def test_the_hand_made_link_is_on_the_routing_topic(
    desk: Desk, db: Database, client: httpx.AsyncClient, auth: Auth, broker: Broker
) -> None:
    first = received()
    await desk.deliver(first)
    again = received(reference="TS-2026-000124", **UNMATCHED)
    await desk.deliver(again)
    answer = await client.post(
        f"/v1/duplicates/{again.complaint_id}",
        json=link(first.complaint_id, "客户邮箱 zhang.san@163.com 又发了一次"),
        headers=auth("csc", sub="csc-3"),
    )
    assert answer.status_code == 200, answer.text

    relay = OutboxRelay(db, settings_for_tests(broker.bootstrap, db.url))
    try:
        assert await relay.publish_batch() >= 1
    finally:
        await relay.close()
    key = str(again.complaint_id).encode()
    records = await read_topic(
        broker.bootstrap,
        "tousu.routing",
        until=lambda rs: any(
            r.key == key and header(r, "ce_type") == "complaint.duplicate_linked" for r in rs
        ),
    )
    [record] = [
        r for r in records if r.key == key and header(r, "ce_type") == "complaint.duplicate_linked"
    ]
    payload = json.loads(record.value)
    assert payload["duplicate_of"] == str(first.complaint_id)
    assert payload["by"] == "csc-3"
    assert payload["reason"] == "客户邮箱 z***@163.com 又发了一次"
    assert header(record, "ce_source") == "tousu/routing"


async def test_two_people_linking_two_complaints_to_each_other_at_once_make_no_cycle(
    desk: Desk, db: Database, client: httpx.AsyncClient, auth: Auth
) -> None:
    """Each sees the other complaint open and unlinked when it starts; without
    taking turns both links were made (PostgreSQL) and both complaints were
    nobody's work."""
    csc = auth("csc")
    for n in range(6):
        a = received(reference=f"TS-2026-0005{n}0", **UNMATCHED)
        b = received(reference=f"TS-2026-0005{n}1", **UNMATCHED)
        await desk.deliver(a)
        await desk.deliver(b)
        answers = await asyncio.gather(
            client.post(f"/v1/duplicates/{a.complaint_id}", json=link(b.complaint_id), headers=csc),
            client.post(f"/v1/duplicates/{b.complaint_id}", json=link(a.complaint_id), headers=csc),
        )
        assert sorted(answer.status_code for answer in answers) == [200, 409], [
            answer.text for answer in answers
        ]
        statuses = {
            (await client.get(f"/v1/triage/{c.complaint_id}", headers=csc)).json()["status"]
            for c in (a, b)
        }
        assert statuses == {"duplicate", "manual_triage"}, n


async def test_a_link_by_hand_and_the_rules_link_of_the_same_pair_at_once_make_no_cycle(
    desk: Desk, client: httpx.AsyncClient, auth: Auth, time: FakeTime
) -> None:
    """A fax waits for its text; when the text comes the rules link it to the
    customer's earlier complaint — while a person links that earlier complaint
    to the fax. One of the two links wins; never both."""
    csc = auth("csc")
    for n in range(6):
        earlier = received(reference=f"TS-2026-0006{n}0")
        await desk.deliver(earlier)
        fax = received(
            customer_id=earlier.customer_id,
            reference=f"TS-2026-0006{n}1",
            title="传真投诉",
            description="",
            needs_transcription=True,
        )
        await desk.deliver(fax)
        transcription = ComplaintAmended(
            complaint_id=fax.complaint_id,
            reference=fax.reference,
            kind=AmendmentKind.transcription,
            text=earlier.description,
            amended_at=time.now(),
            by="csc-2",
        )
        _, answer = await asyncio.gather(
            desk.deliver(transcription),
            client.post(
                f"/v1/duplicates/{earlier.complaint_id}",
                json=link(fax.complaint_id),
                headers=csc,
            ),
        )
        assert answer.status_code in (200, 409), answer.text
        views = [
            (await client.get(f"/v1/triage/{c.complaint_id}", headers=csc)).json()
            for c in (earlier, fax)
        ]
        duplicates = [view for view in views if view["status"] == "duplicate"]
        assert len(duplicates) == 1, (n, answer.status_code, views)
