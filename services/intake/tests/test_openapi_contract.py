"""What intake's OpenAPI document says is what intake accepts (issue 19)."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from tousu_common.testing.fuzz import openapi_of
from tousu_intake.domain.customers import (
    EMAIL_PATTERN,
    normalise_email,
    normalise_phone,
    phone_pattern,
)

DOCUMENT = openapi_of("tousu_intake")
PHONE = re.compile(phone_pattern("86"))
PHONE_TEXT = st.text(alphabet="0123456789 +-()./8", max_size=24) | st.from_regex(PHONE)


def accepted(text: str) -> bool:
    try:
        normalise_phone(text, "86")
    except ValueError:
        return False
    return True


@settings(max_examples=400, deadline=None, database=None)
@given(PHONE_TEXT)
def test_the_phone_pattern_accepts_exactly_what_normalise_phone_does(text: str) -> None:
    assert bool(PHONE.match(text)) == accepted(text), text


@settings(max_examples=200, deadline=None, database=None)
@given(st.from_regex(EMAIL_PATTERN, fullmatch=True).filter(lambda t: len(t) <= 254))
def test_what_the_email_pattern_allows_normalise_email_accepts(text: str) -> None:
    normalise_email(text)


def schema_of(ref: dict) -> dict:
    return DOCUMENT["components"]["schemas"][ref["$ref"].rsplit("/", 1)[-1]]


def test_every_phone_in_the_document_carries_the_pattern() -> None:
    complaint = DOCUMENT["components"]["schemas"]["ReceiveComplaint"]["properties"]
    for field in ("customer_phone", "customer_fax"):  # JSON has null: string or null
        assert {v.get("pattern") for v in complaint[field]["anyOf"]} == {phone_pattern(), None}
    lookup = DOCUMENT["paths"]["/v1/customers/lookup"]["get"]["parameters"]
    assert {p["name"]: p["schema"].get("pattern") for p in lookup}["phone"] == phone_pattern()
    fax = DOCUMENT["paths"]["/v1/channels/fax"]["post"]["requestBody"]["content"]
    form = schema_of(fax["multipart/form-data"]["schema"])["properties"]
    assert form["sender_fax"]["pattern"] == phone_pattern()
    assert form["document"]["minLength"] == 1  # an empty fax is refused, and says so


def test_optional_form_fields_and_files_are_not_null() -> None:
    letter = DOCUMENT["paths"]["/v1/channels/letter"]["post"]["requestBody"]["content"]
    form = schema_of(letter["multipart/form-data"]["schema"])["properties"]
    assert "anyOf" not in form["scan"] and form["scan"]["minLength"] == 1
    assert form["customer_email"]["pattern"] == EMAIL_PATTERN


def test_links_lead_to_attachments_transcriptions_merge_dead_letters_and_raw_mail() -> None:
    def linked(method: str, path: str, status: str) -> set[str]:
        response = DOCUMENT["paths"][path][method]["responses"][status]
        return {link["operationId"] for link in response.get("links", {}).values()}

    def operation_id(method: str, path: str) -> str:
        return DOCUMENT["paths"][path][method]["operationId"]

    created = linked("post", "/v1/complaints", "201")
    assert operation_id("post", "/v1/transcriptions/{complaint_id}") in created
    assert operation_id("get", "/v1/complaints/{complaint_id}") in created
    assert operation_id(
        "get", "/v1/complaints/{complaint_id}/attachments/{attachment_id}"
    ) in linked("get", "/v1/complaints/{complaint_id}", "200")
    assert operation_id("post", "/v1/customers/{customer_id}/merge") in linked(
        "post", "/v1/customers", "201"
    )
    assert operation_id("get", "/v1/inbound-mail/{mail_id}/raw") in linked(
        "get", "/v1/inbound-mail", "200"
    )
    dead = linked("get", "/v1/ops/dead-letters", "200")
    for path in (
        "/v1/ops/dead-letters/{dead_letter_id}",
        "/v1/ops/dead-letters/{dead_letter_id}/redrive",
        "/v1/ops/dead-letters/{dead_letter_id}/discard",
    ):
        method = next(iter(DOCUMENT["paths"][path]))
        assert operation_id(method, path) in dead
