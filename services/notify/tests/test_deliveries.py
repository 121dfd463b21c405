"""Events → delivery rows → real SMTP / SMS gateway / webhook receivers, with retries,
give-up events and the at-least-once window (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from tousu_common.db import Database
from tousu_common.events import Event
from tousu_common.mailsink import MailSink
from tousu_common.messaging.tables import outbox
from tousu_common.testing.statements import sql_run, statement_kind
from tousu_common.testing.wait import eventually_async
from tousu_notify.adapters.clients import DeliveryError
from tousu_notify.adapters.orm import ComplaintFactsRow, DeliveryRow
from tousu_notify.config import Settings
from tousu_notify.entrypoints.consumer import GROUP_ID
from tousu_notify.entrypoints.worker import DeliveryWorker
from tousu_notify.handlers.plan import Planner

from .conftest import Directory, make_settings
from .factories import (
    REFERENCE,
    LoopbackServer,
    all_template_events,
    digest,
    proposed,
    received,
    sla,
    triaged,
)

pytestmark = pytest.mark.integration


async def handle(db: Database, settings: Settings, event: Event) -> None:
    async with db.transaction() as session:
        await Planner(settings, consumer=GROUP_ID)(session, event)


async def rows(db: Database, complaint_id: UUID) -> list[DeliveryRow]:
    async with db.sessions() as session:
        return list(
            await session.scalars(
                sa.select(DeliveryRow)
                .where(DeliveryRow.complaint_id == complaint_id)
                .order_by(DeliveryRow.template, DeliveryRow.recipient_key)
            )
        )


async def outbox_events(db: Database, event_type: str) -> list[dict[str, Any]]:
    async with db.sessions() as session:
        result = await session.execute(
            sa.select(outbox.c.payload).where(outbox.c.event_type == event_type)
        )
        return [json.loads(payload) for (payload,) in result.all()]


async def work_until(
    worker: DeliveryWorker, done: Callable[[], Any], *, timeout: float = 15
) -> None:
    """Run the worker's loop body until ``done()`` (awaitable) is truthy, bounded in time."""

    async def step() -> Any:
        await worker.run_once()
        return await done()

    await eventually_async(step, timeout=timeout, interval=0.02)


def customer(directory: Directory, complaint_id: UUID, **fields: Any) -> None:
    directory.customers[str(complaint_id)] = {
        "complaint_id": str(complaint_id),
        "reference": REFERENCE,
        "customer_name": "王建国",
        "email": None,
        "phone": None,
        "fax": None,
        "language": "zh",
        "tracking_url": f"http://track.example/t/{complaint_id}?token=tok",
        "customer_tier": "general",
        "key_account": False,
        **fields,
    }


def mails_to(sink: MailSink, address: str) -> list[Any]:
    return [m for m in sink.messages if address in str(m["To"])]


def notifications_counted(channel: str, outcome: str) -> float:
    labels = {"service": "notify", "channel": channel, "outcome": outcome}
    return REGISTRY.get_sample_value("tousu_notifications_total", labels) or 0.0


async def test_acknowledgement_email_in_the_customers_language(
    db: Database,
    settings: Settings,
    worker: DeliveryWorker,
    directory: Directory,
    mail_sink: MailSink,
) -> None:
    complaint_id = uuid4()
    address = f"alice-{complaint_id.hex[:8]}@example.com"
    customer(directory, complaint_id, email=address, language="en", customer_name="Alice Wong")
    sent_before = notifications_counted("email", "sent")
    await handle(db, settings, received(complaint_id, language="zh"))
    assert await worker.run_once() == 1
    assert notifications_counted("email", "sent") - sent_before == 1

    [mail] = mails_to(mail_sink, address)
    assert mail["Subject"] == f"We have received your complaint — reference {REFERENCE}"
    assert re.fullmatch(rf"<{REFERENCE}\.[0-9a-f]{{32}}@tousu\.test>", mail["Message-ID"])
    assert mail["Reply-To"] == "complaints@tousu.test"
    text = mail.get_body(("plain",)).get_content()
    assert "Dear Alice Wong" in text and f"http://track.example/t/{complaint_id}" in text
    assert "href=" in mail.get_body(("html",)).get_content()

    [row] = await rows(db, complaint_id)
    assert (row.status, row.channel, row.language, row.attempts) == ("sent", "email", "en", 1)
    assert row.masked_recipient == "a***@example.com"
    assert row.message_id == mail["Message-ID"]
    [sent] = [
        e
        for e in await outbox_events(db, "notification.sent")
        if e["notification_id"] == str(row.id)
    ]
    assert sent["template"] == "acknowledgement" and sent["recipient_kind"] == "customer"
    assert address not in json.dumps(sent)


async def test_the_acknowledgement_answers_the_customers_own_mail(
    db: Database,
    settings: Settings,
    worker: DeliveryWorker,
    directory: Directory,
    mail_sink: MailSink,
) -> None:
    """A complaint that came by mail: intake's contact read gives the customer's
    Message-ID, and the acknowledgement is a reply to it (one conversation)."""
    mailed, phoned, forged = uuid4(), uuid4(), uuid4()
    theirs = "<tencent_3F0C1E92B1D34A7E8C5A6B0D9E2F7A41C507@qq.com>"
    for complaint_id, message_id in (
        (mailed, theirs),
        (phoned, None),
        (forged, "<a@b.example>\r\nBcc: someone@elsewhere.example"),
    ):
        customer(
            directory,
            complaint_id,
            email=f"c-{complaint_id.hex[:8]}@example.com",
            email_message_id=message_id,
        )
        await handle(db, settings, received(complaint_id))
    await work_until(worker, lambda: _sent(mail_sink, mailed, phoned, forged))

    [answer] = mails_to(mail_sink, f"c-{mailed.hex[:8]}@example.com")
    assert answer["In-Reply-To"] == theirs and answer["References"] == theirs
    assert answer["Message-ID"] != theirs
    for other in (phoned, forged):  # nothing to answer, or nothing fit for a header
        [mail] = mails_to(mail_sink, f"c-{other.hex[:8]}@example.com")
        assert mail["In-Reply-To"] is None and mail["References"] is None
        assert mail["Bcc"] is None


async def _sent(sink: MailSink, *complaint_ids: UUID) -> bool:
    return all(mails_to(sink, f"c-{c.hex[:8]}@example.com") for c in complaint_ids)


def contact_reads(directory: Directory) -> tuple[int, int]:
    """(batch reads, one-complaint reads) the directory has answered so far."""
    requests = directory.server.requests
    batch = sum(1 for r in requests if r.path == "/v1/complaints/contacts")
    single = sum(1 for r in requests if r.path.endswith("/contact"))
    return batch, single


async def test_a_batchs_outcomes_are_recorded_in_one_transaction_each_row_its_own_outcome(
    db: Database,
    settings: Settings,
    worker: DeliveryWorker,
    directory: Directory,
    mail_sink: MailSink,
) -> None:
    sent, unreachable = uuid4(), uuid4()
    customer(directory, sent, email=f"batch-{sent.hex[:8]}@example.com", language="zh")
    # no contact for this one in the directory: its attempt fails and is retried later
    for complaint_id in (sent, unreachable):
        await handle(db, settings, received(complaint_id))
    commits: list[int] = []
    db.on_commit(lambda session: commits.append(1))
    assert await worker.run_once() == 2
    assert len(commits) == 2  # the claim, then every outcome of the batch together
    [ok] = await rows(db, sent)
    [later] = await rows(db, unreachable)
    assert (ok.status, ok.attempts) == ("sent", 1)
    assert (later.status, later.attempts) == ("pending", 1) and later.next_attempt_at
    assert [e["notification_id"] for e in await outbox_events(db, "notification.sent")].count(
        str(ok.id)
    ) == 1


async def test_a_batch_is_claimed_and_recorded_in_two_statements_each_whatever_its_size(
    db: Database, settings: Settings, directory: Directory, mail_sink: MailSink
) -> None:
    worker = DeliveryWorker(db, settings)
    complaints = [uuid4() for _ in range(3)]
    for complaint_id in complaints:
        customer(directory, complaint_id, email=f"c-{complaint_id.hex[:8]}@example.com")
        await handle(db, settings, received(complaint_id))
    try:
        with sql_run(db) as statements:
            assert await worker.run_once() == 3
    finally:
        await worker.close()
    kinds = [statement_kind(statement) for statement in statements]
    # claim: the due rows (their subscriptions' state joined in), then all of them
    # moved to 'sending'; record: the rows again (locked), then every outcome.
    assert [k for k in kinds if k and "deliveries" in k] == [
        "SELECT deliveries",
        "UPDATE deliveries",
        "SELECT deliveries",
        "UPDATE deliveries",
    ]
    assert kinds.count("INSERT outbox") == 1  # three notification.sent, one executemany
    sent_about = {e["complaint_id"] for e in await outbox_events(db, "notification.sent")}
    assert {str(complaint_id) for complaint_id in complaints} <= sent_about
    assert "SELECT subscriptions" not in kinds
    for complaint_id in complaints:
        [row] = await rows(db, complaint_id)
        assert (row.status, row.attempts, row.last_error) == ("sent", 1, None)
        assert row.claimed_at is not None and row.sent_at is not None


@pytest.mark.parametrize("configured", ["notify-1.tousu.test", None])
async def test_mail_greets_the_server_with_one_name_looked_up_once_not_per_message(
    db: Database,
    jwt_secret: str,
    mail_sink: MailSink,
    directory: Directory,
    configured: str | None,
) -> None:
    settings = make_settings(db, jwt_secret, mail_sink, directory, smtp_local_hostname=configured)
    worker = DeliveryWorker(db, settings)
    try:
        addresses = []
        for _ in range(2):
            complaint_id = uuid4()
            addresses.append(f"ehlo-{complaint_id.hex[:8]}@example.com")
            customer(directory, complaint_id, email=addresses[-1], language="zh")
            await handle(db, settings, received(complaint_id))
        assert await worker.run_once() == 2
    finally:
        await worker.close()
    greetings = [
        mail_sink.greetings[i]
        for i, message in enumerate(mail_sink.messages)
        if any(address in str(message["To"]) for address in addresses)
    ]
    expected = configured or socket.getfqdn()
    assert greetings == [expected, expected]
    assert worker.mailer._local_hostname == expected


async def test_a_claimed_batch_reads_its_contacts_at_once_and_each_mail_reaches_its_own_customer(
    db: Database, settings: Settings, directory: Directory, mail_sink: MailSink
) -> None:
    worker = DeliveryWorker(db, settings)
    people = {uuid4(): name for name in ("Alice Wong", "Bob Li", "Chen Jing")}
    for complaint_id, name in people.items():
        address = f"{name.split()[0].lower()}-{complaint_id.hex[:8]}@example.com"
        customer(directory, complaint_id, email=address, language="en", customer_name=name)
        await handle(db, settings, received(complaint_id))
    try:
        assert await worker.run_once() == 3
    finally:
        await worker.close()
    assert contact_reads(directory) == (1, 0)
    for complaint_id, name in people.items():
        address = directory.customers[str(complaint_id)]["email"]
        [mail] = mails_to(mail_sink, address)
        text = mail.get_body(("plain",)).get_content()
        assert f"Dear {name}" in text and f"http://track.example/t/{complaint_id}" in text
        assert all(other not in text for other in people.values() if other != name)
        [row] = await rows(db, complaint_id)
        assert row.status == "sent"


async def test_a_complaint_missing_from_the_batch_read_is_retried_and_the_rest_are_sent(
    db: Database, settings: Settings, directory: Directory, mail_sink: MailSink
) -> None:
    worker = DeliveryWorker(db, settings)
    known, unknown = uuid4(), uuid4()
    address = f"known-{known.hex[:8]}@example.com"
    customer(directory, known, email=address)
    await handle(db, settings, received(known))
    await handle(db, settings, received(unknown))  # intake does not know it (yet)
    try:
        assert await worker.run_once() == 2
    finally:
        await worker.close()
    assert contact_reads(directory) == (1, 1)  # the batch, then the missing one alone
    assert len(mails_to(mail_sink, address)) == 1
    [sent] = await rows(db, known)
    [pending] = await rows(db, unknown)
    assert sent.status == "sent"
    assert pending.status == "pending" and pending.attempts == 1
    assert pending.last_error == "intake's contact API answered 404"


async def test_without_intakes_batch_read_each_message_reads_its_own_contact(
    db: Database, settings: Settings, directory: Directory, mail_sink: MailSink
) -> None:
    directory.batch_reads = False
    worker = DeliveryWorker(db, settings)
    ids = [uuid4(), uuid4()]
    for complaint_id in ids:
        customer(directory, complaint_id, email=f"c-{complaint_id.hex[:8]}@example.com")
        await handle(db, settings, received(complaint_id))
    try:
        assert await worker.run_once() == 2
    finally:
        await worker.close()
    assert contact_reads(directory) == (1, 2)
    for complaint_id in ids:
        assert len(mails_to(mail_sink, f"c-{complaint_id.hex[:8]}@example.com")) == 1


async def test_customer_with_only_a_phone_gets_an_sms_through_the_gateway(
    db: Database,
    settings: Settings,
    worker: DeliveryWorker,
    directory: Directory,
    sms_gateway: LoopbackServer,
) -> None:
    complaint_id = uuid4()
    customer(directory, complaint_id, phone="+86 138 0013 8000")
    await handle(db, settings, received(complaint_id))
    await worker.run_once()

    [request] = sms_gateway.requests
    assert request.method == "POST" and request.path == "/send"
    assert request.headers["authorization"] == "Bearer sms-key-123"
    body = request.json()
    assert body["to"] == "+86 138 0013 8000"
    assert REFERENCE in body["text"] and "受理" in body["text"]
    [row] = await rows(db, complaint_id)
    assert request.headers["idempotency-key"] == str(row.id)
    assert (row.status, row.channel, row.response_status) == ("sent", "sms", 202)
    assert row.masked_recipient == "*********8000"


async def test_failing_sms_gateway_is_retried_with_backoff_then_given_up(
    db: Database,
    settings: Settings,
    worker: DeliveryWorker,
    directory: Directory,
    sms_gateway: LoopbackServer,
) -> None:
    sms_gateway.respond = lambda request: (500, {"error": "down"})
    complaint_id = uuid4()
    customer(directory, complaint_id, phone="13800138000")
    failed_before = {c: notifications_counted(c, "failed") for c in ("email", "sms")}
    await handle(db, settings, received(complaint_id))

    async def given_up() -> bool:
        return (await rows(db, complaint_id))[0].status == "failed"

    started = time.monotonic()
    await work_until(worker, given_up)
    # Three attempts, waiting ~0.05 s then ~0.1 s between them.
    assert len(sms_gateway.requests) == 3
    assert time.monotonic() - started >= 0.13
    [row] = await rows(db, complaint_id)
    assert (row.attempts, row.last_error, row.response_status) == (
        3,
        "SMS gateway answered 500",
        500,
    )
    [failed] = [
        e
        for e in await outbox_events(db, "notification.failed")
        if e["notification_id"] == str(row.id)
    ]
    assert failed["attempts"] == 3 and failed["error"] == "SMS gateway answered 500"
    assert failed["source_event_id"] == row.source_event_id
    # given up once, after three attempts: one failure counted, not three, under the
    # channel the event names
    channel = failed["delivery_channel"]
    assert notifications_counted(channel, "failed") - failed_before[channel] == 1


async def test_unreachable_smtp_server_is_retried_then_given_up(
    db: Database, jwt_secret: str, mail_sink: MailSink, directory: Directory, dead_port: int
) -> None:
    settings = make_settings(db, jwt_secret, mail_sink, directory, smtp_port=dead_port)
    worker = DeliveryWorker(db, settings)
    complaint_id = uuid4()
    customer(directory, complaint_id, email="nobody@example.com")
    await handle(db, settings, received(complaint_id))

    async def given_up() -> bool:
        return (await rows(db, complaint_id))[0].status == "failed"

    try:
        await work_until(worker, given_up)
    finally:
        await worker.close()
    [row] = await rows(db, complaint_id)
    assert row.attempts == 3
    assert row.last_error.startswith("SMTP server unreachable")
    assert "nobody@example.com" not in row.last_error


async def test_a_duplicate_event_is_planned_and_sent_once(
    db: Database,
    settings: Settings,
    worker: DeliveryWorker,
    directory: Directory,
    mail_sink: MailSink,
) -> None:
    complaint_id = uuid4()
    address = f"dup-{complaint_id.hex[:8]}@example.com"
    customer(directory, complaint_id, email=address)
    event = received(complaint_id)
    await handle(db, settings, event)
    await handle(db, settings, event)  # redelivered past the inbox: the unique key holds
    await worker.run_once()
    await handle(db, settings, event)  # and again after it was sent
    await worker.run_once()
    assert len(mails_to(mail_sink, address)) == 1
    assert [r.status for r in await rows(db, complaint_id)] == ["sent"]


async def test_complaint_facts_keep_what_a_later_event_does_not_restate(
    db: Database, settings: Settings
) -> None:
    complaint_id = uuid4()
    await handle(db, settings, received(complaint_id, language="en"))
    await handle(db, settings, triaged(complaint_id, owner="quality"))
    await handle(db, settings, proposed(complaint_id))  # restates only the reference
    async with db.sessions() as session:
        facts = await session.get(ComplaintFactsRow, complaint_id)
    assert facts is not None
    assert (
        facts.reference,
        facts.language,
        facts.owner_department,
        facts.urgency,
        facts.customer_tier,
    ) == (REFERENCE, "en", "quality", "urgent", "key")
    # The plan's rows carry what the facts know: the customer's language from
    # complaint.received for the proposal, which does not say it itself.
    proposal = [r for r in await rows(db, complaint_id) if r.template == "resolution_proposed"]
    assert [(r.language, r.reference) for r in proposal] == [("en", REFERENCE)]


async def test_a_stale_sending_row_is_sent_again_with_the_same_message_id(
    db: Database,
    settings: Settings,
    worker: DeliveryWorker,
    directory: Directory,
    mail_sink: MailSink,
) -> None:
    complaint_id = uuid4()
    address = f"stale-{complaint_id.hex[:8]}@example.com"
    customer(directory, complaint_id, email=address)
    await handle(db, settings, received(complaint_id))
    [claim] = await worker.claim()  # a worker claims it ... and dies before sending
    assert await worker.run_once() == 0  # 'sending' and fresh: nobody else touches it
    async with db.transaction() as session:
        row = await session.get(DeliveryRow, claim.id)
        row.claimed_at = datetime.now(UTC) - timedelta(seconds=settings.delivery_stale_after_s + 1)
    assert await worker.run_once() == 1
    [mail] = mails_to(mail_sink, address)
    [row] = await rows(db, complaint_id)
    assert (row.status, row.attempts) == ("sent", 2)
    assert mail["Message-ID"] == row.message_id == claim.message_id
    # The dead worker's late answer cannot overwrite the outcome.
    await worker.record([(claim, DeliveryError("late"))])
    assert (await rows(db, complaint_id))[0].status == "sent"


async def test_customer_without_address_is_skipped_with_the_reason(
    db: Database, jwt_secret: str, mail_sink: MailSink, directory: Directory
) -> None:
    settings = make_settings(db, jwt_secret, mail_sink, directory)  # no SMS gateway
    worker = DeliveryWorker(db, settings)
    complaint_id = uuid4()
    customer(directory, complaint_id, phone="13800138000")
    await handle(db, settings, received(complaint_id))
    await worker.run_once()
    await worker.close()
    [row] = await rows(db, complaint_id)
    assert row.status == "skipped"
    assert row.last_error == "no e-mail address on record (and no SMS gateway configured)"
    assert await outbox_events(db, "notification.failed") == []


async def test_sla_breach_mails_the_configured_department_and_its_manager(
    db: Database, jwt_secret: str, mail_sink: MailSink, directory: Directory
) -> None:
    tag = uuid4().hex[:8]
    settings = make_settings(
        db,
        jwt_secret,
        mail_sink,
        directory,
        department_contacts={
            "csc": {"email": f"csc-{tag}@corp.example", "manager_email": f"boss-{tag}@corp.example"}
        },
    )
    worker = DeliveryWorker(db, settings)
    event = sla(owner="csc")
    await handle(db, settings, event)
    await worker.run_once()
    await worker.close()
    [to_department] = mails_to(mail_sink, f"csc-{tag}@corp.example")
    [to_manager] = mails_to(mail_sink, f"boss-{tag}@corp.example")
    assert "SLA超时" in to_department["Subject"] and to_department["Reply-To"] is None
    assert "负责人" in to_manager.get_body(("plain",)).get_content()
    assert {r.recipient_kind for r in await rows(db, event.complaint_id)} == {
        "department",
        "manager",
    }


async def test_notifications_of_a_complaint_are_listed_with_masked_recipients(
    db: Database,
    settings: Settings,
    worker: DeliveryWorker,
    directory: Directory,
    api: httpx.AsyncClient,
    headers_for: Callable[..., dict[str, str]],
) -> None:
    complaint_id = uuid4()
    customer(directory, complaint_id, email="listed@example.com")
    await handle(db, settings, received(complaint_id))
    await worker.run_once()
    response = await api.get(
        "/v1/notifications", params={"complaint_id": str(complaint_id)}, headers=headers_for("csc")
    )
    assert response.status_code == 200
    [item] = response.json()
    assert item["kind"] == "acknowledgement" and item["recipient"] == "customer"
    assert item["status"] == "sent" and item["masked_recipient"] == "l***@example.com"
    assert "listed@example.com" not in response.text
    assert (
        await api.get("/v1/notifications", params={"complaint_id": str(complaint_id)})
    ).status_code == 401
    assert (
        await api.get(
            "/v1/notifications",
            params={"complaint_id": str(complaint_id)},
            headers=headers_for("gateway"),
        )
    ).status_code == 403


async def test_digest_subscribers_get_summary_link_and_the_report_attached(
    db: Database,
    settings: Settings,
    worker: DeliveryWorker,
    directory: Directory,
    mail_sink: MailSink,
    api: httpx.AsyncClient,
    headers_for: Callable[..., dict[str, str]],
) -> None:
    address = f"gm-{uuid4().hex[:8]}@corp.example"
    created = await api.post(
        "/v1/subscriptions",
        json={
            "name": "GM digests",
            "channel": "email",
            "recipient_kind": "manager",
            "address": address,
            "event_types": ["digest.published"],
        },
        headers=headers_for("admin"),
    )
    assert created.status_code == 201, created.text
    directory.pages["/digests/2026-W47.html"] = "<html><body>周报 2026-W47</body></html>".encode()
    event = digest(url=f"{directory.url}/digests/2026-W47.html")
    await handle(db, settings, event)
    await worker.run_once()
    [mail] = mails_to(mail_sink, address)
    assert mail["Subject"] == "【周报】业务运作情况周报 2026-W47"
    text = mail.get_body(("plain",)).get_content()
    assert "新受理投诉：42" in text and "92.5%" in text and event.data.url in text
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_filename() == "digest-2026-W47.html"
    assert "周报 2026-W47" in attachment.get_content()


async def test_events_planned_in_one_transaction_read_the_subscriptions_once_and_each_matches(
    db: Database,
    settings: Settings,
    api: httpx.AsyncClient,
    headers_for: Callable[..., dict[str, str]],
) -> None:
    created = await api.post(
        "/v1/subscriptions",
        json={
            "name": "every received complaint",
            "channel": "email",
            "recipient_kind": "manager",
            "address": f"qm-{uuid4().hex[:8]}@corp.example",
            "event_types": ["complaint.received"],
        },
        headers=headers_for("admin"),
    )
    assert created.status_code == 201, created.text
    complaints = [uuid4() for _ in range(3)]
    with sql_run(db) as ran:
        async with db.transaction() as session:
            for complaint_id in complaints:
                await Planner(settings, consumer=GROUP_ID)(session, received(complaint_id))
    assert len([statement for statement in ran if "FROM subscriptions" in statement]) == 1
    for complaint_id in complaints:
        kinds = sorted(row.recipient_kind for row in await rows(db, complaint_id))
        assert kinds == ["customer", "manager"], kinds  # the acknowledgement and the subscriber


async def test_supplier_notice_goes_to_the_supplier_with_the_response_link(
    db: Database,
    settings: Settings,
    worker: DeliveryWorker,
    directory: Directory,
    mail_sink: MailSink,
) -> None:
    event = next(e for e in all_template_events() if e.type == "rectification.notice_dispatched")
    rectification_id = str(event.data.rectification_id)
    address = f"qa-{rectification_id[:8]}@supplier.example"
    directory.suppliers[rectification_id] = {
        "rectification_id": rectification_id,
        "supplier_id": str(event.data.supplier_id),
        "supplier_name": "East China Parts Co.",
        "email": address,
        "language": "en",
        "response_url": f"http://rect.example/8d/{rectification_id}?token=t",
    }
    await handle(db, settings, event)
    await worker.run_once()
    [mail] = mails_to(mail_sink, address)
    assert mail["Subject"] == f"Supplier rectification notice {REFERENCE} — answer by 2026-12-10"
    text = mail.get_body(("plain",)).get_content()
    assert "Dear East China Parts Co." in text
    assert f"http://rect.example/8d/{rectification_id}?token=t" in text
    [row] = await rows(db, event.complaint_id)
    assert (row.recipient_kind, row.status, row.language) == ("supplier", "sent", "en")


async def test_workers_never_claim_the_same_row_twice(
    db: Database, settings: Settings, directory: Directory
) -> None:
    for _ in range(30):
        await handle(db, settings, received())
    workers = [DeliveryWorker(db, settings) for _ in range(3)]
    try:
        claims = await asyncio.gather(*(w.claim() for w in workers))
    finally:
        for w in workers:
            await w.close()
    ids = [claim.id for batch in claims for claim in batch]
    assert len(ids) == len(set(ids)) == 30
    async with db.sessions() as session:
        statuses = set(await session.scalars(sa.select(DeliveryRow.status)))
    assert statuses == {"sending"}


async def test_recorded_notifications_of_0001_survive_the_upgrade(database_url: str) -> None:
    from tousu_common.migrations import upgrade

    await asyncio.to_thread(upgrade, "tousu_notify", database_url, "0001")
    db = Database(database_url)
    complaint_id = uuid4()
    try:
        async with db.transaction() as session:
            await session.execute(
                sa.text(
                    "INSERT INTO notifications (id, complaint_id, event_id, reference, kind, "
                    "recipient, template, language, status, created_at) VALUES "
                    "(:id, :cid, 'evt-1', :ref, 'acknowledgement', 'customer', "
                    "'complaint_acknowledgement', 'zh', 'recorded', :at)"
                ).bindparams(sa.bindparam("id", type_=sa.Uuid), sa.bindparam("cid", type_=sa.Uuid)),
                {"id": uuid4(), "cid": complaint_id, "ref": REFERENCE, "at": datetime.now(UTC)},
            )
        await asyncio.to_thread(upgrade, "tousu_notify", database_url)
        [row] = await rows(db, complaint_id)
        assert (row.template, row.recipient_key, row.status, row.event_type) == (
            "acknowledgement",
            "customer",
            "skipped",
            "complaint.received",
        )
        assert row.context == {}
    finally:
        await db.dispose()


async def test_logs_hold_ids_not_addresses_names_or_tokens(
    db: Database,
    settings: Settings,
    worker: DeliveryWorker,
    directory: Directory,
    sms_gateway: LoopbackServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    complaint_id = uuid4()
    secrets_ = ["secret.person@example.com", "13912345678", "王秘密", "tok-SECRET"]
    customer(
        directory,
        complaint_id,
        email=secrets_[0],
        phone=secrets_[1],
        customer_name=secrets_[2],
        tracking_url=f"http://track.example/t?token={secrets_[3]}",
    )
    sms_gateway.respond = lambda request: (500, {"echo": request.json()})
    with caplog.at_level(logging.INFO):  # the production level; libraries debug-log SQL
        await handle(db, settings, received(complaint_id))
        await worker.run_once()  # e-mail sent
        other = uuid4()
        customer(directory, other, phone=secrets_[1], customer_name=secrets_[2])
        await handle(db, settings, received(other))
        await worker.run_once()  # SMS attempt fails
    lines = [r for r in caplog.records if r.name.startswith("tousu")]
    assert {r.getMessage() for r in lines} >= {
        "deliveries planned",
        "delivery sent",
        "delivery attempt failed",
    }
    # (mail.log is the test's own SMTP sink, which logs what it receives.)
    dumped = " ".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records if r.name != "mail.log")
    for secret in [
        *secrets_,
        "138 0000 0000",
        "sms-key-123",
        settings.jwt_secret.get_secret_value(),
    ]:
        assert secret not in dumped


async def test_a_failed_delivery_can_be_retried_by_hand(
    db: Database,
    settings: Settings,
    worker: DeliveryWorker,
    directory: Directory,
    sms_gateway: LoopbackServer,
    api: httpx.AsyncClient,
    headers_for: Callable[..., dict[str, str]],
) -> None:
    sms_gateway.respond = lambda request: (500, {})
    complaint_id = uuid4()
    customer(directory, complaint_id, phone="13800138000")
    await handle(db, settings, received(complaint_id))

    async def given_up() -> bool:
        return (await rows(db, complaint_id))[0].status == "failed"

    await work_until(worker, given_up)
    [row] = await rows(db, complaint_id)
    url = f"/v1/notifications/{row.id}/retry"
    assert (await api.post(url, headers=headers_for("agent"))).status_code == 403
    sms_gateway.respond = lambda request: (200, {})
    retried = await api.post(url, headers=headers_for("csc"))
    assert retried.status_code == 200 and retried.json()["status"] == "pending"
    await worker.run_once()
    [row] = await rows(db, complaint_id)
    assert (row.status, row.attempts) == ("sent", 1)
    again = await api.post(url, headers=headers_for("csc"))
    assert again.status_code == 409
    assert (
        await api.post(f"/v1/notifications/{uuid4()}/retry", headers=headers_for("csc"))
    ).status_code == 404


async def test_replayed_old_events_are_recorded_but_not_sent(
    db: Database,
    settings: Settings,
    worker: DeliveryWorker,
    directory: Directory,
    mail_sink: MailSink,
) -> None:
    from dataclasses import replace

    complaint_id = uuid4()
    address = f"old-{complaint_id.hex[:8]}@example.com"
    customer(directory, complaint_id, email=address)
    event = replace(received(complaint_id), time=datetime.now(UTC) - timedelta(days=30))
    await handle(db, settings, event)
    await worker.run_once()
    assert mails_to(mail_sink, address) == []
    [row] = await rows(db, complaint_id)
    assert (row.status, row.last_error) == (
        "skipped",
        "event too old to notify about (replayed history)",
    )


class _RefusingRecipients:
    """An SMTP server that answers RCPT with the code named in the local part
    (``r451@…`` → 451), as greylisting servers (4xx) and unknown mailboxes (5xx) do."""

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        code = address.split("@")[0].removeprefix("r")
        return f"{code} refused for now" if code.startswith("4") else f"{code} no such mailbox"


@pytest.mark.parametrize(("code", "status", "attempts"), [(451, "failed", 3), (550, "failed", 1)])
async def test_a_recipient_refused_with_4xx_is_retried_and_with_5xx_given_up_at_once(
    db: Database,
    jwt_secret: str,
    mail_sink: MailSink,
    directory: Directory,
    code: int,
    status: str,
    attempts: int,
) -> None:
    from aiosmtpd.controller import Controller

    from tousu_common.devstack import free_port

    port = free_port()
    server = Controller(_RefusingRecipients(), hostname="127.0.0.1", port=port)
    server.start()
    settings = make_settings(db, jwt_secret, mail_sink, directory, smtp_port=port)
    worker = DeliveryWorker(db, settings)
    complaint_id = uuid4()
    customer(directory, complaint_id, email=f"r{code}@example.com")
    await handle(db, settings, received(complaint_id))

    async def settled() -> bool:
        return (await rows(db, complaint_id))[0].status == status

    try:
        await work_until(worker, settled)
    finally:
        await worker.close()
        server.stop()
    [row] = await rows(db, complaint_id)
    assert row.attempts == attempts
    assert row.last_error == f"SMTP server refused the recipient ({code})"
