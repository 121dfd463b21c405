"""Templates in both languages, HTML escaping, webhook signatures, planning — no I/O."""

from __future__ import annotations

import time
from uuid import uuid4

import pytest

from tousu_notify.adapters.templates import Templates
from tousu_notify.config import DepartmentContact
from tousu_notify.domain.delivery import backoff_delay
from tousu_notify.domain.model import (
    DeliveryChannel,
    Facts,
    RecipientKind,
    SubscriptionRule,
    Template,
    cloudevent_body,
    mask_address,
    plan_deliveries,
    staff_template,
    template_context,
)
from tousu_notify.domain.signing import InvalidSignature, new_secret, sign, verify_signature
from tousu_notify.domain.webhooks import should_disable_webhook

from .factories import REFERENCE, all_template_events, proposed, received, sla, triaged

templates = Templates("Asia/Shanghai")
PERSON = {"customer_name": "王建国", "tracking_url": "https://t.example/track/tok"}
SUPPLIER = {"supplier_name": "华东配件厂", "response_url": "https://r.example/8d/tok"}


def render_for(event, template: Template, language: str):  # type: ignore[no-untyped-def]
    context = {**template_context(event), "recipient_kind": "department", **PERSON, **SUPPLIER}
    context.setdefault("attached", False)
    return templates.render(template.value, language, context)


@pytest.mark.parametrize("language", ["zh", "en"])
def test_every_template_renders_in_both_languages(language: str) -> None:
    rendered = 0
    for event in all_template_events():
        planned = plan_deliveries(
            event,
            facts=Facts(),
            subscriptions=[rule(event_types=("*",))],
            department_contacts={},
        )
        for delivery in planned:
            result = render_for(event, delivery.template, language)
            assert result.subject and result.text and result.html and result.sms
            assert "\n" not in result.subject
            assert result.language == language
            rendered += 1
    assert rendered >= 25


def test_acknowledgement_in_chinese_carries_reference_link_and_local_time() -> None:
    result = render_for(received(), Template.acknowledgement, "zh")
    assert REFERENCE in result.subject and "受理" in result.subject
    assert "王建国，您好" in result.text
    assert "https://t.example/track/tok" in result.text
    assert "2026-11-23 10:30" in result.text  # 02:30 UTC shown in Asia/Shanghai
    assert 'href="https://t.example/track/tok"' in result.html
    assert REFERENCE in result.sms and "https://t.example/track/tok" in result.sms


def test_acknowledgement_in_english() -> None:
    result = render_for(received(language="en"), Template.acknowledgement, "en")
    assert result.subject == f"We have received your complaint — reference {REFERENCE}"
    assert "Dear 王建国" in result.text and "Follow its progress" in result.html


def test_unknown_language_falls_back_to_chinese() -> None:
    assert render_for(received(), Template.acknowledgement, "fr").language == "zh"


def test_html_escapes_what_people_typed_and_text_keeps_it() -> None:
    event = proposed(description='<script>alert("x")</script> & 更换')
    context = {**template_context(event), **PERSON, "customer_name": "<b>王</b>"}
    result = templates.render("resolution_proposed", "zh", context)
    assert "<script>" not in result.html and "&lt;script&gt;" in result.html
    assert "&lt;b&gt;王&lt;/b&gt;" in result.html
    assert "&amp; 更换" in result.html
    assert '<script>alert("x")</script> & 更换' in result.text  # plain text is not escaped


def test_sla_breach_names_the_department_and_manager() -> None:
    event = sla()
    context = {**template_context(event), "recipient_kind": "manager"}
    zh = templates.render("sla_breached", "zh", context)
    assert "客户服务中心负责人" in zh.text and "已超时" in zh.subject
    en = templates.render("sla_breached", "en", context)
    assert "Customer Service Centre, manager" in en.text and "has run out" in en.subject


def test_signature_round_trip_and_tampering() -> None:
    secret = new_secret()
    body = b'{"id":"1","type":"complaint.received"}'
    header = sign(secret, body)
    assert header.startswith("t=") and ",v1=" in header
    assert verify_signature(secret, header, body) == int(header[2:].split(",")[0])
    with pytest.raises(InvalidSignature, match="does not match"):
        verify_signature(secret, header, body + b" ")
    with pytest.raises(InvalidSignature, match="does not match"):
        verify_signature(new_secret(), header, body)
    with pytest.raises(InvalidSignature):
        verify_signature(secret, None, body)
    with pytest.raises(InvalidSignature):
        verify_signature(secret, "v1=abc", body)


def test_old_signatures_are_refused_as_replays() -> None:
    secret, body = new_secret(), b"{}"
    old = sign(secret, body, timestamp=int(time.time()) - 301)
    with pytest.raises(InvalidSignature, match="tolerance"):
        verify_signature(secret, old, body)
    assert verify_signature(secret, old, body, tolerance_s=600)


def test_known_signature_vector() -> None:
    # Receivers in other languages can check their code against this.
    assert sign("whsec_test", b'{"a":1}', timestamp=1700000000) == (
        "t=1700000000,v1="
        + __import__("hmac").new(b"whsec_test", b'1700000000.{"a":1}', "sha256").hexdigest()
    )


def rule(**overrides) -> SubscriptionRule:  # type: ignore[no-untyped-def]
    values = {
        "id": uuid4(),
        "channel": DeliveryChannel.email,
        "recipient_kind": RecipientKind.manager,
        "language": "zh",
        "event_types": ("sla.breached",),
    }
    values.update(overrides)
    return SubscriptionRule(**values)


def test_received_complaint_calls_for_one_customer_acknowledgement() -> None:
    [delivery] = plan_deliveries(
        received(), facts=Facts(), subscriptions=[], department_contacts={}
    )
    assert delivery.template is Template.acknowledgement
    assert delivery.recipient_kind is RecipientKind.customer
    assert delivery.recipient_key == "customer"


def test_sla_breach_goes_to_department_manager_and_matching_subscribers_only() -> None:
    contacts = {"csc": DepartmentContact(email="csc@corp.example", manager_phone="13900000000")}
    keep = rule(departments=("csc",), urgencies=("urgent",))
    other_department = rule(departments=("sales",))
    only_general = rule(customer_tiers=("general",))
    planned = plan_deliveries(
        sla(owner="csc"),
        facts=Facts(),
        subscriptions=[keep, other_department, only_general],
        department_contacts=contacts,
    )
    assert sorted((p.recipient_key, p.channel.value) for p in planned) == sorted(
        [
            ("department:csc", "email"),
            ("manager:csc:sms", "sms"),
            (f"subscription:{keep.id}", "email"),
        ]
    )
    assert {p.template for p in planned} == {Template.sla_breached}


def test_filters_use_facts_when_the_event_lacks_the_field() -> None:
    subscription = rule(event_types=("resolution.proposed",), departments=("quality",))
    event = proposed()
    assert not plan_deliveries(
        event, facts=Facts(), subscriptions=[subscription], department_contacts={}
    )[1:]
    planned = plan_deliveries(
        event,
        facts=Facts(owner_department="quality"),
        subscriptions=[subscription],
        department_contacts={},
    )
    assert [p.template for p in planned] == [Template.resolution_proposed, Template.event_notice]


def test_webhook_body_is_a_structured_cloudevent_without_free_text() -> None:
    event = received()
    body = cloudevent_body(event)
    assert body["specversion"] == "1.0" and body["id"] == event.id
    assert body["type"] == "complaint.received" and body["subject"] == str(event.complaint_id)
    assert body["data"]["reference"] == REFERENCE
    assert "description" not in body["data"] and "title" not in body["data"]
    assert "138 0000 0000" not in str(body) and "王先生" not in str(body)


def test_webhooks_never_get_notification_events() -> None:
    hook = rule(channel=DeliveryChannel.webhook, event_types=("*",))
    from tousu_common.events import new_event
    from tousu_common.events.catalog import NotificationSent

    sent = new_event(
        NotificationSent(
            complaint_id=uuid4(),
            notification_id=uuid4(),
            template="acknowledgement",
            delivery_channel="email",
            recipient_kind="customer",
            source_event_id="e",
            attempts=1,
            at=triaged().time,
        ),
        source="tousu/notify",
    )
    assert plan_deliveries(sent, facts=Facts(), subscriptions=[hook], department_contacts={}) == []


def test_staff_templates_and_helpers() -> None:
    assert staff_template("digest.published") is Template.digest_published
    assert staff_template("callback.done") is Template.event_notice
    assert mask_address("wangjianguo@example.com") == "w***@example.com"
    assert mask_address("+86 138 0013 8000") == "*********8000"
    assert mask_address("https://hooks.example/x/y?secret=1") == "https://hooks.example/…"
    assert [backoff_delay(n, base_s=1, max_s=5) for n in (1, 2, 3, 4)] == [1, 2, 4, 5]
    assert should_disable_webhook(3, 10, after_failures=3, after_s=100)
    assert should_disable_webhook(1, 100, after_failures=3, after_s=100)
    assert should_disable_webhook(2, 99, after_failures=3, after_s=100) is None


def test_the_readme_verifier_accepts_our_signatures() -> None:
    import pathlib
    import re

    readme = pathlib.Path(__file__).parents[1] / "README.md"
    [code] = [
        block
        for block in re.findall(r"```python\n(.*?)```", readme.read_text(), re.S)
        if "def verify_signature" in block
    ]
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 (our own README)
    readme_verify = namespace["verify_signature"]
    secret, body = new_secret(), '{"type":"complaint.received","data":{"a":"投诉"}}'.encode()
    assert readme_verify(secret, sign(secret, body), body)
    assert not readme_verify(secret, sign(secret, body), body + b"x")
    assert not readme_verify(secret, sign(secret, body, int(time.time()) - 600), body)


def test_a_missing_link_or_name_prints_as_nothing() -> None:
    context = {**template_context(received()), "customer_name": None, "tracking_url": None}
    result = templates.render("acknowledgement", "zh", context)
    assert "None" not in result.text + result.html + result.sms
    assert "客户，您好" in result.text


def test_a_case_closed_because_the_customer_withdrew_sends_the_customer_nothing() -> None:
    from datetime import UTC, datetime

    from tousu_common.events import new_event
    from tousu_common.events.catalog import ComplaintCategory, ComplaintClosed, Urgency

    from .factories import case_fields

    def closed(*, withdrawn: bool):  # type: ignore[no-untyped-def]
        payload = ComplaintClosed(
            **case_fields(None),
            category=ComplaintCategory.service_quality,
            urgency=Urgency.general,
            owner_department="csc",
            opened_at=datetime.now(UTC),
            withdrawn=withdrawn,
        )
        return new_event(payload, source="tousu/rectification")

    plan = {"facts": Facts(), "subscriptions": [], "department_contacts": {}}
    [delivery] = plan_deliveries(closed(withdrawn=False), **plan)
    assert delivery.template is Template.closed
    assert plan_deliveries(closed(withdrawn=True), **plan) == []
