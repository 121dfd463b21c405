"""E-mail and web channels end to end: real SMTP to intake's listener, real broker,
both databases, the web form and tracking page in headless Chromium.

Tests in this module share one stack (per backend); the HTTP-client tests use
their own loopback source addresses so each has its own rate-limit bucket.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import smtplib
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from tousu_common.devstack import Stack
from tousu_common.events import new_event
from tousu_common.events.catalog import ResolutionAction, ResolutionProposed
from tousu_common.mailsink import MailSink
from tousu_common.testing.helpers import header, read_topic

pytestmark = pytest.mark.integration

MAILBOX = "complaints@tousu.example"
PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
GB18030_ONLY = "𠮷"


def send(stack: Stack, raw: bytes, *, sender: str, to: str = MAILBOX) -> tuple[int, str]:
    """One SMTP transaction against intake's listener; the reply to DATA."""
    with smtplib.SMTP("127.0.0.1", stack.smtp_port, timeout=30) as smtp:
        smtp.ehlo("mx.example.cn")
        code, _ = smtp.mail(sender)
        assert code == 250
        code, reply = smtp.rcpt(to)
        if code != 250:
            return code, reply.decode()
        code, reply = smtp.data(raw)
    return code, reply.decode()


def gbk_mail(subject: str, body: str, *, message_id: str, extra: str = "") -> bytes:
    """A mail the way Chinese clients send it: GBK bytes labelled gb2312, base64."""
    word = base64.b64encode(subject.encode("gb18030")).decode()
    name = base64.b64encode("王建国".encode("gb18030")).decode()
    filename = base64.b64encode("检测报告.pdf".encode("gbk")).decode()
    return (
        f"From: =?gb2312?B?{name}?= <wang.e2e@example.cn>\r\nTo: {MAILBOX}\r\n"
        f"Subject: =?gb2312?B?{word}?=\r\nMessage-ID: {message_id}\r\n{extra}"
        'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="gbk"\r\n\r\n'
        "--gbk\r\nContent-Type: text/plain; charset=gb2312\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
        f"{base64.b64encode(body.encode('gb18030')).decode()}\r\n"
        "--gbk\r\nContent-Type: application/pdf\r\n"
        f'Content-Disposition: attachment; filename="=?gbk?B?{filename}?="\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n"
        f"{base64.b64encode(PDF).decode()}\r\n--gbk--\r\n"
    ).encode("ascii")


def plain_mail(subject: str, body: str, **headers: str) -> bytes:
    mail = EmailMessage()
    mail["From"] = headers.pop("From", "王建国 <wang.e2e@example.cn>")
    mail["To"] = MAILBOX
    mail["Subject"] = subject
    mail["Message-ID"] = make_msgid(domain="example.cn")
    for name, value in headers.items():
        mail[name.replace("_", "-")] = value
    mail.set_content(body)
    return mail.as_bytes()


def find(stack: Stack, auth: Callable[..., dict[str, str]], reference: str) -> dict[str, Any]:
    with httpx.Client(base_url=stack.url("intake"), timeout=30) as client:
        found = client.get(
            "/v1/complaints", params={"reference": reference}, headers=auth("csc")
        ).json()
        [summary] = found["items"]
        return client.get(f"/v1/complaints/{summary['id']}", headers=auth("csc")).json()


def events_for(stack: Stack, complaint_id: str, count: int) -> list[tuple[str, dict]]:
    def mine(records: list) -> list:
        return [r for r in records if r.key == complaint_id.encode()]

    records = asyncio.run(
        read_topic(stack.bootstrap, "tousu.complaints", until=lambda rs: len(mine(rs)) >= count)
    )
    return [(header(r, "ce_type") or "", json.loads(r.value)) for r in mine(records)]


def reference_in(reply: str) -> str:
    match = re.search(r"TS-\d{4}-\d{6,}", reply)
    assert match, reply
    return match.group(0)


def test_gbk_mail_with_attachment_is_filed_and_replies_are_threaded(
    stack: Stack, auth: Callable[..., dict[str, str]]
) -> None:
    subject = f"投诉：{GB18030_ONLY}的发动机漏油"
    body = f"发动机漏油，车辆停在高速上。联系人：{GB18030_ONLY}先生。"
    first_id = make_msgid(domain="example.cn")
    code, reply = send(
        stack, gbk_mail(subject, body, message_id=first_id), sender="wang.e2e@example.cn"
    )
    assert code == 250 and "filed" in reply, reply
    reference = reference_in(reply)
    complaint = find(stack, auth, reference)
    assert complaint["channel"] == "email" and complaint["title"] == subject
    assert complaint["description"] == body
    assert [a["filename"] for a in complaint["attachments"]] == ["检测报告.pdf"]

    # a reply naming the reference in its subject …
    code, reply = send(
        stack,
        plain_mail(f"回复：{reference} 补充", "昨天又漏了一次。\n\n> 原邮件"),
        sender="wang.e2e@example.cn",
    )
    assert code == 250 and f"amended {reference}" in reply, reply
    # … and one answering our acknowledgement's Message-ID (notify's form), no reference
    ours = f"<{reference}.0f3c9a@tousu.example>"
    code, reply = send(
        stack,
        plain_mail("Re: 您的投诉已受理", "好的，等你们电话。", In_Reply_To=ours, References=ours),
        sender="wang.e2e@example.cn",
    )
    assert code == 250 and f"amended {reference}" in reply, reply

    events = events_for(stack, complaint["id"], 3)
    assert [kind for kind, _ in events] == [
        "complaint.received",
        "complaint.amended",
        "complaint.amended",
    ]
    assert events[0][1]["channel"] == "email" and events[0][1]["attachment_count"] == 1
    assert {payload["kind"] for _, payload in events[1:]} == {"email"}
    assert all(payload["from_customer"] for _, payload in events[1:])
    assert events[1][1]["text"] == "昨天又漏了一次。"
    assert "wang.e2e" not in json.dumps(events)  # no address on the broker
    with httpx.Client(base_url=stack.url("intake"), timeout=30) as client:
        mine = client.get("/v1/complaints", params={"channel": "email"}, headers=auth("csc")).json()
    assert [item["reference"] for item in mine["items"]].count(reference) == 1
    assert len(find(stack, auth, reference)["amendments"]) == 2


@pytest.mark.parametrize(
    ("raw", "sender", "reason"),
    [
        (
            plain_mail("自动回复：我正在休假", "我将于下周一回来。", Auto_Submitted="auto-replied"),
            "wang.e2e@example.cn",
            "auto",
        ),
        (plain_mail("Undelivered Mail Returned to Sender", "failed"), "", "bounce"),
        (
            plain_mail("您的投诉已受理", "TS-2026-000001", From="notify@tousu.example"),
            "notify@tousu.example",
            "loop",
        ),
    ],
)
def test_auto_replies_bounces_and_loops_are_accepted_but_not_filed(
    stack: Stack, auth: Callable[..., dict[str, str]], raw: bytes, sender: str, reason: str
) -> None:
    with httpx.Client(base_url=stack.url("intake"), timeout=30) as client:
        before = client.get("/v1/complaints", params={"channel": "email"}, headers=auth("csc"))
        code, reply = send(stack, raw, sender=sender)
        after = client.get("/v1/complaints", params={"channel": "email"}, headers=auth("csc"))
    assert code == 250 and "ignored" in reply, reply
    assert after.json()["total"] == before.json()["total"]


def test_key_account_mailbox_files_on_the_key_account_channel(
    stack: Stack, auth: Callable[..., dict[str, str]]
) -> None:
    raw = plain_mail(
        "交付延误", "合同约定的交付日期已过三天。", From="采购部 <buyer.e2e@oem.example>"
    )
    code, reply = send(stack, raw, sender="buyer.e2e@oem.example", to="key-accounts@tousu.example")
    assert code == 250 and "filed" in reply, reply
    complaint = find(stack, auth, reference_in(reply))
    assert complaint["channel"] == "key_account" and complaint["key_account"] is True


def test_other_recipients_and_oversized_mail_are_refused(stack: Stack) -> None:
    code, reply = send(stack, plain_mail("x", "y"), sender="a@example.cn", to="ceo@tousu.example")
    assert code == 550, reply
    with smtplib.SMTP("127.0.0.1", stack.smtp_port, timeout=30) as smtp:
        smtp.ehlo("mx.example.cn")
        assert smtp.has_extn("size")
        code, _ = smtp.mail("a@example.cn", options=[f"SIZE={100 * 1024 * 1024}"])
        assert code == 552


def client_from(stack: Stack, address: str) -> httpx.AsyncClient:
    """An HTTP client with its own loopback source address: its own rate-limit bucket."""
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(base_url=stack.url("intake"), timeout=30, transport=transport)


async def _eventually_async(probe: Callable[[], Any], timeout: float = 45) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(0.3)
    raise AssertionError(f"not within {timeout}s; last: {last!r}")


async def test_web_form_in_chromium_then_tracking_page_shows_the_triage(
    stack: Stack, page: Any, tmp_path: Any
) -> None:
    photo = tmp_path / "漏油照片.png"
    photo.write_bytes(PNG)
    await page.goto(f"{stack.url('intake')}/complaint")
    assert await page.get_attribute("html", "lang") == "zh-CN"
    await page.get_by_label("您的姓名").fill("赵先生")
    await page.get_by_label("电话").fill("139 1111 2222")
    await page.get_by_label("电子邮箱").fill("zhao.e2e@example.cn")
    await page.get_by_label("产品型号").fill("YC6K")
    await page.get_by_label("问题概述").fill("发动机漏油，车辆无法行驶")
    await page.get_by_label("详细描述").fill("车辆在工地上发动机漏油，已经停机两天。")
    await page.get_by_label("附件").set_input_files(str(photo))
    await page.get_by_role("button", name="提交投诉").click()
    await page.wait_for_selector("#reference", timeout=30_000)
    reference = (await page.text_content("#reference")).strip()
    link = await page.get_attribute("#tracking-link", "href")
    assert re.fullmatch(r"TS-\d{4}-\d{6,}", reference)
    assert link.startswith(f"{stack.url('intake')}/track/{reference}?token=")

    await page.goto(link)
    assert reference in (await page.text_content("h1"))

    async def triaged() -> bool:
        await page.reload()
        return "负责处理" in (await page.text_content("#history"))

    await _eventually_async(triaged)
    status = await page.text_content("#status")
    owner = (await page.text_content("#owner")).strip()
    history = await page.text_content("#history")
    assert status.strip() == "处理中"
    assert owner.endswith("部") or owner.endswith("中心"), owner
    assert re.search(r"已分类为.+（.+），由.+负责处理。", history), history
    assert "赵先生" not in await page.content()  # no contact details on the page

    # the customer adds information on the tracking page
    await page.get_by_label("补充说明").fill("今天又漏了，照片见附件。")
    await page.get_by_role("button", name="提交补充信息").click()
    await page.wait_for_selector("#notice", timeout=30_000)

    async def amendment_shown() -> bool:
        await page.reload()
        return "您补充了信息" in (await page.text_content("#history"))

    await _eventually_async(amendment_shown)


async def test_customer_accepts_a_proposed_plan_in_chromium(
    stack: Stack, page: Any, auth: Callable[..., dict[str, str]]
) -> None:
    async with client_from(stack, "127.0.0.4") as client:
        form_page = await client.get("/complaint?lang=en")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form_page.text).group(1)
        filed = await client.post(
            "/complaint",
            data={
                "csrf_token": token,
                "lang": "en",
                "name": "Ms Chen",
                "email": "chen.e2e@example.com",
                "title": "Gearbox noise",
                "description": "The gearbox of our bus makes a loud noise.",
            },
        )
        assert filed.status_code == 201, filed.text
        reference = re.search(r'id="reference">([^<]+)<', filed.text).group(1)
        link = re.search(r'id="tracking-link" href="([^"]+)"', filed.text).group(1)
        found = await client.get(
            "/v1/complaints", params={"reference": reference}, headers=auth("csc")
        )
        complaint_id = found.json()["items"][0]["id"]

    # once routing triaged it and rectification opened the case …
    await page.goto(link)

    async def case_opened() -> bool:
        await page.reload()
        history = await page.text_content("#history")
        return "is handling it" in history and "opened a case" in history

    await _eventually_async(case_opened)
    # … rectification proposes a plan (published here as rectification would)
    proposed = new_event(
        ResolutionProposed(
            complaint_id=complaint_id,
            reference=reference,
            case_id=uuid4(),
            by="csc-7",
            at=datetime.now(UTC),
            plan_version=1,
            actions=[
                ResolutionAction(
                    kind="repair", description="Replace the gearbox bearing", due_date=date.today()
                )
            ],
        ),
        source="tousu/rectification",
    )
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            proposed.topic, proposed.value(), key=proposed.key, headers=proposed.headers()
        )
    finally:
        await producer.stop()

    async def plan_shown() -> bool:
        await page.reload()
        return await page.locator("#plan").count() > 0

    await _eventually_async(plan_shown)
    assert "Replace the gearbox bearing" in await page.text_content("#plan")
    assert (await page.text_content("#status")).strip() == "A solution is waiting for your answer"
    await page.get_by_role("button", name="Accept this solution").click()
    await page.wait_for_selector("#decision-sent", timeout=30_000)

    def decided(records: list) -> list:
        return [
            r
            for r in records
            if r.key == complaint_id.encode()
            and header(r, "ce_type") == "resolution.decision_received"
        ]

    records = await read_topic(
        stack.bootstrap, "tousu.complaints", until=lambda rs: bool(decided(rs))
    )
    [record] = decided(records)
    payload = json.loads(record.value)
    assert payload["decision"] == "accept" and payload["via"] == "web"
    assert payload["plan_version"] == 1 and payload["reference"] == reference


async def test_csrf_is_enforced_on_the_running_service(stack: Stack) -> None:
    async with client_from(stack, "127.0.0.2") as client:
        form = {"name": "x", "phone": "13800000000", "title": "t", "description": "d"}
        refused = await client.post("/complaint", data=form)
        assert refused.status_code == 403
        page = await client.get("/complaint")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        client.cookies.clear()
        cross_site = await client.post("/complaint", data={**form, "csrf_token": token})
        assert cross_site.status_code == 403


async def test_rate_limit_answers_429_with_retry_after_per_client_address(stack: Stack) -> None:
    async with client_from(stack, "127.0.0.3") as client:
        page = await client.get("/complaint")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        form = {"website": "bot", "csrf_token": token}  # honeypot: never filed
        statuses = []
        for _ in range(12):
            response = await client.post("/complaint", data=form)
            statuses.append(response.status_code)
            if response.status_code == 429:
                break
    assert statuses[0] == 200 and statuses[-1] == 429, statuses
    assert int(response.headers["Retry-After"]) >= 1
    async with client_from(stack, "127.0.0.5") as other:  # another client is not affected
        page = await other.get("/complaint")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        response = await other.post("/complaint", data={"website": "bot", "csrf_token": token})
        assert response.status_code == 200


CORPUS = Path(__file__).parents[2] / "services/intake/tests/mail_corpus"


def test_the_acknowledgement_answers_the_customers_mail_in_one_conversation(
    stack: Stack, auth: Callable[..., dict[str, str]], mail_sink: MailSink
) -> None:
    """A Foxmail message into the real SMTP listener; notify's acknowledgement reaches
    the mail sink as a reply to it (In-Reply-To / References: the customer's
    Message-ID), and the customer's answer to the acknowledgement threads back."""
    address = f"wang.{uuid4().hex[:8]}@foxmail.com"
    theirs = f"<tencent_{uuid4().hex.upper()}@qq.com>"
    raw = (
        (CORPUS / "foxmail_gbk_pdf_and_photo.eml")
        .read_bytes()
        .replace(b"wang.jianguo@foxmail.com", address.encode())
        .replace(b"<tencent_3F0C1E92B1D34A7E8C5A6B0D9E2F7A41C507@qq.com>", theirs.encode())
    )
    code, reply = send(stack, raw, sender=address)
    assert code == 250 and "filed" in reply, reply
    reference = reference_in(reply)
    complaint = find(stack, auth, reference)
    assert complaint["title"] == "投诉：YC6K发动机漏油，请尽快处理"
    assert sorted(a["filename"] for a in complaint["attachments"]) == [
        "检测报告.pdf",
        "现场照片1.jpg",
    ]

    [ack] = mail_sink.wait_for(lambda m: address in str(m["To"]), timeout=60)
    assert reference in ack["Subject"]
    assert ack["In-Reply-To"] == theirs and ack["References"] == theirs
    assert ack["Message-ID"].startswith(f"<{reference}.")

    # The customer's mail program answers the acknowledgement within the conversation.
    answer = EmailMessage()
    answer["From"] = f"王建国 <{address}>"
    answer["To"] = MAILBOX
    answer["Subject"] = f"回复：{ack['Subject']}"
    answer["Message-ID"] = make_msgid(domain="qq.com")
    answer["In-Reply-To"] = ack["Message-ID"]
    answer["References"] = f"{theirs} {ack['Message-ID']}"
    answer.set_content("收到，谢谢。维修站什么时候联系我？")
    code, reply = send(stack, answer.as_bytes(), sender=address)
    assert code == 250 and f"amended {reference}" in reply, reply
