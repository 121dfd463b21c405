"""What rectification's OpenAPI document says is what it accepts (issue 19)."""

from __future__ import annotations

import re

from tousu_common.testing.fuzz import openapi_of
from tousu_rectification.api.cases import IF_MATCH_PATTERN, _expected_version

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
        assert _expected_version(value) == version
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
