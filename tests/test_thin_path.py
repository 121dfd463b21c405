"""The thin path through the real broker: intake → routing → rectification → notify."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from uuid import UUID

import httpx
import pytest

from tousu_common.devstack import Stack
from tousu_common.testing.helpers import header, read_topic
from tousu_common.testing.wait import eventually

from .conftest import complaint_body, get_json_if

pytestmark = pytest.mark.integration


def test_posted_complaint_is_triaged_opens_a_case_and_is_notified(
    stack: Stack, auth: Callable[..., dict[str, str]]
) -> None:
    staff = auth("agent", "csc")
    with httpx.Client(timeout=10) as client:
        created = client.post(
            f"{stack.url('intake')}/v1/complaints", json=complaint_body(), headers=auth("agent")
        )
        assert created.status_code == 201, created.text
        complaint = created.json()
        assert complaint["reference"].startswith("TS-20")
        complaint_id = complaint["id"]

        stored = client.get(
            f"{stack.url('intake')}/v1/complaints/{complaint_id}", headers=staff
        ).json()
        assert stored["customer_name"] == "王建国" and stored["channel"] == "hotline"

        triage = eventually(
            lambda: get_json_if(client, f"{stack.url('routing')}/v1/triage/{complaint_id}", staff)
        )
        assert triage["category"] == "product_quality"
        assert triage["urgency"] == "urgent"
        assert triage["owner_department"] == "quality"

        case = eventually(
            lambda: get_json_if(
                client, f"{stack.url('rectification')}/v1/cases/{complaint_id}", staff
            )
        )
        assert case["status"] == "awaiting_resolution"
        assert case["owner_department"] == "quality"

        def two_notifications() -> list | None:
            found = get_json_if(
                client, f"{stack.url('notify')}/v1/notifications?complaint_id={complaint_id}", staff
            )
            items = found if isinstance(found, list) else (found or {}).get("items", [])
            return items if len(items) >= 2 else None

        notifications = eventually(two_notifications)
        assert sorted(item["kind"] for item in notifications) == [
            "acknowledgement",
            "assigned_to_department",
        ]


def test_same_idempotency_key_twice_gives_one_complaint_and_one_event(
    stack: Stack, auth: Callable[..., dict[str, str]]
) -> None:
    headers = {**auth("agent"), "Idempotency-Key": "call-4711-attempt"}
    body = complaint_body()
    with httpx.Client(timeout=10) as client:
        first = client.post(f"{stack.url('intake')}/v1/complaints", json=body, headers=headers)
        second = client.post(f"{stack.url('intake')}/v1/complaints", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    complaint_id = first.json()["id"]

    async def events_for_complaint() -> list:
        def mine(records: list) -> list:
            return [r for r in records if r.key == complaint_id.encode()]

        # Read until the event is there, then on for a while: a duplicate would show up.
        records = await read_topic(
            stack.bootstrap, "tousu.complaints", until=lambda rs: bool(mine(rs))
        )
        assert mine(records), "complaint.received never arrived"
        more = await read_topic(
            stack.bootstrap, "tousu.complaints", until=lambda rs: False, timeout=2
        )
        return mine(more)

    events = asyncio.run(events_for_complaint())
    assert [header(r, "ce_type") for r in events] == ["complaint.received"]


def test_reusing_an_idempotency_key_for_another_complaint_is_refused(
    stack: Stack, auth: Callable[..., dict[str, str]]
) -> None:
    headers = {**auth("agent"), "Idempotency-Key": "reused-key"}
    with httpx.Client(timeout=10) as client:
        client.post(f"{stack.url('intake')}/v1/complaints", json=complaint_body(), headers=headers)
        other = client.post(
            f"{stack.url('intake')}/v1/complaints",
            json=complaint_body(title="另一件事"),
            headers=headers,
        )
    assert other.status_code == 409
    assert other.json()["error"]["fields"][0]["field"] == "Idempotency-Key"


def test_concurrent_complaints_get_distinct_consecutive_references(
    stack: Stack, auth: Callable[..., dict[str, str]]
) -> None:
    async def post_many(n: int) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=stack.url("intake"), timeout=30) as client:
            return await asyncio.gather(
                *(
                    client.post(
                        "/v1/complaints",
                        json=complaint_body(title=f"并发{i}"),
                        headers=auth("agent"),
                    )
                    for i in range(n)
                )
            )

    responses = asyncio.run(post_many(40))
    assert [r.status_code for r in responses] == [201] * 40
    references = [r.json()["reference"] for r in responses]
    assert len(set(references)) == 40
    serials = sorted(int(reference.rsplit("-", 1)[1]) for reference in references)
    assert serials == list(range(serials[0], serials[0] + 40))


def test_requests_without_token_with_wrong_role_or_bad_input_change_nothing(
    stack: Stack, auth: Callable[..., dict[str, str]]
) -> None:
    url = f"{stack.url('intake')}/v1/complaints"
    with httpx.Client(timeout=10) as client:
        anonymous = client.post(url, json=complaint_body())
        assert anonymous.status_code == 401
        assert anonymous.json()["error"]["code"] == "not_authenticated"
        assert anonymous.headers["WWW-Authenticate"] == "Bearer"

        forged = client.post(
            url, json=complaint_body(), headers={"Authorization": "Bearer abc.def.ghi"}
        )
        assert forged.status_code == 401

        wrong_role = client.post(url, json=complaint_body(), headers=auth("quality"))
        assert wrong_role.status_code == 403
        assert "agent" in wrong_role.json()["error"]["message"]

        invalid = client.post(
            url,
            json=complaint_body(title="", customer_phone="call me maybe"),
            headers=auth("agent"),
        )
        assert invalid.status_code == 422
        fields = {item["field"] for item in invalid.json()["error"]["fields"]}
        assert fields == {"title", "customer_phone"}

        huge = client.post(
            url, json=complaint_body(description="漏" * 600_000), headers=auth("agent")
        )
        assert huge.status_code == 413

        not_utf8 = client.post(
            url, content=b"\xff\xfe{", headers={**auth("agent"), "Content-Type": "application/json"}
        )
        assert not_utf8.status_code in (400, 422)
        assert not_utf8.json()["error"]["code"] in ("malformed_body", "validation_error")

        not_json = client.post(
            url, content=b"{oops", headers={**auth("agent"), "Content-Type": "application/json"}
        )
        assert not_json.status_code == 422

        for service in ("routing", "rectification", "notify"):
            path = {
                "routing": "/v1/triage/",
                "rectification": "/v1/cases/",
                "notify": "/v1/notifications?complaint_id=",
            }[service]
            assert client.get(f"{stack.url(service)}{path}{UUID(int=1)}").status_code == 401

        # None of the refused requests left a complaint behind.
        missing = client.get(f"{url}/{UUID(int=1)}", headers=auth("csc"))
        assert missing.status_code == 404


def test_every_service_reports_ready(stack: Stack) -> None:
    with httpx.Client(timeout=5) as client:
        for name in ("intake", "routing", "rectification", "notify"):
            answer = client.get(f"{stack.url(name)}/readyz")
            assert answer.status_code == 200, answer.text
            assert answer.json()["checks"]["database"] == "ok"
            assert answer.json()["checks"]["broker"] == "ok"
            assert client.get(f"{stack.url(name)}/healthz").json() == {"status": "ok"}


def test_every_route_documents_the_errors_it_can_answer_with(stack: Stack) -> None:
    # A service builds its OpenAPI document on the first request: seconds of CPU on a
    # loaded machine (r42: over 5 s with the load average near 30).
    with httpx.Client(timeout=60) as client:
        for name in ("intake", "routing", "rectification", "notify"):
            document = client.get(f"{stack.url(name)}/openapi.json").json()
            for path, operations in document["paths"].items():
                if path in ("/healthz", "/readyz", "/metrics"):  # open, like health
                    continue
                for operation in operations.values():
                    documented = set(operation["responses"])
                    assert {"401", "403", "422"} <= documented, (name, path)
                    error = operation["responses"]["401"]["content"]["application/json"]["schema"]
                    assert error == {"$ref": "#/components/schemas/ErrorBody"}
