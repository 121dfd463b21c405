"""What notify's OpenAPI document says is what it accepts (issue 19)."""

from __future__ import annotations

import re

import jsonschema_rs
import pytest
from pydantic import TypeAdapter, ValidationError

from tousu_common.errors import InvalidInput, NotFound
from tousu_common.testing.fuzz import openapi_of
from tousu_notify.api.subscriptions import (
    EMAIL,
    EVENT_TYPES,
    URL,
    WEBHOOK_EVENT_TYPES,
    SubscriptionCreate,
)
from tousu_notify.domain.digest_periods import Period

DOCUMENT = openapi_of("tousu_notify")
SCHEMAS = DOCUMENT["components"]["schemas"]


def test_a_new_subscription_is_one_schema_per_channel() -> None:
    body = DOCUMENT["paths"]["/v1/subscriptions"]["post"]["requestBody"]["content"]
    schema = body["application/json"]["schema"]
    assert schema["discriminator"]["propertyName"] == "channel"
    assert "address" in SCHEMAS["EmailSubscriptionCreate"]["required"]
    assert "url" not in SCHEMAS["EmailSubscriptionCreate"]["properties"]
    assert "url" in SCHEMAS["WebhookSubscriptionCreate"]["required"]
    webhook_types = SCHEMAS["WebhookSubscriptionCreate"]["properties"]["event_types"]
    assert webhook_types["items"]["enum"] == WEBHOOK_EVENT_TYPES
    assert "notification.sent" in EVENT_TYPES and "notification.sent" not in WEBHOOK_EVENT_TYPES


def test_a_webhook_still_takes_recipient_kind_subscriber_as_clients_send_it() -> None:
    create = TypeAdapter(SubscriptionCreate)
    webhook = {
        "name": "receiver",
        "channel": "webhook",
        "url": "https://hooks.example.com/tousu",
        "event_types": ["sla.breached"],
    }
    assert create.validate_python({**webhook, "recipient_kind": "subscriber"}).recipient_kind == (
        "subscriber"
    )
    assert create.validate_python(webhook).recipient_kind == "subscriber"
    with pytest.raises(ValidationError):
        create.validate_python({**webhook, "recipient_kind": "manager"})
    schema = SCHEMAS["WebhookSubscriptionCreate"]["properties"]["recipient_kind"]
    assert schema.get("const", schema.get("enum")) in ("subscriber", ["subscriber"])


def test_a_change_cannot_null_what_may_not_be_null() -> None:
    patch = SCHEMAS["SubscriptionPatch"]["properties"]
    for name in ("name", "recipient_kind", "language", "event_types"):
        assert "anyOf" not in patch[name], name
    assert "409" in DOCUMENT["paths"]["/v1/subscriptions/{subscription_id}"]["patch"]["responses"]


def test_a_digest_of_the_other_kind_is_not_found_not_invalid() -> None:
    assert Period.parse("week", "2027-W05", "Asia/Shanghai").kind == "week"
    with pytest.raises(NotFound):
        Period.parse("month", "2027-W05", "Asia/Shanghai")
    with pytest.raises(NotFound):
        Period.parse("week", "2027-W53", "Asia/Shanghai")  # 2027 has 52 weeks
    with pytest.raises(InvalidInput):
        Period.parse("week", "2027-1", "Asia/Shanghai")  # neither form
    digest = DOCUMENT["paths"]["/v1/digests/{kind}/{period}"]["get"]
    kinds = {p["name"]: p["schema"] for p in digest["parameters"]}
    assert kinds["kind"]["enum"] == ["week", "month"] and "pattern" in kinds["period"]
    assert "404" in digest["responses"]


def test_addresses_and_urls_mean_the_same_to_the_document_and_the_service() -> None:
    """The fuzzer's address "…\\x1d@K2mV3su.fDUIFdICA" was valid to the document (ECMA
    \\s has no \\x1d) and refused by the service (Python's has); a URL likewise."""
    email = SCHEMAS["EmailSubscriptionCreate"]["properties"]["address"]["pattern"]
    url = SCHEMAS["WebhookSubscriptionCreate"]["properties"]["url"]["pattern"]
    assert (email, url) == (EMAIL.pattern, URL)
    documented_email = jsonschema_rs.validator_for({"type": "string", "pattern": email})
    documented_url = jsonschema_rs.validator_for({"type": "string", "pattern": url})
    for character in [chr(c) for c in range(0x00, 0xA1)] + ["\u3000", "\ufeff", "漏"]:
        address = f"a{character}b@example.cn"
        assert documented_email.is_valid(address) == bool(EMAIL.match(address)), repr(address)
        target = f"https://hooks.example/x{character}y"
        assert documented_url.is_valid(target) == bool(re.match(URL, target)), repr(target)
    assert not EMAIL.match("a\x1db@example.cn") and not re.match(URL, "https://h.example/\x06")
