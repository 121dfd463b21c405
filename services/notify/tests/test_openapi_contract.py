"""What notify's OpenAPI document says is what it accepts (issue 19)."""

from __future__ import annotations

import pytest

from tousu_common.errors import InvalidInput, NotFound
from tousu_common.testing.fuzz import openapi_of
from tousu_notify.api.subscriptions import EVENT_TYPES, WEBHOOK_EVENT_TYPES
from tousu_notify.digests.periods import Period

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
