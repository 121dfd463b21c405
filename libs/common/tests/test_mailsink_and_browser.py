"""The shared test parts other tests build on: the SMTP sink and headless Chromium."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from typing import Any

import pypdfium2

from tousu_common.browser import html_to_pdf
from tousu_common.mailsink import MailSink


def test_mail_sink_keeps_a_chinese_message_as_sent(mail_sink: MailSink) -> None:
    message = EmailMessage()
    message["From"] = "notify@tousu.example"
    message["To"] = "wang@example.cn"
    message["Subject"] = "投诉已受理 TS-2026-000001"
    message.set_content("您好，我们已收到您的投诉。")
    with smtplib.SMTP("127.0.0.1", mail_sink.port, timeout=10) as smtp:
        smtp.send_message(message)

    # The sink is shared by the session: notify's own acknowledgements (to other
    # addresses) may carry the same reference.
    [received] = mail_sink.wait_for(
        lambda m: "TS-2026-000001" in str(m["Subject"]) and m["To"] == "wang@example.cn"
    )
    assert received["Subject"] == "投诉已受理 TS-2026-000001"
    assert received.get_content().strip() == "您好，我们已收到您的投诉。"
    assert list(mail_sink.directory.glob("*.eml"))  # type: ignore[union-attr]


async def test_html_renders_to_a_pdf_that_keeps_the_chinese_text() -> None:
    pdf = await html_to_pdf("<h1>外质量信息报告</h1><p>External Quality Information Report</p>")
    text = pypdfium2.PdfDocument(pdf)[0].get_textpage().get_text_range()
    assert "外质量信息报告" in text
    assert "External Quality Information Report" in text


async def test_browser_fixture_renders_a_page(page: Any) -> None:
    await page.set_content("<label for=n>姓名</label><input id=n>")
    await page.get_by_label("姓名").fill("王")
    assert await page.input_value("#n") == "王"
