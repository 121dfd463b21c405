"""Notifications through the real broker and databases: intake → notify → SMTP sink,
SMS gateway and a webhook receiver on loopback."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any
from uuid import uuid4

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from tousu_common.devstack import Stack, free_port
from tousu_common.mailsink import MailSink
from tousu_common.testing.helpers import header, read_topic
from tousu_common.testing.wait import eventually

from ..conftest import complaint_body, get_json_if
from .conftest import LoopbackServer, WebhookReceiver

pytestmark = pytest.mark.integration


def post_complaint(stack: Stack, auth: Callable[..., dict[str, str]], **fields: Any) -> dict:
    body = complaint_body(**fields)
    with httpx.Client(timeout=10) as client:
        created = client.post(
            f"{stack.url('intake')}/v1/complaints", json=body, headers=auth("agent")
        )
    assert created.status_code == 201, created.text
    return created.json()


def notifications(stack: Stack, auth: Callable[..., dict[str, str]], complaint_id: str) -> list:
    with httpx.Client(timeout=10) as client:
        return (
            get_json_if(
                client,
                f"{stack.url('notify')}/v1/notifications?complaint_id={complaint_id}",
                auth("csc"),
            )
            or []
        )


def test_posted_complaint_is_acknowledged_by_email_in_the_customers_language(
    notify_stack: Stack, notify_auth: Callable[..., dict[str, str]], mail_sink: MailSink
) -> None:
    address = f"alice.{uuid4().hex[:8]}@example.com"
    complaint = post_complaint(
        notify_stack,
        notify_auth,
        customer_email=address,
        customer_phone=None,
        customer_name="Alice Wong",
        language="en",
    )
    reference = complaint["reference"]
    [mail] = mail_sink.wait_for(lambda m: address in str(m["To"]), timeout=30)
    assert mail["Subject"] == f"We have received your complaint — reference {reference}"
    assert re.fullmatch(rf"<{reference}\.[0-9a-f]{{32}}@tousu\.test>", mail["Message-ID"])
    text = mail.get_body(("plain",)).get_content()
    assert "Dear Alice Wong" in text
    # The tracking link is the one intake hands out for this complaint.
    with httpx.Client(timeout=10) as client:
        contact = client.get(
            f"{notify_stack.url('intake')}/v1/complaints/{complaint['id']}/contact",
            headers=notify_auth("service"),
        ).json()
    assert contact["tracking_url"] and contact["tracking_url"] in text
    assert contact["tracking_url"].startswith(notify_stack.url("intake"))
    ack = eventually(
        lambda: [
            n
            for n in notifications(notify_stack, notify_auth, complaint["id"])
            if n["kind"] == "acknowledgement" and n["status"] == "sent"
        ]
    )
    assert ack[0]["masked_recipient"] == "a***@example.com" and ack[0]["language"] == "en"


def test_customer_with_only_a_phone_gets_the_acknowledgement_by_sms(
    notify_stack: Stack, notify_auth: Callable[..., dict[str, str]], sms_gateway: LoopbackServer
) -> None:
    phone = f"+86 138 {uuid4().int % 10_000:04d} 8001"
    complaint = post_complaint(notify_stack, notify_auth, customer_phone=phone)
    [sms] = eventually(lambda: [r for r in sms_gateway.requests if r.json()["to"] == phone])
    assert sms.path == "/sms" and sms.headers["authorization"] == "Bearer e2e-sms-key"
    assert complaint["reference"] in sms.json()["text"] and "受理" in sms.json()["text"]


def test_failing_gateway_is_retried_then_notification_failed_is_published(
    notify_stack: Stack, notify_auth: Callable[..., dict[str, str]], sms_gateway: LoopbackServer
) -> None:
    phone = f"+86 139 {uuid4().int % 10_000:04d} 0500"  # the fake gateway answers 500
    complaint = post_complaint(notify_stack, notify_auth, customer_phone=phone)
    key = complaint["id"].encode()

    def failed(records: list) -> list:
        return [
            r for r in records if r.key == key and header(r, "ce_type") == "notification.failed"
        ]

    records = asyncio.run(
        read_topic(
            notify_stack.bootstrap,
            "tousu.notifications",
            until=lambda rs: bool(failed(rs)),
            timeout=40,
        )
    )
    [event] = failed(records)
    import json

    payload = json.loads(event.value)
    assert payload["attempts"] == 3 and payload["error"] == "SMS gateway answered 500"
    assert payload["template"] == "acknowledgement" and payload["recipient_kind"] == "customer"
    assert phone not in event.value.decode()
    attempts = [r for r in sms_gateway.requests if r.json()["to"] == phone]
    assert len(attempts) == 3
    [row] = [
        n
        for n in notifications(notify_stack, notify_auth, complaint["id"])
        if n["kind"] == "acknowledgement"
    ]
    assert (row["status"], row["attempts"]) == ("failed", 3)


def test_the_same_event_produced_twice_sends_one_email(
    notify_stack: Stack, notify_auth: Callable[..., dict[str, str]], mail_sink: MailSink
) -> None:
    address = f"dup.{uuid4().hex[:8]}@example.com"
    complaint = post_complaint(notify_stack, notify_auth, customer_email=address)
    mail_sink.wait_for(lambda m: address in str(m["To"]), timeout=30)
    key = complaint["id"].encode()

    async def produce_again() -> None:
        records = await read_topic(
            notify_stack.bootstrap,
            "tousu.complaints",
            until=lambda rs: any(r.key == key for r in rs),
        )
        [original] = [r for r in records if r.key == key]
        producer = AIOKafkaProducer(bootstrap_servers=notify_stack.bootstrap)
        await producer.start()
        try:
            for _ in range(2):
                await producer.send_and_wait(
                    original.topic,
                    original.value,
                    key=original.key,
                    headers=list(original.headers),
                )
        finally:
            await producer.stop()

    ops = f"{notify_stack.url('notify')}/v1/ops/status"

    def duplicates() -> dict[str, int]:
        """Inbox duplicates per consumer group of notify that reads tousu.complaints."""
        with httpx.Client(timeout=10) as client:
            status = client.get(ops, headers=notify_auth("manager")).json()
        return {
            c["group_id"]: c["duplicates"]
            for c in status["consumers"]
            if "tousu.complaints" in c["topics"]
        }

    before = duplicates()
    assert before, "notify has no consumer of tousu.complaints"
    asyncio.run(produce_again())
    # Not a quiet period but the cause: every group's inbox has dropped both copies.
    eventually(
        duplicates,
        until=lambda now: all(now[group] >= before[group] + 2 for group in before),
        timeout=60,
        interval=0.2,
        what=lambda: f"copies not seen as duplicates (before: {before})",
    )
    assert len([m for m in mail_sink.messages if address in str(m["To"])]) == 1
    acks = [
        n
        for n in notifications(notify_stack, notify_auth, complaint["id"])
        if n["kind"] == "acknowledgement"
    ]
    assert [(n["status"], n["attempts"]) for n in acks] == [("sent", 1)]


def test_webhook_subscriber_receives_signed_events(
    notify_stack: Stack,
    notify_auth: Callable[..., dict[str, str]],
    webhook_receiver: WebhookReceiver,
) -> None:
    with httpx.Client(timeout=10) as client:
        created = client.post(
            f"{notify_stack.url('notify')}/v1/subscriptions",
            json={
                "name": "CRM",
                "channel": "webhook",
                "url": f"{webhook_receiver.url}/tousu",
                "event_types": ["complaint.received", "complaint.triaged"],
            },
            headers=notify_auth("admin"),
        )
    assert created.status_code == 201, created.text
    webhook_receiver.secrets.append(created.json()["secret"])
    complaint = post_complaint(notify_stack, notify_auth)

    def mine() -> list:
        return [r for r in webhook_receiver.verified if r.json()["subject"] == complaint["id"]]

    received = eventually(lambda: len(mine()) >= 2 and mine())
    assert sorted(r.json()["type"] for r in received) == ["complaint.received", "complaint.triaged"]
    assert all(r.json()["data"]["reference"] == complaint["reference"] for r in received)
    assert all("description" not in r.json()["data"] for r in received)
    assert webhook_receiver.rejected == []
    with httpx.Client(timeout=10) as client:
        log = client.get(
            f"{notify_stack.url('notify')}/v1/subscriptions/{created.json()['id']}/deliveries",
            headers=notify_auth("admin"),
        ).json()
    assert {entry["status"] for entry in log if entry["complaint_id"] == complaint["id"]} == {
        "sent"
    }


def test_webhook_that_keeps_failing_is_disabled_and_its_log_says_why(
    notify_stack: Stack, notify_auth: Callable[..., dict[str, str]]
) -> None:
    admin = notify_auth("admin")
    dead = f"http://127.0.0.1:{free_port()}/nobody-listens"
    base = f"{notify_stack.url('notify')}/v1/subscriptions"
    with httpx.Client(timeout=10) as client:
        created = client.post(
            base,
            json={
                "name": "broken CRM",
                "channel": "webhook",
                "url": dead,
                "event_types": ["complaint.received"],
            },
            headers=admin,
        ).json()
        post_complaint(notify_stack, notify_auth)
        disabled = eventually(
            lambda: (
                (found := client.get(f"{base}/{created['id']}", headers=admin).json())
                and not found["active"]
                and found
            )
        )
        assert disabled["disabled_reason"] == (
            "disabled automatically: 3 consecutive failed deliveries"
        )
        log = client.get(f"{base}/{created['id']}/deliveries", headers=admin).json()
        assert [(e["status"], e["attempts"]) for e in log] == [("cancelled", 3)]
        assert log[0]["last_error"] == "webhook unreachable: ConnectError"
        enabled = client.post(f"{base}/{created['id']}/enable", headers=admin).json()
        assert enabled["active"] and enabled["consecutive_failures"] == 0
        client.delete(f"{base}/{created['id']}", headers=admin)
