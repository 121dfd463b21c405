"""Routing's API in-process on both backends: a person's triage, reassignment,
unlinking duplicates, the rules admin API and its versions, and the worklists."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tousu_common.db import Database
from tousu_common.events.catalog import CustomerTier
from tousu_routing.entrypoints.scheduler import SlaScheduler

from .conftest import MONDAY_10, Desk, FakeTime, received
from .test_desk import staged

pytestmark = pytest.mark.integration

Auth = Callable[..., dict[str, str]]
UNMATCHED = {"title": "其他问题", "description": "希望贵公司能在我们县城开一家门店。"}
MANUAL = {
    "category": "delivery",
    "urgency": "important",
    "owner_department": "logistics",
    "reason": "客户说的是到货延误",
}


async def test_a_persons_triage_overrides_the_queue_and_is_recorded(
    desk: Desk, db: Database, client: httpx.AsyncClient, auth: Auth
) -> None:
    payload = received(**UNMATCHED)
    await desk.deliver(payload)
    url = f"/v1/triage/{payload.complaint_id}"
    queued = (await client.get(url, headers=auth("csc"))).json()
    assert queued["status"] == "manual_triage" and queued["category"] is None
    answer = await client.put(url, json=MANUAL, headers=auth("csc", sub="csc-7"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["status"], body["category"], body["owner_department"]) == (
        "triaged",
        "delivery",
        "logistics",
    )
    assert body["decided_by"] == "csc-7" and body["rule_id"] is None
    [(kind, triaged)] = await staged(db, payload.complaint_id)
    assert kind == "complaint.triaged"
    assert triaged["decided_by"] == "csc-7" and triaged["retriage"] is False
    assert triaged["first_response_due"] is not None


async def test_a_person_overrides_the_rules_as_a_retriage(
    desk: Desk, db: Database, client: httpx.AsyncClient, auth: Auth
) -> None:
    payload = received()  # oil leak: rules say quality / important
    await desk.deliver(payload)
    url = f"/v1/triage/{payload.complaint_id}"
    before = (await client.get(url, headers=auth("csc"))).json()
    body = {
        **MANUAL,
        "category": "product_quality",
        "urgency": "urgent",
        "owner_department": "technical",
    }
    answer = await client.put(url, json=body, headers=auth("manager", sub="mgr-1"))
    assert answer.status_code == 200, answer.text
    after = answer.json()
    assert after["urgency"] == "urgent" and after["decided_by"] == "mgr-1"
    # Urgent: clock time from receipt — the deadline came much closer.
    assert after["first_response_due"] < before["first_response_due"]
    kinds = [(k, p["retriage"], p["decided_by"]) for k, p in await staged(db, payload.complaint_id)]
    assert kinds == [("complaint.triaged", False, "rules"), ("complaint.triaged", True, "mgr-1")]
    history = (await client.get(f"{url}/history", headers=auth("csc"))).json()
    assert [(h["kind"], h["decided_by"], h["reason"]) for h in history] == [
        ("rules", "rules", None),
        ("person", "mgr-1", "客户说的是到货延误"),
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**MANUAL, "owner_department": "marketing"}, "owner_department"),
        ({**MANUAL, "urgency": "asap"}, "urgency"),
        ({**MANUAL, "reason": "x" * 2001}, "reason"),
        ({**MANUAL, "colour": "red"}, "colour"),
    ],
)
async def test_bad_triage_input_names_the_field(
    desk: Desk, client: httpx.AsyncClient, auth: Auth, body: dict[str, Any], field: str
) -> None:
    payload = received(**UNMATCHED)
    await desk.deliver(payload)
    answer = await client.put(f"/v1/triage/{payload.complaint_id}", json=body, headers=auth("csc"))
    assert answer.status_code == 422
    assert field in [f["field"] for f in answer.json()["error"]["fields"]]


async def test_triage_roles_and_missing_complaints(
    desk: Desk, client: httpx.AsyncClient, auth: Auth
) -> None:
    from uuid import uuid4

    payload = received()
    await desk.deliver(payload)
    url = f"/v1/triage/{payload.complaint_id}"
    assert (await client.put(url, json=MANUAL)).status_code == 401
    assert (
        await client.put(url, json=MANUAL, headers=auth("department", department="quality"))
    ).status_code == 403
    assert (
        await client.put(f"/v1/triage/{uuid4()}", json=MANUAL, headers=auth("csc"))
    ).status_code == 404
    # A department sees its own complaints only.
    assert (await client.get(url, headers=auth("quality", department="quality"))).status_code == 200
    other = await client.get(url, headers=auth("department", department="sales"))
    assert other.status_code == 403 and other.json()["error"]["code"] == "forbidden"
    assert (await client.get(url, headers=auth("gateway"))).status_code == 403


async def test_reassignment_moves_the_owner_and_the_clocks_carry_on(
    desk: Desk, db: Database, client: httpx.AsyncClient, auth: Auth
) -> None:
    payload = received()
    await desk.deliver(payload)
    url = f"/v1/triage/{payload.complaint_id}"
    before = (await client.get(url, headers=auth("csc"))).json()
    move = {"department": "supply", "reason": "缸盖垫片是外购件，由供应部跟进"}
    answer = await client.post(f"{url}/reassign", json=move, headers=auth("csc", sub="csc-3"))
    assert answer.status_code == 200, answer.text
    after = answer.json()
    assert after["owner_department"] == "supply"
    assert after["first_response_due"] == before["first_response_due"]
    assert after["resolution_plan_due"] == before["resolution_plan_due"]
    assert [c["started_at"] for c in after["clocks"]] == [c["started_at"] for c in before["clocks"]]
    kind, event = (await staged(db, payload.complaint_id))[-1]
    assert kind == "complaint.reassigned"
    assert (event["from_department"], event["to_department"], event["by"]) == (
        "quality",
        "supply",
        "csc-3",
    )
    history = (await client.get(f"{url}/history", headers=auth("csc"))).json()
    assert [(h["kind"], h["owner_department"], h["decided_by"]) for h in history] == [
        ("rules", "quality", "rules"),
        ("reassignment", "supply", "csc-3"),
    ]
    # The breach now escalates to the new owner's manager.
    await SlaScheduler(db, desk.routing).tick(MONDAY_10 + timedelta(days=30))
    escalated = [p for k, p in await staged(db, payload.complaint_id) if k == "complaint.escalated"]
    assert {p["department"] for p in escalated} == {"supply"}
    again = await client.post(f"{url}/reassign", json=move, headers=auth("csc"))
    assert again.status_code == 409
    no_reason = await client.post(
        f"{url}/reassign", json={"department": "sales"}, headers=auth("csc")
    )
    assert no_reason.status_code == 422
    assert (
        await client.post(f"{url}/reassign", json=move, headers=auth("agent"))
    ).status_code == 403


async def test_an_untriaged_complaint_cannot_be_reassigned(
    desk: Desk, client: httpx.AsyncClient, auth: Auth
) -> None:
    payload = received(**UNMATCHED)
    await desk.deliver(payload)
    answer = await client.post(
        f"/v1/triage/{payload.complaint_id}/reassign",
        json={"department": "sales", "reason": "r"},
        headers=auth("csc"),
    )
    assert answer.status_code == 409


async def test_unlinking_a_duplicate_triages_it_as_new_work(
    desk: Desk, db: Database, client: httpx.AsyncClient, auth: Auth
) -> None:
    first = received()
    await desk.deliver(first)
    again = received(customer_id=first.customer_id, reference="TS-2026-000124")
    await desk.deliver(again)
    url = f"/v1/triage/{again.complaint_id}"
    assert (await client.get(url, headers=auth("csc"))).json()["duplicate_of"] == str(
        first.complaint_id
    )
    # A duplicate is not triaged by hand: unlink it first.
    assert (await client.put(url, json=MANUAL, headers=auth("csc"))).status_code == 409
    assert (
        await client.delete(f"/v1/duplicates/{again.complaint_id}", headers=auth("agent"))
    ).status_code == 403
    answer = await client.delete(
        f"/v1/duplicates/{again.complaint_id}", headers=auth("csc", sub="csc-9")
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "triaged" and answer.json()["duplicate_of"] is None
    kinds = [k for k, _ in await staged(db, again.complaint_id)]
    assert kinds == [
        "complaint.duplicate_linked",
        "complaint.duplicate_unlinked",
        "complaint.triaged",
    ]
    unlinked = (await staged(db, again.complaint_id))[1][1]
    assert unlinked["by"] == "csc-9" and unlinked["was_duplicate_of"] == str(first.complaint_id)
    assert {c["state"] for c in answer.json()["clocks"]} == {"running"}
    # Unlinking twice is a conflict.
    assert (
        await client.delete(f"/v1/duplicates/{again.complaint_id}", headers=auth("csc"))
    ).status_code == 409


# -- rules admin ------------------------------------------------------------------

TECHNICAL_LEAKS = {
    "id": "turbo-leak",
    "description": "增压器漏油归技术部",
    "when": {"any": ["漏油"], "product": ["YC6*"]},
    "then": {"category": "product_quality", "urgency": "urgent", "owner_department": "technical"},
}


async def test_rules_are_edited_as_new_versions(client: httpx.AsyncClient, auth: Auth) -> None:
    admin = auth("admin", sub="admin-1")
    seeded = (await client.get("/v1/rules", headers=admin)).json()
    assert seeded["version"] == 1 and seeded["created_by"] == "system"
    assert seeded["document"]["rules"][0]["id"] == "product-safety"
    added = await client.post("/v1/rules?position=0", json=TECHNICAL_LEAKS, headers=admin)
    assert added.status_code == 201, added.text
    assert added.json()["version"] == 2 and added.json()["created_by"] == "admin-1"
    assert added.json()["document"]["rules"][0]["id"] == "turbo-leak"
    changed = {**TECHNICAL_LEAKS, "then": {**TECHNICAL_LEAKS["then"], "urgency": "important"}}
    answer = await client.put("/v1/rules/turbo-leak?base_version=2", json=changed, headers=admin)
    assert answer.status_code == 201 and answer.json()["version"] == 3
    stale = await client.put("/v1/rules/turbo-leak?base_version=2", json=changed, headers=admin)
    assert stale.status_code == 409
    removed = await client.delete("/v1/rules/turbo-leak", headers=admin)
    assert removed.status_code == 200 and removed.json()["version"] == 4
    assert (await client.delete("/v1/rules/turbo-leak", headers=admin)).status_code == 404
    # Every version stays as it was.
    v2 = (await client.get("/v1/rules/versions/2", headers=admin)).json()
    assert v2["document"]["rules"][0]["then"]["urgency"] == "urgent"
    listing = (await client.get("/v1/rules/versions?limit=2", headers=admin)).json()
    assert listing["total"] == 4 and [v["version"] for v in listing["items"]] == [4, 3]
    assert (await client.get("/v1/rules/versions/99", headers=admin)).status_code == 404


async def test_rule_edits_are_validated_and_admin_only(
    client: httpx.AsyncClient, auth: Auth
) -> None:
    admin = auth("admin")
    duplicate = {**TECHNICAL_LEAKS, "id": "oil-leak"}
    assert (await client.post("/v1/rules", json=duplicate, headers=admin)).status_code == 409
    unknown_group = {**TECHNICAL_LEAKS, "when": {"any": ["@nothing"]}}
    answer = await client.post("/v1/rules", json=unknown_group, headers=admin)
    assert answer.status_code == 422 and "nothing" in answer.text
    mismatch = await client.put("/v1/rules/oil-leak", json=TECHNICAL_LEAKS, headers=admin)
    assert mismatch.status_code == 409 and mismatch.json()["error"]["fields"][0]["field"] == "id"
    bad_department = {
        **TECHNICAL_LEAKS,
        "then": {**TECHNICAL_LEAKS["then"], "owner_department": "x"},
    }
    assert (await client.post("/v1/rules", json=bad_department, headers=admin)).status_code == 422
    for roles in (("csc",), ("manager",)):
        assert (await client.get("/v1/rules", headers=auth(*roles))).status_code == 403
        assert (
            await client.post("/v1/rules", json=TECHNICAL_LEAKS, headers=auth(*roles))
        ).status_code == 403


async def test_the_whole_rule_set_can_be_replaced_and_tried(
    client: httpx.AsyncClient, auth: Auth
) -> None:
    admin = auth("admin")
    document = {"label": "tiny", "rules": [TECHNICAL_LEAKS]}
    answer = await client.put("/v1/rules", json=document, headers=admin)
    assert answer.status_code == 201 and answer.json()["version"] == 2
    trial = await client.post(
        "/v1/rules/trial", json={"title": "增压器漏油", "product_model": "YC6K"}, headers=admin
    )
    assert trial.json()["rule_id"] == "turbo-leak" and trial.json()["ruleset_version"] == "2"


async def test_a_rule_set_change_does_not_alter_past_triage_records(
    desk: Desk, db: Database, client: httpx.AsyncClient, auth: Auth
) -> None:
    earlier = received()
    await desk.deliver(earlier)
    added = await client.post("/v1/rules?position=0", json=TECHNICAL_LEAKS, headers=auth("admin"))
    assert added.status_code == 201
    later = received(reference="TS-2026-000200", customer_id=None)
    await desk.deliver(later)
    old = (await client.get(f"/v1/triage/{earlier.complaint_id}", headers=auth("csc"))).json()
    new = (await client.get(f"/v1/triage/{later.complaint_id}", headers=auth("csc"))).json()
    assert (old["ruleset_version"], old["rule_id"], old["owner_department"], old["urgency"]) == (
        "1",
        "oil-leak",
        "quality",
        "important",
    )
    assert (new["ruleset_version"], new["rule_id"], new["owner_department"], new["urgency"]) == (
        "2",
        "turbo-leak",
        "technical",
        "urgent",
    )
    history = (
        await client.get(f"/v1/triage/{earlier.complaint_id}/history", headers=auth("csc"))
    ).json()
    assert [(h["ruleset_version"], h["rule_id"]) for h in history] == [("1", "oil-leak")]
    # Its SLA clocks were not re-budgeted either.
    assert {c["budget_seconds"] for c in old["clocks"]} != {
        c["budget_seconds"] for c in new["clocks"]
    }
    versions = (await client.get("/v1/rules/versions", headers=auth("admin"))).json()["items"]
    assert {v["version"]: v["decisions"] for v in versions} == {2: 1, 1: 1}


# -- worklists ------------------------------------------------------------------


async def fill(desk: Desk) -> dict[str, Any]:
    """Three quality complaints, one logistics, one in the queue, one awaiting a transcription."""
    made: dict[str, Any] = {}
    for n, hours in enumerate((3, 1, 2)):
        payload = received(
            reference=f"TS-2026-00030{n}",
            customer_id=None,
            received_at=MONDAY_10 + timedelta(hours=hours),
            customer_tier=CustomerTier.key if n == 0 else CustomerTier.general,
            description=f"第{n}台发动机漏油。",
        )
        await desk.deliver(payload)
        made[f"quality{n}"] = payload
    made["logistics"] = received(
        reference="TS-2026-000400", customer_id=None, title="发货延迟", description="至今没有发货。"
    )
    made["queue"] = received(reference="TS-2026-000500", customer_id=None, **UNMATCHED)
    made["fax"] = received(
        reference="TS-2026-000600", customer_id=None, needs_transcription=True, description=""
    )
    for key in ("logistics", "queue", "fax"):
        await desk.deliver(made[key])
    return made


async def test_department_worklist_is_scoped_ordered_and_paginated(
    desk: Desk, client: httpx.AsyncClient, auth: Auth
) -> None:
    made = await fill(desk)
    quality = auth("quality", department="quality")
    page = (await client.get("/v1/worklists/department?limit=2", headers=quality)).json()
    assert page["total"] == 3 and len(page["items"]) == 2
    rest = (await client.get("/v1/worklists/department?limit=2&offset=2", headers=quality)).json()
    refs = [i["reference"] for i in page["items"] + rest["items"]]
    # Nearest deadline first: the key customer's halved clock, then by receipt.
    assert refs == [
        made["quality0"].reference,
        made["quality1"].reference,
        made["quality2"].reference,
    ]
    dues = [i["next_due_at"] for i in page["items"] + rest["items"]]
    assert dues == sorted(dues)
    assert (
        await client.get("/v1/worklists/department?department=logistics", headers=quality)
    ).status_code == 403
    assert (
        await client.get("/v1/worklists/department", headers=auth("department"))
    ).status_code == 403
    key_only = (await client.get("/v1/worklists/department?tier=key", headers=quality)).json()
    assert [i["reference"] for i in key_only["items"]] == [made["quality0"].reference]
    csc = auth("csc", department="csc")
    everything = (await client.get("/v1/worklists/department", headers=csc)).json()
    assert everything["total"] == 4
    logistics = (
        await client.get(
            "/v1/worklists/department?department=logistics&category=delivery", headers=csc
        )
    ).json()
    assert [i["reference"] for i in logistics["items"]] == ["TS-2026-000400"]
    bad = await client.get("/v1/worklists/department?department=nowhere", headers=csc)
    assert bad.status_code == 422
    too_big = await client.get("/v1/worklists/department?limit=100000", headers=csc)
    assert too_big.status_code == 422


async def test_triage_queue_holds_unmatched_and_untranscribed(
    desk: Desk, client: httpx.AsyncClient, auth: Auth
) -> None:
    made = await fill(desk)
    page = (await client.get("/v1/worklists/triage-queue", headers=auth("csc"))).json()
    assert {i["reference"]: i["status"] for i in page["items"]} == {
        made["queue"].reference: "manual_triage",
        made["fax"].reference: "awaiting_transcription",
    }
    assert page["total"] == 2
    faxes = (
        await client.get(
            "/v1/worklists/triage-queue?status=awaiting_transcription", headers=auth("csc")
        )
    ).json()
    assert [i["reference"] for i in faxes["items"]] == [made["fax"].reference]
    assert (
        await client.get(
            "/v1/worklists/triage-queue", headers=auth("quality", department="quality")
        )
    ).status_code == 403


async def test_overdue_list_shows_breached_clocks_per_department(
    desk: Desk, db: Database, client: httpx.AsyncClient, auth: Auth, time: FakeTime
) -> None:
    made = await fill(desk)
    # Tuesday 15:00 Shanghai: the key customer's first response (half a working
    # day) and everyone's 1-working-day first response from Monday are late.
    time.current = MONDAY_10 + timedelta(days=1, hours=5)
    await SlaScheduler(db, desk.routing).tick(time.current)
    quality = (
        await client.get("/v1/worklists/overdue", headers=auth("quality", department="quality"))
    ).json()
    assert quality["total"] == 3 and all(i["breached"] for i in quality["items"])
    csc = (
        await client.get("/v1/worklists/overdue?department=logistics", headers=auth("manager"))
    ).json()
    assert [i["reference"] for i in csc["items"]] == [made["logistics"].reference]
    urgent = (
        await client.get("/v1/worklists/overdue?urgency=urgent", headers=auth("manager"))
    ).json()
    assert urgent["total"] == 0


async def test_a_fax_triaged_by_hand_keeps_its_late_transcription_without_retriage(
    desk: Desk, db: Database, client: httpx.AsyncClient, auth: Auth, time: FakeTime
) -> None:
    from tousu_common.events.catalog import AmendmentKind, ComplaintAmended

    fax = received(title="传真投诉", description="", needs_transcription=True)
    await desk.deliver(fax)
    queue = (await client.get("/v1/worklists/triage-queue", headers=auth("csc"))).json()
    assert [i["status"] for i in queue["items"]] == ["awaiting_transcription"]
    url = f"/v1/triage/{fax.complaint_id}"
    assert (await client.put(url, json=MANUAL, headers=auth("csc"))).status_code == 200
    await desk.deliver(
        ComplaintAmended(
            complaint_id=fax.complaint_id,
            reference=fax.reference,
            kind=AmendmentKind.transcription,
            text="发动机漏油。",
            amended_at=time.now(),
            by="csc-2",
        )
    )
    kinds = [k for k, _ in await staged(db, fax.complaint_id)]
    assert kinds == ["complaint.triaged"]  # the person's decision stands
    assert (await client.get(url, headers=auth("csc"))).json()["owner_department"] == "logistics"
