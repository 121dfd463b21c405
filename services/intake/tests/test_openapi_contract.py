"""What intake's OpenAPI document says is what intake accepts (issue 19)."""

from __future__ import annotations

import re

import jsonschema_rs
from hypothesis import given, settings
from hypothesis import strategies as st

from tousu_common.errors import InvalidInput
from tousu_common.patterns import DATE_TIME_PATTERN, NON_SPACE
from tousu_common.testing.fuzz import openapi_of
from tousu_intake.adapters.ocr import OCR_TYPES
from tousu_intake.api.channels import _received_at
from tousu_intake.config import MAX_FILES, Settings
from tousu_intake.domain.customers import (
    EMAIL_PATTERN,
    normalise_email,
    normalise_phone,
    phone_pattern,
)
from tousu_intake.domain.files import ALLOWED_TYPES

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
    # Optional: an empty field reads as left out, so the document allows "" too.
    email, empty = form["customer_email"]["anyOf"]
    assert email["pattern"] == EMAIL_PATTERN and empty == {
        "type": "string",
        "maxLength": 0,
        "description": "empty: as if left out",
    }


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


def form_of(path: str) -> tuple[dict, dict]:
    """(properties, encoding) of a multipart operation's body."""
    content = DOCUMENT["paths"][path]["post"]["requestBody"]["content"]["multipart/form-data"]
    return schema_of(content["schema"])["properties"], content.get("encoding", {})


def test_file_parts_say_which_files_they_take() -> None:
    """The service sniffs the bytes: a text file as a fax was "schema-valid, rejected"."""
    _, fax = form_of("/v1/channels/fax")
    assert set(fax["document"]["contentType"].split(", ")) == OCR_TYPES
    for path in ("/v1/channels/letter", "/v1/channels/visit"):
        _, paper = form_of(path)
        assert set(paper["scan"]["contentType"].split(", ")) == OCR_TYPES
        assert paper["files"]["contentType"].split(", ") == list(ALLOWED_TYPES)
    _, amendment = form_of("/v1/complaints/{complaint_id}/amendments")
    assert amendment["files"]["contentType"].split(", ") == list(ALLOWED_TYPES)
    _, csv_import = form_of("/v1/customers/import")
    assert csv_import["file"]["contentType"] == "text/csv"


def test_texts_need_a_character_that_is_not_white_space_in_every_engine() -> None:
    """An empty multipart field reads as missing, and " " is stripped to nothing:
    the document says so with a pattern ECMA, Rust and Python read alike."""
    amendment, _ = form_of("/v1/complaints/{complaint_id}/amendments")
    assert amendment["text"]["pattern"] == NON_SPACE and amendment["text"]["minLength"] == 1
    document = jsonschema_rs.validator_for(amendment["text"])
    for text in ("", " ", "\x1c", "\u3000"):
        assert not document.is_valid(text), repr(text)
    assert document.is_valid(" 又漏油了 ")
    withdraw = DOCUMENT["components"]["schemas"]["WithdrawComplaint"]["properties"]["reason"]
    assert withdraw["pattern"] == NON_SPACE


def test_a_letter_needs_typed_text_or_a_scan_and_the_document_says_so() -> None:
    """Both are optional fields; neither (or only white space) is a 422 naming text."""
    for path in ("/v1/channels/letter", "/v1/channels/visit"):
        content = DOCUMENT["paths"][path]["post"]["requestBody"]["content"]
        schema = {**content["multipart/form-data"]["schema"], "components": DOCUMENT["components"]}
        document = jsonschema_rs.validator_for(schema)
        assert not document.is_valid({}) and not document.is_valid({"text": " \u3000"})
        assert not document.is_valid({"title": "漏油", "customer_name": "王"})
        assert document.is_valid({"text": "发动机漏油"}) and document.is_valid({"scan": "…"})
        assert document.is_valid({"text": " ", "scan": "…"})


def test_a_list_of_files_says_how_many_it_takes() -> None:
    """Eleven files were schema-valid and refused (422 "at most 10 files")."""
    for path in ("/v1/complaints/{complaint_id}/amendments", "/v1/channels/letter"):
        form, _ = form_of(path)
        assert form["files"]["maxItems"] == MAX_FILES
    assert Settings.model_fields["attachment_max_files"].default == MAX_FILES


@settings(max_examples=300, deadline=None, database=None)
@given(text=st.from_regex(re.compile(DATE_TIME_PATTERN)) | st.text(max_size=40))
def test_a_fax_received_at_the_document_allows_the_service_reads(text: str) -> None:
    """`make fuzz`: received_at was any string up to 40 characters, and
    "000…0" was refused as no ISO 8601 date-time. Now the document says the
    date-time the service reads; only the 30-day window is left to say at runtime."""
    form, _ = form_of("/v1/channels/fax")
    schema = form["received_at"]
    assert any(branch.get("format") == "date-time" for branch in schema["anyOf"])
    if text and jsonschema_rs.validator_for(schema, validate_formats=True).is_valid(text):
        try:
            _received_at(text)
        except InvalidInput as exc:
            assert "days ago" in str(exc) or "future" in str(exc), exc
