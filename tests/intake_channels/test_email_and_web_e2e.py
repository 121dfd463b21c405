"""E-mail and web channels end to end: real SMTP to intake's listener, real broker,
both databases, the web form and tracking page in headless Chromium.

Tests in this module share one stack (per backend) and one client address for
the rate limit, so the rate-limit test runs last.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import smtplib
import time
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import httpx
import pytest

from tousu_common.devstack import Stack
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


def test_other_recipients_and_oversized_mail_are_refused(stack: Stack) -> None:
    code, reply = send(stack, plain_mail("x", "y"), sender="a@example.cn", to="ceo@tousu.example")
    assert code == 550, reply
    with smtplib.SMTP("127.0.0.1", stack.smtp_port, timeout=30) as smtp:
        smtp.ehlo("mx.example.cn")
        assert smtp.has_extn("size")
        code, _ = smtp.mail("a@example.cn", options=[f"SIZE={100 * 1024 * 1024}"])
        assert code == 552


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


async def test_csrf_is_enforced_on_the_running_service(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.url("intake"), timeout=30) as client:
        form = {"name": "x", "phone": "13800000000", "title": "t", "description": "d"}
        refused = await client.post("/complaint", data=form)
        assert refused.status_code == 403
        page = await client.get("/complaint")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        client.cookies.clear()
        cross_site = await client.post("/complaint", data={**form, "csrf_token": token})
        assert cross_site.status_code == 403


async def test_rate_limit_answers_429_with_retry_after(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.url("intake"), timeout=30) as client:
        page = await client.get("/complaint")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        form = {"website": "bot", "csrf_token": token}  # honeypot: never filed
        statuses = []
        for _ in range(12):
            response = await client.post("/complaint", data=form)
            statuses.append(response.status_code)
            if response.status_code == 429:
                break
    assert statuses[-1] == 429, statuses
    assert int(response.headers["Retry-After"]) >= 1
