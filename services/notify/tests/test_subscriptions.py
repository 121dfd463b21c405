"""Subscriptions API, signed webhooks verified by a real receiver, automatic disabling
and the delivery log (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
import sqlalchemy as sa

from tousu_common.db import Database
from tousu_common.mailsink import MailSink
from tousu_notify.adapters.orm import DeliveryRow
from tousu_notify.config import Settings
from tousu_notify.domain.signing import InvalidSignature, verify_signature
from tousu_notify.entrypoints.worker import DeliveryWorker

from .conftest import Directory, make_settings
from .factories import LoopbackServer, Request, received, sla
from .test_deliveries import handle, outbox_events, work_until

pytestmark = pytest.mark.integration


class Receiver:
    """A webhook receiver that does what the README tells integrators to do."""

    def __init__(self) -> None:
        self.secret = ""
        self.status = 200
        self.verified: list[dict[str, Any]] = []
        self.rejected: list[str] = []
        self.server = LoopbackServer(self.respond)

    def respond(self, request: Request) -> tuple[int, Any]:
        try:
            verify_signature(self.secret, request.headers.get("tousu-signature"), request.body)
        except InvalidSignature as exc:
            self.rejected.append(str(exc))
            return 401, {"error": str(exc)}
        if self.status >= 300:
            return self.status, {"error": "unavailable"}
        self.verified.append({"headers": request.headers, "event": json.loads(request.body)})
        return 204, b""


@pytest.fixture
def receiver() -> Any:
    instance = Receiver()
    yield instance
    instance.server.close()


def webhook(url: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": "CRM",
        "channel": "webhook",
        "url": url,
        "event_types": ["complaint.received"],
        **fields,
    }


async def create(api: httpx.AsyncClient, body: dict[str, Any], headers: dict[str, str]) -> dict:
    response = await api.post("/v1/subscriptions", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def test_webhook_is_signed_and_the_receiver_verifies_it(
    db: Database,
    settings: Settings,
    worker: DeliveryWorker,
    api: httpx.AsyncClient,
    headers_for: Callable[..., dict[str, str]],
    receiver: Receiver,
) -> None:
    created = await create(api, webhook(f"{receiver.server.url}/hooks"), headers_for("admin"))
    assert created["secret"].startswith("whsec_")
    receiver.secret = created["secret"]
    event = received()
    await handle(db, settings, event)
    await worker.run_once()

    [delivery] = receiver.verified
    body = delivery["event"]
    assert body["specversion"] == "1.0" and body["id"] == event.id
    assert body["type"] == "complaint.received" and body["source"] == "tousu/intake"
    assert body["data"]["reference"] == event.data.reference
    assert "description" not in body["data"] and "138 0000 0000" not in json.dumps(body)
    headers = delivery["headers"]
    assert headers["content-type"].startswith("application/cloudevents+json")
    assert headers["tousu-event-type"] == "complaint.received"
    assert receiver.rejected == []

    log = await api.get(
        f"/v1/subscriptions/{created['id']}/deliveries", headers=headers_for("admin")
    )
    [entry] = log.json()
    assert headers["tousu-delivery-id"] == entry["id"]
    assert (entry["status"], entry["channel"], entry["response_status"]) == ("sent", "webhook", 204)
    assert entry["masked_recipient"] == f"{receiver.server.url}/…"
    sent = [
        e
        for e in await outbox_events(db, "notification.sent")
        if e["notification_id"] == entry["id"]
    ]
    assert sent[0]["recipient_kind"] == "subscriber" and sent[0]["delivery_channel"] == "webhook"

    # The same request replayed later, or with another secret, does not verify.
    signature = headers["tousu-signature"]
    raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    assert verify_signature(created["secret"], signature, raw)
    with pytest.raises(InvalidSignature):
        verify_signature(created["secret"], signature, raw, now=time.time() + 301)
    with pytest.raises(InvalidSignature):
        verify_signature("whsec_other", signature, raw)


async def test_failing_webhook_is_retried_then_disabled_and_can_be_re_enabled(
    db: Database,
    jwt_secret: str,
    mail_sink: MailSink,
    directory: Directory,
    api: httpx.AsyncClient,
    headers_for: Callable[..., dict[str, str]],
    receiver: Receiver,
) -> None:
    settings = make_settings(
        db,
        jwt_secret,
        mail_sink,
        directory,
        delivery_max_attempts=10,
        webhook_disable_after_failures=4,
    )
    worker = DeliveryWorker(db, settings)
    admin = headers_for("admin")
    created = await create(api, webhook(receiver.server.url), admin)
    receiver.secret, receiver.status = created["secret"], 503
    await handle(db, settings, received())
    await handle(db, settings, received())

    async def disabled() -> bool:
        found = await api.get(f"/v1/subscriptions/{created['id']}", headers=admin)
        return not found.json()["active"]

    try:
        await work_until(worker, disabled)
        subscription = (await api.get(f"/v1/subscriptions/{created['id']}", headers=admin)).json()
        assert subscription["consecutive_failures"] == 4
        assert subscription["disabled_reason"] == (
            "disabled automatically: 4 consecutive failed deliveries"
        )
        log = (await api.get(f"/v1/subscriptions/{created['id']}/deliveries", headers=admin)).json()
        assert sorted(entry["status"] for entry in log) == ["cancelled", "cancelled"]
        assert {entry["last_error"] for entry in log} <= {
            "webhook answered 503",
            "subscription disabled",
        }
        assert len(receiver.server.requests) == 4

        # Disabled: new events are not queued for it.
        await handle(db, settings, received())
        assert (
            len(
                (
                    await api.get(f"/v1/subscriptions/{created['id']}/deliveries", headers=admin)
                ).json()
            )
            == 2
        )

        receiver.status = 200
        enabled = await api.post(f"/v1/subscriptions/{created['id']}/enable", headers=admin)
        assert enabled.status_code == 200
        assert enabled.json()["active"] and enabled.json()["consecutive_failures"] == 0
        event = received()
        await handle(db, settings, event)
        await worker.run_once()
        assert [d["event"]["id"] for d in receiver.verified] == [event.id]
        sent = await api.get(
            f"/v1/subscriptions/{created['id']}/deliveries",
            params={"status": "sent"},
            headers=admin,
        )
        assert [entry["event_id"] for entry in sent.json()] == [event.id]
    finally:
        await worker.close()


async def test_a_webhook_disabled_mid_batch_cancels_the_batchs_earlier_delivery_too(
    db: Database,
    jwt_secret: str,
    mail_sink: MailSink,
    directory: Directory,
    api: httpx.AsyncClient,
    headers_for: Callable[..., dict[str, str]],
    receiver: Receiver,
) -> None:
    settings = make_settings(db, jwt_secret, mail_sink, directory, webhook_disable_after_failures=2)
    worker = DeliveryWorker(db, settings)
    admin = headers_for("admin")
    created = await create(api, webhook(receiver.server.url), admin)
    receiver.secret, receiver.status = created["secret"], 503
    await handle(db, settings, received())
    await handle(db, settings, received())
    try:
        # Not failing yet when claimed, so both go in one batch: the first fails and is
        # put back to pending, the second's failure disables the subscription.
        assert await worker.run_once() >= 2  # (and the customers' acknowledgements)
    finally:
        await worker.close()
    found = await api.get(f"/v1/subscriptions/{created['id']}", headers=admin)
    assert not found.json()["active"]
    log = (await api.get(f"/v1/subscriptions/{created['id']}/deliveries", headers=admin)).json()
    assert [entry["status"] for entry in log] == ["cancelled", "cancelled"]
    assert len(receiver.server.requests) == 2


async def test_webhook_failing_for_too_long_is_disabled(
    db: Database,
    jwt_secret: str,
    mail_sink: MailSink,
    directory: Directory,
    api: httpx.AsyncClient,
    headers_for: Callable[..., dict[str, str]],
    receiver: Receiver,
) -> None:
    settings = make_settings(
        db,
        jwt_secret,
        mail_sink,
        directory,
        delivery_max_attempts=10,
        webhook_disable_after_failures=100,
        webhook_disable_after_s=0.15,
    )
    worker = DeliveryWorker(db, settings)
    created = await create(api, webhook(receiver.server.url), headers_for("admin"))
    receiver.secret, receiver.status = created["secret"], 500
    await handle(db, settings, received())

    async def disabled() -> bool:
        found = await api.get(f"/v1/subscriptions/{created['id']}", headers=headers_for("admin"))
        return not found.json()["active"]

    try:
        await work_until(worker, disabled)
    finally:
        await worker.close()
    found = (
        await api.get(f"/v1/subscriptions/{created['id']}", headers=headers_for("admin"))
    ).json()
    assert found["disabled_reason"].startswith("disabled automatically: failing without a success")


async def test_staff_subscription_by_urgency_and_tier_gets_an_sms(
    db: Database,
    settings: Settings,
    worker: DeliveryWorker,
    api: httpx.AsyncClient,
    headers_for: Callable[..., dict[str, str]],
    sms_gateway: LoopbackServer,
) -> None:
    await create(
        api,
        {
            "name": "duty phone",
            "channel": "sms",
            "address": "+86 139 0000 0001",
            "recipient_kind": "manager",
            "event_types": ["sla.breached"],
            "urgencies": ["urgent"],
            "customer_tiers": ["strategic", "key"],
            "departments": ["csc"],
        },
        headers_for("manager"),
    )
    event = sla(owner="csc")
    await handle(db, settings, event)
    await handle(db, settings, sla(owner="sales"))  # another department: not for this one
    await worker.run_once()
    [request] = sms_gateway.requests
    assert request.json()["to"] == "+86 139 0000 0001"
    assert "SLA超时" in request.json()["text"] and event.data.reference in request.json()["text"]


async def test_subscription_input_is_validated_field_by_field(
    api: httpx.AsyncClient, headers_for: Callable[..., dict[str, str]]
) -> None:
    admin = headers_for("admin")

    async def problems(body: dict[str, Any]) -> list[str]:
        response = await api.post("/v1/subscriptions", json=body, headers=admin)
        assert response.status_code == 422, response.text
        return [f["field"] for f in response.json()["error"]["fields"]]

    assert await problems(webhook("ftp://files.example/x")) == ["url"]
    assert await problems(webhook("javascript:alert(1)")) == ["url"]
    assert await problems(webhook("http://user:pw@hooks.example/")) == ["url"]
    assert await problems(webhook("http://127.0.0.1:9/", event_types=["no.such"])) == [
        "event_types.0"
    ]
    assert await problems(webhook("http://127.0.0.1:9/", event_types=["notification.sent"])) == [
        "event_types.0"
    ]
    assert await problems({"name": "x", "channel": "webhook", "event_types": ["*"]}) == ["url"]
    email = {"name": "x", "channel": "email", "event_types": ["sla.breached"]}
    assert await problems({**email, "address": "not-an-address"}) == ["address"]
    assert await problems({**email, "address": "a@b.example", "url": "http://x.example"}) == ["url"]
    assert await problems({**email, "channel": "sms", "address": "call me"}) == ["address"]
    assert await problems({**email, "address": "a@b.example", "event_types": []}) == ["event_types"]
    assert await problems({**email, "address": "a@b.example", "departments": ["hr"]}) == [
        "departments.0"
    ]
    assert await problems({**email, "address": "a@b.example", "secret": "mine"}) == ["secret"]


async def test_loopback_webhooks_are_refused_unless_allowed(
    client: httpx.AsyncClient, headers_for: Callable[..., dict[str, str]]
) -> None:
    # `client` runs notify with default settings: private targets not allowed.
    for url in ("http://127.0.0.1:8080/hook", "http://localhost/hook", "http://10.0.0.8/x"):
        response = await client.post(
            "/v1/subscriptions", json=webhook(url), headers=headers_for("admin")
        )
        assert response.status_code == 422, url
        assert response.json()["error"]["fields"][0]["field"] == "url"


async def test_only_admins_and_managers_manage_subscriptions(
    api: httpx.AsyncClient, headers_for: Callable[..., dict[str, str]]
) -> None:
    assert (await api.get("/v1/subscriptions")).status_code == 401
    for role in ("csc", "agent", "service", "quality"):
        assert (await api.get("/v1/subscriptions", headers=headers_for(role))).status_code == 403
    assert (await api.get("/v1/subscriptions", headers=headers_for("manager"))).status_code == 200


async def test_the_secret_is_shown_once(
    api: httpx.AsyncClient, headers_for: Callable[..., dict[str, str]]
) -> None:
    admin = headers_for("admin")
    created = await create(api, webhook("http://127.0.0.1:9/hook"), admin)
    found = await api.get(f"/v1/subscriptions/{created['id']}", headers=admin)
    assert "secret" not in found.json()
    listed = await api.get("/v1/subscriptions", headers=admin)
    assert created["secret"] not in listed.text


async def test_a_department_manager_manages_only_their_department(
    api: httpx.AsyncClient,
    token_for: Callable[..., str],
    headers_for: Callable[..., dict[str, str]],
) -> None:
    quality = {"Authorization": f"Bearer {token_for('manager', department='quality')}"}
    sales = {"Authorization": f"Bearer {token_for('manager', department='sales')}"}
    body = {
        "name": "q",
        "channel": "email",
        "address": "q@corp.example",
        "event_types": ["sla.warning"],
    }
    mine = await create(api, body, quality)
    assert mine["departments"] == ["quality"]
    refused = await api.post(
        "/v1/subscriptions", json={**body, "departments": ["sales"]}, headers=quality
    )
    assert refused.status_code == 403
    assert (await api.get(f"/v1/subscriptions/{mine['id']}", headers=sales)).status_code == 404
    assert mine["id"] not in (await api.get("/v1/subscriptions", headers=sales)).text
    assert mine["id"] in (await api.get("/v1/subscriptions", headers=headers_for("admin"))).text


async def test_update_and_delete(
    db: Database,
    settings: Settings,
    api: httpx.AsyncClient,
    headers_for: Callable[..., dict[str, str]],
) -> None:
    admin = headers_for("admin")
    created = await create(
        api,
        {
            "name": "q",
            "channel": "email",
            "address": "q@corp.example",
            "event_types": ["sla.warning"],
        },
        admin,
    )
    url = f"/v1/subscriptions/{created['id']}"
    changed = await api.patch(
        url, json={"event_types": ["sla.breached", "sla.warning"], "language": "en"}, headers=admin
    )
    assert changed.status_code == 200
    assert changed.json()["event_types"] == ["sla.breached", "sla.warning"]
    assert changed.json()["language"] == "en"
    bad = await api.patch(url, json={"address": "nope"}, headers=admin)
    assert bad.status_code == 422 and bad.json()["error"]["fields"][0]["field"] == "address"
    # Well-formed, but not what this subscription's channel (email) takes: its state, 409.
    for change in ({"address": "+86 139 0000 0001"}, {"url": "https://hooks.example/x"}):
        other = await api.patch(url, json=change, headers=admin)
        assert other.status_code == 409, other.text
        assert other.json()["error"]["fields"][0]["field"] == next(iter(change))
    assert (await api.patch(url, json={"channel": "sms"}, headers=admin)).status_code == 422
    assert (await api.patch(url, json={"name": None}, headers=admin)).status_code == 422

    event = sla()
    await handle(db, settings, event)  # a pending delivery for this subscription
    assert (await api.delete(url, headers=admin)).status_code == 204
    assert (await api.get(url, headers=admin)).status_code == 404
    async with db.sessions() as session:
        statuses = set(
            await session.scalars(
                sa.select(DeliveryRow.status).where(
                    DeliveryRow.subscription_id == UUID(created["id"])
                )
            )
        )
    assert statuses == {"cancelled"}
    assert (await api.delete(f"/v1/subscriptions/{uuid4()}", headers=admin)).status_code == 404
