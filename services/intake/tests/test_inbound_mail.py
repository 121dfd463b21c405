"""Inbound mail on the real databases: filed, threaded, ignored — once, with the raw kept."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from uuid import UUID, uuid4

import httpx
import pytest
import sqlalchemy as sa
import yaml

from tousu_common.db import Database
from tousu_common.events import new_event
from tousu_common.events.catalog import ResolutionAction, ResolutionProposed
from tousu_common.messaging.tables import outbox
from tousu_intake.adapters.channels_orm import InboundMailRow
from tousu_intake.adapters.orm import AttachmentRow, ComplaintRow
from tousu_intake.config import Settings
from tousu_intake.handlers.inbound_mail import MailInFlight, receive_mail
from tousu_intake.handlers.tracking import project_event

pytestmark = pytest.mark.integration

PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(jwt_secret="x" * 40, database_url=database_url, data_dir=tmp_path)


def message(
    *,
    subject: str = "发动机漏油",
    body: str = "卡车发动机漏油，请处理。",
    sender: str = "王先生 <wang@example.cn>",
    to: str = "complaints@tousu.example",
    headers: dict[str, str] | None = None,
    attachment: tuple[str, bytes, str] | None = None,
) -> bytes:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = to
    mail["Subject"] = subject
    mail["Message-ID"] = make_msgid(domain="example.cn")
    for name, value in (headers or {}).items():
        del mail[name]
        mail[name] = value
    mail.set_content(body)
    if attachment:
        name, data, content_type = attachment
        maintype, subtype = content_type.split("/")
        mail.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return mail.as_bytes()


async def deliver(
    db: Database,
    settings: Settings,
    raw: bytes,
    *,
    envelope_from: str = "wang@example.cn",
    key_account: bool = False,
):
    return await receive_mail(
        db,
        settings,
        raw=raw,
        envelope_from=envelope_from,
        recipient=settings.key_account_mailbox if key_account else settings.complaints_mailbox,
        key_account=key_account,
    )


async def events(db: Database, event_type: str) -> list[dict]:
    async with db.sessions() as session:
        rows = await session.execute(
            sa.select(outbox.c.payload)
            .where(outbox.c.event_type == event_type)
            .order_by(outbox.c.id)
        )
    return [json.loads(row.payload) for row in rows]


async def mail_rows(db: Database) -> list[InboundMailRow]:
    async with db.sessions() as session:
        return list((await session.scalars(sa.select(InboundMailRow))).all())


async def test_gbk_mail_with_attachment_is_filed_with_raw_kept_and_customer_linked(
    db: Database, settings: Settings
) -> None:
    body = "发动机漏油，联系人：𠮷先生。"
    raw = (
        "From: =?gb2312?B?" + base64.b64encode("王建国".encode("gb18030")).decode() + "?= "
        "<Wang@Example.cn>\r\nTo: complaints@tousu.example\r\n"
        "Subject: =?gb2312?B?"
        + base64.b64encode("𠮷的发动机漏油".encode("gb18030")).decode()
        + "?=\r\nMessage-ID: <gbk-1@example.cn>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        "Content-Type: text/plain; charset=gb2312\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.b64encode(body.encode("gb18030")).decode()
        + "\r\n--b\r\nContent-Type: application/pdf\r\n"
        'Content-Disposition: attachment; filename="report.pdf"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.b64encode(PDF).decode()
        + "\r\n--b--\r\n"
    ).encode()
    outcome = await deliver(db, settings, raw)
    assert outcome.outcome == "filed" and outcome.reference
    async with db.sessions() as session:
        complaint = await session.get(ComplaintRow, outcome.complaint_id)
        attachments = (await session.scalars(sa.select(AttachmentRow))).all()
    assert complaint is not None
    assert complaint.channel == "email" and complaint.title == "𠮷的发动机漏油"
    assert complaint.description == body and complaint.customer_name == "王建国"
    assert complaint.customer_email == "wang@example.cn" and complaint.customer_id is not None
    assert [a.filename for a in attachments] == ["report.pdf"]
    [received] = await events(db, "complaint.received")
    assert received["channel"] == "email" and received["attachment_count"] == 1
    assert "王建国" not in json.dumps(received) and "wang@" not in json.dumps(received)
    [row] = await mail_rows(db)
    assert row.outcome == "filed" and row.complaint_id == outcome.complaint_id
    assert await asyncio.to_thread(Path(row.raw_path).read_bytes) == raw
    assert row.message_id == "<gbk-1@example.cn>"


async def test_the_same_message_twice_is_processed_once(db: Database, settings: Settings) -> None:
    raw = message()
    first = await deliver(db, settings, raw)
    again = await deliver(db, settings, raw)
    assert again.duplicate and again.complaint_id == first.complaint_id
    assert len(await events(db, "complaint.received")) == 1
    assert len(await mail_rows(db)) == 1


async def test_concurrent_deliveries_of_one_message_file_one_complaint(
    db: Database, settings: Settings
) -> None:
    raw = message()
    results = await asyncio.gather(
        *(deliver(db, settings, raw) for _ in range(4)), return_exceptions=True
    )
    filed = [r for r in results if not isinstance(r, BaseException) and not r.duplicate]
    assert len(filed) == 1
    # the others were told to come back later (451) or, if late enough, got the first outcome
    for result in results:
        if isinstance(result, BaseException):
            assert isinstance(result, MailInFlight)
        else:
            assert result.complaint_id == filed[0].complaint_id
    assert len(await events(db, "complaint.received")) == 1


async def test_reply_by_reference_in_subject_amends_the_complaint(
    db: Database, settings: Settings
) -> None:
    first = await deliver(db, settings, message())
    reply = message(subject=f"回复：[{first.reference}] 补充照片", body="补充：昨天又漏了一次")
    outcome = await deliver(db, settings, reply)
    assert outcome.outcome == "amended" and outcome.complaint_id == first.complaint_id
    [amended] = await events(db, "complaint.amended")
    assert amended["kind"] == "email" and amended["from_customer"] is True
    assert amended["text"] == "补充：昨天又漏了一次"
    assert len(await events(db, "complaint.received")) == 1


async def test_reply_to_our_message_id_amends_even_without_a_reference(
    db: Database, settings: Settings
) -> None:
    first = await deliver(db, settings, message())
    ours = f"<{first.reference}.{uuid4().hex}@tousu.example>"
    reply = message(subject="Re: 您的投诉", body="好的", headers={"In-Reply-To": ours})
    outcome = await deliver(db, settings, reply)
    assert outcome.outcome == "amended" and outcome.complaint_id == first.complaint_id


async def test_reply_to_the_customers_own_earlier_mail_threads_too(
    db: Database, settings: Settings
) -> None:
    original = message()
    first = await deliver(db, settings, original)
    original_id = original.split(b"Message-ID: ")[1].split(b"\n")[0].strip().decode()
    follow_up = message(subject="还有一个问题", headers={"References": original_id})
    outcome = await deliver(db, settings, follow_up)
    assert outcome.outcome == "amended" and outcome.complaint_id == first.complaint_id


@pytest.mark.parametrize(
    ("headers", "envelope", "reason"),
    [
        (
            {"Auto-Submitted": "auto-replied", "Subject": "自动回复：休假中"},
            "wang@example.cn",
            "auto",
        ),
        ({}, "", "bounce"),
        ({"From": "complaints@tousu.example"}, "complaints@tousu.example", "loop"),
    ],
)
async def test_auto_replies_bounces_and_loops_are_recorded_not_filed(
    db: Database, settings: Settings, headers: dict[str, str], envelope: str, reason: str
) -> None:
    outcome = await deliver(db, settings, message(headers=headers), envelope_from=envelope)
    assert outcome.outcome == "ignored" and outcome.reason.startswith(reason)
    assert await events(db, "complaint.received") == []
    [row] = await mail_rows(db)
    assert row.outcome == "ignored" and await asyncio.to_thread(Path(row.raw_path).exists)


async def test_key_account_mailbox_files_on_the_key_account_channel(
    db: Database, settings: Settings
) -> None:
    outcome = await deliver(
        db, settings, message(to=settings.key_account_mailbox), key_account=True
    )
    [received] = await events(db, "complaint.received")
    assert outcome.outcome == "filed"
    assert received["channel"] == "key_account" and received["key_account"] is True


async def test_an_attachment_intake_cannot_keep_is_noted_and_the_mail_still_filed(
    db: Database, settings: Settings
) -> None:
    raw = message(
        attachment=("setup.exe", b"MZ\x90\x00" + b"\x00" * 100, "application/octet-stream")
    )
    outcome = await deliver(db, settings, raw)
    assert outcome.outcome == "filed"
    [received] = await events(db, "complaint.received")
    assert received["attachment_count"] == 0
    assert "setup.exe" in received["description"]


async def propose_plan(db: Database, complaint_id: UUID, reference: str) -> None:
    event = new_event(
        ResolutionProposed(
            complaint_id=complaint_id,
            reference=reference,
            case_id=uuid4(),
            by="csc-1",
            at=datetime.now(UTC),
            plan_version=1,
            actions=[
                ResolutionAction(kind="replace", description="更换油封", due_date=date(2026, 12, 1))
            ],
        ),
        source="tousu/rectification",
    )
    async with db.transaction() as session:
        await project_event(session, event)


async def test_a_reply_accepting_the_pending_plan_is_a_decision(
    db: Database, settings: Settings
) -> None:
    first = await deliver(db, settings, message())
    await propose_plan(db, first.complaint_id, first.reference)
    reply = message(subject=f"Re: {first.reference} 解决方案", body="同意\n\n> 我们建议更换油封")
    outcome = await deliver(db, settings, reply)
    assert outcome.outcome == "amended" and outcome.decision == "accept"
    [decision] = await events(db, "resolution.decision_received")
    assert decision["decision"] == "accept" and decision["via"] == "email"
    assert decision["plan_version"] == 1
    # a second "同意" is only an amendment: the plan was already answered
    again = await deliver(db, settings, message(subject=f"Re: {first.reference}", body="同意"))
    assert again.decision is None
    assert len(await events(db, "resolution.decision_received")) == 1


async def test_a_decision_from_another_address_is_only_an_amendment(
    db: Database, settings: Settings
) -> None:
    first = await deliver(db, settings, message())
    await propose_plan(db, first.complaint_id, first.reference)
    reply = message(
        subject=f"Re: {first.reference}", body="拒绝", sender="someone@elsewhere.example"
    )
    outcome = await deliver(db, settings, reply, envelope_from="someone@elsewhere.example")
    assert outcome.outcome == "amended" and outcome.decision is None
    assert await events(db, "resolution.decision_received") == []


async def test_unreadable_bytes_are_kept_and_ignored(db: Database, settings: Settings) -> None:
    outcome = await deliver(db, settings, b"   \r\n  ")
    assert outcome.outcome == "ignored" and outcome.reason.startswith("unreadable")


async def test_staff_review_ignored_mail_and_download_the_raw_message(
    db: Database, settings: Settings, client, headers_for
) -> None:
    raw = message(headers={"Auto-Submitted": "auto-replied"})
    await deliver(db, settings, raw)
    filed = await deliver(db, settings, message())
    ignored = await client.get(
        "/v1/inbound-mail", params={"outcome": "ignored"}, headers=headers_for("csc")
    )
    assert ignored.status_code == 200
    [item] = ignored.json()["items"]
    assert item["reason"].startswith("auto-reply") and item["complaint_id"] is None
    download = await client.get(item["raw_url"], headers=headers_for("agent"))
    assert download.status_code == 200 and download.content == raw
    assert download.headers["content-type"].startswith("message/rfc822")
    linked = await client.get(
        "/v1/inbound-mail",
        params={"complaint_id": str(filed.complaint_id)},
        headers=headers_for("csc"),
    )
    assert [i["outcome"] for i in linked.json()["items"]] == ["filed"]
    assert (await client.get("/v1/inbound-mail", headers=headers_for("supply"))).status_code == 403
    assert (await client.get("/v1/inbound-mail")).status_code == 401


async def test_a_claim_left_by_a_dead_delivery_is_taken_over_after_its_lease(
    db: Database, settings: Settings
) -> None:
    raw = message()
    message_id = raw.split(b"Message-ID: ")[1].split(b"\n")[0].strip().decode()
    claim = {
        "id": uuid4(),
        "dedupe_key": message_id,
        "message_id": message_id,
        "mailbox": settings.complaints_mailbox,
        "envelope_from": "wang@example.cn",
        "from_address": "wang@example.cn",
        "subject": "x",
        "outcome": "processing",
        "raw_path": "/nonexistent",
        "size_bytes": len(raw),
        "sha256": "0" * 64,
    }
    async with db.transaction() as session:
        await session.execute(
            sa.insert(InboundMailRow).values(**claim, received_at=datetime.now(UTC))
        )
    with pytest.raises(MailInFlight):  # somebody is at work on it: come back later (451)
        await deliver(db, settings, raw)
    async with db.transaction() as session:
        await session.execute(
            sa.update(InboundMailRow).values(received_at=datetime.now(UTC) - timedelta(hours=1))
        )
    outcome = await deliver(db, settings, raw)
    assert outcome.outcome == "filed" and not outcome.duplicate
    [row] = await mail_rows(db)
    assert row.id == claim["id"] and row.outcome == "filed" and row.raw_path != "/nonexistent"


async def test_the_contact_read_gives_notify_the_message_id_of_the_mail_that_filed_it(
    db: Database,
    settings: Settings,
    client: httpx.AsyncClient,
    headers_for: Callable[..., dict[str, str]],
) -> None:
    """notify answers the customer's own mail (In-Reply-To / References); the id
    is personal data, so it comes through the service-token contact read."""
    filed = await deliver(
        db, settings, message(subject="刹车异响", headers={"Message-ID": "<c1.2027@example.cn>"})
    )
    reply = await deliver(
        db,
        settings,
        message(
            subject=f"回复：{filed.reference} 补充照片",
            headers={"Message-ID": "<c2.2027@example.cn>"},
        ),
    )
    assert (filed.outcome, reply.outcome) == ("filed", "amended")
    no_id = await deliver(
        db,
        settings,
        b"From: li@example.cn\r\nTo: complaints@tousu.example\r\nSubject: gearbox\r\n\r\n"
        b"The gearbox is noisy.\r\n",
        envelope_from="li@example.cn",
    )
    service = headers_for("service")
    one = await client.get(f"/v1/complaints/{filed.complaint_id}/contact", headers=service)
    assert one.status_code == 200, one.text
    assert one.json()["email_message_id"] == "<c1.2027@example.cn>"  # not the reply's
    batch = await client.post(
        "/v1/complaints/contacts",
        json={"ids": [str(filed.complaint_id), str(no_id.complaint_id)]},
        headers=service,
    )
    by_id = {c["complaint_id"]: c for c in batch.json()["contacts"]}
    assert by_id[str(filed.complaint_id)] == one.json()
    assert by_id[str(no_id.complaint_id)]["email_message_id"] is None


CORPUS = Path(__file__).parent / "mail_corpus"
FILED_WITH_FILES = [
    entry
    for entry in yaml.safe_load((CORPUS / "manifest.yaml").read_text("utf-8"))
    if entry["ignored"] is None and entry["attachments"]
]


@pytest.mark.parametrize("entry", FILED_WITH_FILES, ids=lambda entry: entry["file"])
async def test_every_file_a_corpus_message_carries_is_stored_with_its_complaint(
    db: Database, settings: Settings, entry: dict
) -> None:
    outcome = await deliver(
        db,
        settings,
        (CORPUS / entry["file"]).read_bytes(),
        envelope_from=entry["envelope_from"],
    )
    assert outcome.outcome == "filed", outcome
    async with db.sessions() as session:
        complaint = await session.get(ComplaintRow, outcome.complaint_id)
        stored = (
            await session.scalars(
                sa.select(AttachmentRow).where(AttachmentRow.complaint_id == outcome.complaint_id)
            )
        ).all()
    assert complaint.title == entry["subject"]
    assert "not kept" not in complaint.description
    assert sorted((a.filename, a.size, a.sha256) for a in stored) == sorted(
        (a["filename"], a["size"], a["sha256"]) for a in entry["attachments"]
    )
