"""What rectification's OpenAPI document says is what it accepts (issue 19)."""

from __future__ import annotations

import asyncio
import re

import jsonschema_rs
import pytest
from pydantic import ValidationError

from tousu_common.filetypes import MEDIA_EXTENSIONS
from tousu_common.patterns import EMAIL_PATTERN, NON_SPACE
from tousu_common.testing.fuzz import openapi_of
from tousu_rectification.api.cases import (
    IF_MATCH_PATTERN,
    MoneyActionIn,
    ServiceActionIn,
    _expected_version,
)
from tousu_rectification.domain.rectification import RECIPIENT_DEPARTMENTS

DOCUMENT = openapi_of("tousu_rectification")
CASE_WRITES = [
    path
    for path, operations in DOCUMENT["paths"].items()
    if path.startswith("/v1/cases/{complaint_id}/")
    and "post" in operations
    and path.rsplit("/", 1)[-1] not in ("instructions", "quality-reports")
]


def test_every_case_write_declares_if_match_as_the_service_reads_it() -> None:
    assert len(CASE_WRITES) == 9
    for path in CASE_WRITES:
        [header] = [p for p in DOCUMENT["paths"][path]["post"]["parameters"] if p["in"] == "header"]
        assert header["name"] == "If-Match" and not header["required"]
        assert header["schema"]["pattern"] == IF_MATCH_PATTERN, path  # no null
    for value, version in (("3", 3), ('"3"', 3), ('W/"12"', 12)):
        assert re.match(IF_MATCH_PATTERN, value)
        assert asyncio.run(_expected_version(value)) == version
    assert not re.match(IF_MATCH_PATTERN, "*x") and not re.match(IF_MATCH_PATTERN, "null")


def test_notice_and_action_bodies_are_one_schema_per_kind() -> None:
    notice = DOCUMENT["paths"]["/v1/quality-reports/{report_id}/notices"]["post"]
    body = notice["requestBody"]["content"]["application/json"]["schema"]
    assert body["discriminator"]["propertyName"] == "recipient"
    schemas = DOCUMENT["components"]["schemas"]
    assert "department" in schemas["InternalNoticeIn"]["required"]
    assert "supplier_id" in schemas["SupplierNoticeIn"]["required"]
    assert {"amount", "currency"} <= set(schemas["MoneyActionIn"]["required"])
    assert "amount" not in schemas["ServiceActionIn"]["properties"]


def test_evidence_needs_a_file_and_links_reach_rectifications() -> None:
    evidence = DOCUMENT["paths"]["/v1/rectifications/{rectification_id}/evidence"]["post"]
    ref = evidence["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"]
    form = DOCUMENT["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert form["properties"]["files"]["minItems"] == 1
    instructed = DOCUMENT["paths"]["/v1/cases/{complaint_id}/instructions"]["post"]
    links = instructed["responses"]["201"]["links"]
    assert evidence["operationId"] in {link["operationId"] for link in links.values()}


AMOUNTS = ["0", "12.5", "1200.50", "999999999999.99", "", " 5", "1e2", "1.005", "-1", "+1"]
AMOUNTS += [0, 12.5, 0.07, 0.125, 999_999_999_999.99, 1_000_000_000_000, -1, True]


def test_an_amount_is_what_the_document_says_it_is() -> None:
    """The fuzzer sent "" (valid to the document: any string) and got a 422."""
    schema = DOCUMENT["components"]["schemas"]["MoneyActionIn"]["properties"]["amount"]
    document = jsonschema_rs.validator_for(schema)
    for amount in AMOUNTS:
        body = {"kind": "refund", "description": "退款", "due_date": "2027-03-01"}
        try:
            MoneyActionIn(**body, amount=amount, currency="CNY")
        except ValidationError:
            taken = False
        else:
            taken = True
        assert taken == document.is_valid(amount), repr(amount)


def test_a_due_date_is_a_date_string_and_supplier_e_mail_is_the_shared_pattern() -> None:
    for kind in ("MoneyActionIn", "ServiceActionIn"):
        due = DOCUMENT["components"]["schemas"][kind]["properties"]["due_date"]
        assert (due["type"], due["format"]) == ("string", "date")
    with pytest.raises(ValidationError):
        ServiceActionIn(kind="repair", description="修", due_date=0)  # 1970-01-01 before
    email = DOCUMENT["components"]["schemas"]["Contact"]["properties"]["email"]["anyOf"][0]
    assert email["pattern"] == EMAIL_PATTERN


def test_evidence_files_say_their_media_types() -> None:
    evidence = DOCUMENT["paths"]["/v1/rectifications/{rectification_id}/evidence"]["post"]
    encoding = evidence["requestBody"]["content"]["multipart/form-data"]["encoding"]
    assert encoding["files"]["contentType"].split(", ") == list(MEDIA_EXTENSIONS)


def test_instruction_departments_and_failed_verifications_are_documented() -> None:
    """The fuzzer sent department "À" (any string, to the document) and got a 422."""
    schemas = DOCUMENT["components"]["schemas"]
    for name in ("InstructionIn", "InternalNoticeIn"):
        department = schemas[name]["properties"]["department"]
        assert set(department["enum"]) == RECIPIENT_DEPARTMENTS, name
    document = jsonschema_rs.validator_for(schemas["VerificationIn"])
    assert document.is_valid({"passed": True})
    assert not document.is_valid({"passed": False}) and not document.is_valid(
        {"passed": False, "reason": " "}
    )
    assert document.is_valid({"passed": False, "reason": "焊缝仍渗油"})
    assert not document.is_valid({"passed": 0})
    waiver = next(s for n, s in schemas.items() if n.startswith("Waiver"))
    assert waiver["properties"]["reason"]["pattern"] == NON_SPACE


def test_a_notice_to_a_supplier_that_does_not_exist_is_a_documented_conflict() -> None:
    """`make fuzz`: a schema-valid supplier notice naming no active supplier was
    422, "schema-valid data rejected"; like a referenced customer it is a 409 now
    (rectifications/test_walks.py posts one), and the document says so."""
    responses = DOCUMENT["paths"]["/v1/quality-reports/{report_id}/notices"]["post"]["responses"]
    assert "supplier_id" in responses["409"]["description"]
