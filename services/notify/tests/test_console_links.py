"""Deep links into the staff console (issue 15): every message to staff about one
complaint carries ``{console_url}/complaints/{complaint_id}``; customers and
suppliers keep their own links and never get it. Real SMTP sink, real SMS gateway
stand-in, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import uuid4

import httpx
import pytest
from pydantic import ValidationError

from tousu_common.db import Database
from tousu_common.mailsink import MailSink
from tousu_notify.config import Settings
from tousu_notify.domain.model import (
    DeliveryChannel,
    Facts,
    RecipientKind,
    SubscriptionRule,
    Template,
    complaint_page_url,
    console_link,
    plan_deliveries,
)
from tousu_notify.entrypoints.worker import DeliveryWorker

from .conftest import Directory, make_settings
from .factories import REFERENCE, LoopbackServer, all_template_events, received, sla, triaged
from .test_deliveries import customer, handle, mails_to, rows

#: Not the default: a link built from the default would not pass these tests.
CONSOLE = "https://console.corp.example/tousu"


def parts(mail: Any) -> tuple[str, str]:
    return mail.get_body(("plain",)).get_content(), mail.get_body(("html",)).get_content()


# -- the setting ---------------------------------------------------------------------


def settings_with(console_url: str) -> Settings:
    return Settings(jwt_secret="x" * 32, console_url=console_url)


def test_console_url_defaults_to_the_consoles_dev_port_and_loses_a_trailing_slash() -> None:
    assert Settings(jwt_secret="x" * 32).console_url == "http://127.0.0.1:8005"
    assert settings_with(f"{CONSOLE}/").console_url == CONSOLE
    assert settings_with("http://10.0.0.7:8005").console_url == "http://10.0.0.7:8005"


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("console.corp.example", "http(s) URL with a host"),
        ("ftp://console.corp.example", "http(s) URL with a host"),
        ("javascript:alert(1)", "http(s) URL with a host"),
        ("https://", "http(s) URL with a host"),
        ("https://console.corp.example/?tab=1", "no query"),
        ("https://console.corp.example/#top", "no query"),
        ("https://console.corp.example?", "no query"),
        ("https://admin:pw@console.corp.example", "credentials"),
        ("https://console.corp.example:eighty", "not a URL"),
        ("https://console.corp.example/a b", "spaces"),
    ],
)
def test_a_bad_console_url_is_refused_naming_the_setting(value: str, says: str) -> None:
    with pytest.raises(ValidationError) as refused:
        settings_with(value)
    [error] = refused.value.errors()
    assert error["loc"] == ("console_url",)
    assert "console_url" in error["msg"] and says in error["msg"]


def test_the_setting_is_read_from_TOUSU_NOTIFY_CONSOLE_URL(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOUSU_NOTIFY_CONSOLE_URL", f"{CONSOLE}/")
    assert Settings(jwt_secret="x" * 32).console_url == CONSOLE
    monkeypatch.setenv("TOUSU_NOTIFY_CONSOLE_URL", "https://console.corp.example/?x=1")
    with pytest.raises(ValidationError, match="console_url"):
        Settings(jwt_secret="x" * 32)


# -- who gets the link (no I/O) ------------------------------------------------------


def test_every_staff_message_about_a_complaint_links_to_it_and_nothing_else_does() -> None:
    subscriber = SubscriptionRule(
        id=uuid4(),
        channel=DeliveryChannel.email,
        recipient_kind=RecipientKind.subscriber,
        language="zh",
        event_types=("*",),
    )
    staff_templates, other_templates = set(), set()
    for event in all_template_events():
        planned = plan_deliveries(
            event, facts=Facts(), subscriptions=[subscriber], department_contacts={}
        )
        for delivery in planned:
            link = console_link(
                CONSOLE,
                template=delivery.template.value,
                recipient_kind=delivery.recipient_kind.value,
                complaint_id=event.complaint_id,
            )
            about_one_complaint = event.type != "digest.published"
            staff = delivery.recipient_kind not in (RecipientKind.customer, RecipientKind.supplier)
            if staff and about_one_complaint:
                assert link == f"{CONSOLE}/complaints/{event.complaint_id}", delivery
                staff_templates.add(delivery.template)
            else:
                assert link is None, delivery
                other_templates.add(delivery.template)
    assert staff_templates == {
        Template.assigned_to_department,
        Template.rectification_instruction,
        Template.rectification_notice,
        Template.sla_warning,
        Template.sla_breached,
        Template.escalated,
        Template.event_notice,
    }
    assert {Template.acknowledgement, Template.supplier_notice, Template.digest_published} <= (
        other_templates
    )
    # A customer's or supplier's template never gets it, whoever it is addressed to.
    for template in (Template.acknowledgement, Template.closed, Template.supplier_notice):
        link = console_link(CONSOLE, template=template, recipient_kind="manager", complaint_id=1)
        assert link is None, template
    assert complaint_page_url(f"{CONSOLE}/", "abc") == f"{CONSOLE}/complaints/abc"


# -- real mail ---------------------------------------------------------------------


@pytest.mark.integration
async def test_department_and_manager_mail_links_to_the_complaint_page_in_chinese(
    db: Database,
    jwt_secret: str,
    mail_sink: MailSink,
    directory: Directory,
    sms_gateway: LoopbackServer,
) -> None:
    tag = uuid4().hex[:8]
    settings = make_settings(
        db,
        jwt_secret,
        mail_sink,
        directory,
        console_url=f"{CONSOLE}/",
        sms_gateway_url=f"{sms_gateway.url}/send",
        department_contacts={
            "csc": {
                "email": f"csc-{tag}@corp.example",
                "manager_email": f"boss-{tag}@corp.example",
                "manager_phone": "+86 139 0000 0001",
            }
        },
    )
    worker = DeliveryWorker(db, settings)
    event = sla(owner="csc")
    link = f"{CONSOLE}/complaints/{event.complaint_id}"
    try:
        await handle(db, settings, event)
        await worker.run_once()
    finally:
        await worker.close()
    for address in (f"csc-{tag}@corp.example", f"boss-{tag}@corp.example"):
        [mail] = mails_to(mail_sink, address)
        text, html = parts(mail)
        assert "SLA超时" in mail["Subject"]
        assert f"在工作台中打开此投诉：{link}" in text.splitlines()
        assert f'<a href="{link}">{link}</a>' in html and "在工作台中打开此投诉" in html
    [sms] = [r for r in sms_gateway.requests if link in r.json()["text"]]
    assert sms.json()["text"].startswith("【SLA超时】") and sms.json()["text"].endswith(link)
    recorded = await rows(db, event.complaint_id)
    assert {(r.recipient_kind, r.channel, r.status) for r in recorded} == {
        ("department", "email", "sent"),
        ("manager", "email", "sent"),
        ("manager", "sms", "sent"),
    }


@pytest.mark.integration
async def test_staff_mail_in_english_links_to_the_complaint_page(
    db: Database, jwt_secret: str, mail_sink: MailSink, directory: Directory
) -> None:
    tag = uuid4().hex[:8]
    settings = make_settings(
        db,
        jwt_secret,
        mail_sink,
        directory,
        console_url=CONSOLE,
        staff_language="en",
        department_contacts={"quality": {"email": f"qa-{tag}@corp.example"}},
    )
    worker = DeliveryWorker(db, settings)
    event = triaged(owner="quality")
    link = f"{CONSOLE}/complaints/{event.complaint_id}"
    try:
        await handle(db, settings, event)
        await worker.run_once()
    finally:
        await worker.close()
    [mail] = mails_to(mail_sink, f"qa-{tag}@corp.example")
    text, html = parts(mail)
    assert mail["Subject"] == f"New complaint {REFERENCE} assigned to Quality department"
    assert f"Open the complaint in the console: {link}" in text.splitlines()
    assert f'<a href="{link}">{link}</a>' in html
    [row] = await rows(db, event.complaint_id)
    assert (row.recipient_kind, row.language, row.status) == ("department", "en", "sent")


@pytest.mark.integration
async def test_the_customers_acknowledgement_has_no_console_link_the_subscribers_notice_has(
    db: Database,
    jwt_secret: str,
    mail_sink: MailSink,
    directory: Directory,
    api: httpx.AsyncClient,
    headers_for: Callable[..., dict[str, str]],
) -> None:
    """One event, two messages: the customer keeps the tracking link only; a staff
    subscriber to the same event (in English) gets the console link."""
    tag = uuid4().hex[:8]
    created = await api.post(
        "/v1/subscriptions",
        json={
            "name": "every new complaint",
            "channel": "email",
            "recipient_kind": "subscriber",
            "address": f"duty-{tag}@corp.example",
            "language": "en",
            "event_types": ["complaint.received"],
        },
        headers=headers_for("admin"),
    )
    assert created.status_code == 201, created.text
    settings = make_settings(db, jwt_secret, mail_sink, directory, console_url=CONSOLE)
    worker = DeliveryWorker(db, settings)
    complaint_id = uuid4()
    customer(directory, complaint_id, email=f"cust-{tag}@example.com")
    try:
        await handle(db, settings, received(complaint_id))
        await worker.run_once()
    finally:
        await worker.close()
    [to_customer] = mails_to(mail_sink, f"cust-{tag}@example.com")
    text, html = parts(to_customer)
    assert f"http://track.example/t/{complaint_id}?token=tok" in text
    assert CONSOLE not in text and CONSOLE not in html and "工作台" not in text
    [to_staff] = mails_to(mail_sink, f"duty-{tag}@corp.example")
    text, html = parts(to_staff)
    line = f"Open the complaint in the console: {CONSOLE}/complaints/{complaint_id}"
    assert line in text.splitlines()
    assert f'href="{CONSOLE}/complaints/{complaint_id}"' in html
    assert "track.example" not in text


@pytest.mark.integration
async def test_the_supplier_notice_keeps_its_8d_link_and_has_no_console_link(
    db: Database, jwt_secret: str, mail_sink: MailSink, directory: Directory
) -> None:
    event = next(e for e in all_template_events() if e.type == "rectification.notice_dispatched")
    rectification_id = str(event.data.rectification_id)
    address = f"qa-{rectification_id[:8]}@supplier.example"
    directory.suppliers[rectification_id] = {
        "rectification_id": rectification_id,
        "supplier_id": str(event.data.supplier_id),
        "supplier_name": "华东配件厂",
        "email": address,
        "language": "zh",
        "response_url": f"http://rect.example/8d/{rectification_id}?token=t",
    }
    settings = make_settings(db, jwt_secret, mail_sink, directory, console_url=CONSOLE)
    worker = DeliveryWorker(db, settings)
    try:
        await handle(db, settings, event)
        await worker.run_once()
    finally:
        await worker.close()
    [mail] = mails_to(mail_sink, address)
    text, html = parts(mail)
    assert f"http://rect.example/8d/{rectification_id}?token=t" in text
    assert f'href="http://rect.example/8d/{rectification_id}?token=t"' in html
    for part in (text, html, str(mail["Subject"])):
        assert CONSOLE not in part and "/complaints/" not in part and "工作台" not in part
    [row] = await rows(db, event.complaint_id)
    assert (row.recipient_kind, row.status) == ("supplier", "sent")
