"""Which mail is filed, threaded, or ignored — decided from headers and text (no I/O)."""

from __future__ import annotations

import pytest

from tousu_common.events.catalog import CustomerDecision
from tousu_intake.domain.mail_rules import (
    OwnIdentity,
    customer_decision,
    ignore_reason,
    looks_chinese,
    references_in,
    strip_quoted,
    thread_keys,
)
from tousu_intake.domain.mime import parse_mail

OWN = OwnIdentity(frozenset({"complaints@tousu.example", "noreply@company.cn"}), "tousu.example")


def mail(headers: str, body: str = "你好", content_type: str = "text/plain; charset=utf-8"):
    raw = f"{headers.strip()}\r\nContent-Type: {content_type}\r\n\r\n{body}\r\n"
    return parse_mail(raw.replace("\r\n", "\n").replace("\n", "\r\n").encode())


CUSTOMER = "From: 王 <wang@example.cn>\nMessage-ID: <m1@example.cn>"


def test_an_ordinary_customer_mail_is_filed() -> None:
    assert ignore_reason(mail(CUSTOMER), "wang@example.cn", OWN) is None
    assert ignore_reason(mail(CUSTOMER + "\nAuto-Submitted: no"), "wang@example.cn", OWN) is None


@pytest.mark.parametrize(
    ("extra", "envelope", "reason"),
    [
        ("Auto-Submitted: auto-replied", "wang@example.cn", "auto-reply"),
        ("Auto-Submitted: auto-generated", "wang@example.cn", "auto-reply"),
        ("Precedence: bulk", "wang@example.cn", "auto-reply"),
        ("Precedence: junk", "wang@example.cn", "auto-reply"),
        ("Precedence: list", "wang@example.cn", "auto-reply"),
        ("X-Autoreply: yes", "wang@example.cn", "auto-reply"),
        ("X-Auto-Response-Suppress: All", "wang@example.cn", "auto-reply"),
        ("", "", "bounce"),
        ("", "<>", "bounce"),
        ("", "MAILER-DAEMON@mx.example.cn", "bounce"),
        ("", "postmaster@example.cn", "bounce"),
    ],
)
def test_auto_replies_and_bounces_are_not_filed(extra: str, envelope: str, reason: str) -> None:
    found = ignore_reason(mail(f"{CUSTOMER}\n{extra}"), envelope, OWN)
    assert found is not None and found.startswith(reason)


@pytest.mark.parametrize(
    "extra",
    [
        "X-QQ-AUTO-REPLY: true",  # QQ Mail / Foxmail server vacation reply
        "X-Autoreply: yes",  # Exchange inbox-rule replies, webmails
        "X-Autorespond: Re: 投诉",  # cPanel / Exim autoresponder
        "X-Auto-Reply: yes",
        "Precedence: auto_reply",
        "X-Auto-Response-Suppress: OOF, AutoReply",  # Outlook / Exchange
        "X-Mailer: Unix vacation 1.2",
        "Subject: 自动回复: 您的投诉已受理",
        "Subject: 自动回复：您的投诉已受理",  # full-width colon (163 / Coremail)
        "Subject: 自動回覆：您的投訴已受理",
        "Subject: Automatic reply: Your complaint has been received",
        "Subject: Out of Office: Your complaint has been received",
        "Subject: AutoReply: Your complaint has been received",
    ],
)
def test_auto_replies_marked_only_by_their_provider_are_not_filed(extra: str) -> None:
    found = ignore_reason(mail(f"{CUSTOMER}\n{extra}"), "wang@example.cn", OWN)
    assert found is not None and found.startswith("auto-reply"), found


@pytest.mark.parametrize(
    ("extra", "body"),
    [
        ("Subject: 投诉你们的自动回复：一周没人处理", "只收到一封自动回复。"),
        ("Subject: Re: 自动回复: 您的投诉已受理", "自动回复说有人联系我，但没有。"),
        ("Subject: RE: Out of Office: turbo failure", "Your automatic reply says March."),
        ("Subject: 发动机漏油", "> 自动回复: 我正在休假\n> Automatic reply: out of office"),
        ("X-Autoreply: no", "发动机漏油"),
        ("X-Auto-Response-Suppress: DR, RN", "发动机漏油"),  # no receipts: ordinary mail
        ("X-Mailer: Foxmail 7.2.25.375[cn]", "发动机漏油"),
    ],
)
def test_complaints_that_merely_mention_auto_replies_are_filed(extra: str, body: str) -> None:
    assert ignore_reason(mail(f"{CUSTOMER}\n{extra}", body), "wang@example.cn", OWN) is None


def test_delivery_status_reports_are_bounces() -> None:
    report = mail(
        CUSTOMER,
        "--r\r\nContent-Type: text/plain\r\n\r\nDelivery failed\r\n--r--",
        'multipart/report; report-type=delivery-status; boundary="r"',
    )
    assert ignore_reason(report, "wang@example.cn", OWN).startswith("bounce")


@pytest.mark.parametrize(
    ("headers", "envelope"),
    [
        ("From: complaints@tousu.example\nMessage-ID: <x@else.cn>", "complaints@tousu.example"),
        ("From: notify@tousu.example\nMessage-ID: <x@else.cn>", "bounces@else.cn"),
        ("From: noreply@company.cn\nMessage-ID: <x@else.cn>", "noreply@company.cn"),
        ("From: someone@example.cn\nMessage-ID: <TS-2026-000001.ab@tousu.example>", "a@b.cn"),
    ],
)
def test_mail_from_ourselves_is_a_loop(headers: str, envelope: str) -> None:
    assert ignore_reason(mail(headers), envelope, OWN).startswith("loop")


def test_thread_keys_come_from_our_message_ids_and_the_subject() -> None:
    reply = mail(
        "From: wang@example.cn\nSubject: 回复: 关于 TS-2026-000042 的答复\n"
        "In-Reply-To: <TS-2026-000007.9f8e@tousu.example>\n"
        "References: <other@example.cn> <TS-2026-000007.9f8e@tousu.example>"
    )
    keys = thread_keys(reply, "TS")
    assert keys.references == ["TS-2026-000007", "TS-2026-000042"]
    assert keys.replied_to_ids[0] == "<TS-2026-000007.9f8e@tousu.example>"


def test_references_need_the_exact_shape() -> None:
    assert references_in("Re: TS-2026-000123, XTS-2026-000124, TS-2026-12", "TS") == [
        "TS-2026-000123"
    ]


@pytest.mark.parametrize(
    ("text", "decision", "comment"),
    [
        ("同意\n\n> 原邮件", CustomerDecision.accept, None),
        ("接受该方案，谢谢。", CustomerDecision.accept, "该方案，谢谢"),
        ("Accepted, thanks", CustomerDecision.accept, "thanks"),
        ("不同意：赔偿太少\n请重新考虑", CustomerDecision.reject, "赔偿太少\n请重新考虑"),
        ("拒绝", CustomerDecision.reject, None),
        (
            "Reject - the engine is still leaking",
            CustomerDecision.reject,
            "the engine is still leaking",
        ),
    ],
)
def test_a_clear_first_line_is_a_decision(
    text: str, decision: CustomerDecision, comment: str | None
) -> None:
    found = customer_decision(text)
    assert found is not None and found.decision is decision and found.comment == comment


@pytest.mark.parametrize("text", ["我想问一下进度", "", "我不太同意", "> 同意\n什么时候修"])
def test_anything_else_is_not_a_decision(text: str) -> None:
    assert customer_decision(text) is None


def test_strip_quoted_keeps_only_the_new_text() -> None:
    text = "补充：照片见附件\n\n在 2026年11月23日 周一 09:00，客服 写道：\n> 您好\n> 请补充"
    assert strip_quoted(text) == "补充：照片见附件"
    english = "See attached.\n\nOn Mon, 23 Nov 2026 at 09:00, Service wrote:\n> Hello"
    assert strip_quoted(english) == "See attached."
    outlook = "好的\n-----Original Message-----\nFrom: x"
    assert strip_quoted(outlook) == "好的"


def test_language_guess() -> None:
    assert looks_chinese("发动机漏油")
    assert not looks_chinese("The engine leaks oil")
