"""Notify's mail written as bytes: what a mail reader parses back is what we meant,
in any language, and nothing a recipient controls can add a header."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tousu_notify.adapters.mime import Attachment, ComposedMail, compose


def parsed(mail: ComposedMail) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(mail.data)
    assert isinstance(message, EmailMessage)
    return message


def acknowledgement(**overrides: str) -> list[tuple[str, str]]:
    headers = {
        "Subject": "您的投诉已收到 TS-2027-000123 — 我们将在 24 小时内答复",
        "From": "Tousu 投诉中心 <complaints@tousu.test>",
        "To": "王小明 <wang@example.com>",
        "Date": "Mon, 04 Jan 2027 09:00:00 +0000",
        "Message-ID": "<TS-2027-000123.abc@tousu.test>",
        "In-Reply-To": "<tencent_3F0C@qq.com>",
        "References": "<tencent_3F0C@qq.com>",
        "Reply-To": "complaints@tousu.test",
        "X-Tousu-Reference": "TS-2027-000123",
    }
    headers.update(overrides)
    return list(headers.items())


def test_a_chinese_acknowledgement_reads_back_as_written() -> None:
    text = "尊敬的王先生：\n\n我们已收到您的投诉（TS-2027-000123）。\n" * 3
    html = "<p>尊敬的王先生：</p><p>我们已收到您的投诉。</p>" * 40  # one long line
    mail = compose(acknowledgement(), text=text, html=html)

    assert mail is not None
    assert (mail.sender, mail.recipients) == ("complaints@tousu.test", ["wang@example.com"])
    message = parsed(mail)
    assert message.defects == []
    for name, value in acknowledgement():
        assert message[name] == value, name
    assert message["To"].addresses[0].display_name == "王小明"
    assert message["To"].addresses[0].addr_spec == "wang@example.com"
    assert message.get_body(("plain",)).get_content() == text
    assert message.get_body(("html",)).get_content() == html + "\n"
    # 7-bit clean, every line within SMTP's limit, so no server needs 8BITMIME
    assert mail.data.isascii()
    assert max(len(line) for line in mail.data.split(b"\r\n")) <= 998
    assert b"\n" not in mail.data.replace(b"\r\n", b"")


def test_plain_ascii_text_goes_as_it_is_and_long_headers_are_folded() -> None:
    subject = "Complaint received: " + "word " * 40
    mail = compose(
        acknowledgement(Subject=subject.strip()), text="Dear Alice,\nthanks.", html="<p/>"
    )

    assert mail is not None
    assert b"Content-Transfer-Encoding: 7bit\r\n\r\nDear Alice,\r\nthanks.\r\n" in mail.data
    header_lines = mail.data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert max(len(line) for line in header_lines) <= 78
    assert parsed(mail)["Subject"] == subject.strip()


@settings(max_examples=200, deadline=None)
@given(
    subject=st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=300).map(
        lambda s: " ".join(s.split())
    ),
    name=st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=60).map(
        lambda s: " ".join(s.split())
    ),
    text=st.text(st.characters(blacklist_categories=("Cs",)), max_size=2000),
)
def test_any_subject_name_and_text_read_back_unchanged(subject: str, name: str, text: str) -> None:
    headers = acknowledgement(Subject=subject)
    mail = compose(headers, text=text, html="<p>x</p>")
    assert mail is not None
    message = parsed(mail)
    assert message["Subject"] == subject
    assert mail.data.isascii()
    assert max(len(line) for line in mail.data.split(b"\r\n")) <= 998
    # a reader sees the text with line ends made uniform (CRLF as sent when 7-bit)
    body = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    expected = text.replace("\r\n", "\n").replace("\r", "\n")
    assert body == (expected if expected.endswith("\n") else expected + "\n")

    if name and '"' not in name and "\\" not in name:
        named = compose(acknowledgement(To=f'"{name}" <someone@example.com>'), text="x", html="y")
        assert named is not None
        [address] = parsed(named)["To"].addresses
        assert address.addr_spec == "someone@example.com"
        # Python's parser keeps the space between a long name's encoded words (RFC 2047
        # 6.2 drops it), with the standard library's own mail too
        assert address.display_name.replace(" ", "") == name.replace(" ", "")


@pytest.mark.parametrize("name", ["Subject", "To", "X-Tousu-Reference", "Message-ID"])
def test_a_header_value_with_a_line_break_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="line break"):
        compose(
            acknowledgement(**{name: "x@example.com\r\nBcc: someone@elsewhere.test"}),
            text="t",
            html="h",
        )


def test_a_mailbox_that_needs_smtputf8_is_left_to_the_library() -> None:
    assert compose(acknowledgement(To="王 <王小明@例子.中国>"), text="t", html="h") is None


def test_a_message_without_a_recipient_is_refused() -> None:
    with pytest.raises(ValueError, match="From and a To"):
        compose(acknowledgement(To=""), text="t", html="h")


def test_the_digest_report_is_attached_with_its_name_beside_the_text_and_html() -> None:
    report = "<html><body><h1>2027 年 1 月投诉月报</h1></body></html>"
    mail = compose(
        acknowledgement(),
        text="见附件",
        html="<p>见附件</p>",
        attachments=[
            Attachment(report, "html", "digest-2027-01.html"),
            Attachment("x", "plain", "月报.txt"),
        ],
    )

    assert mail is not None
    message = parsed(mail)
    assert message.get_content_type() == "multipart/mixed"
    assert message.get_body(("plain",)).get_content() == "见附件\n"
    first, second = message.iter_attachments()
    assert (first.get_filename(), first.get_content_type()) == ("digest-2027-01.html", "text/html")
    assert first.get_content() == report + "\n"
    assert second.get_filename() == "月报.txt"
