"""What routing's OpenAPI document says is what it accepts (issue 19)."""

from __future__ import annotations

from tousu_common.testing.fuzz import openapi_of
from tousu_routing.api.deps import PAGE_LIMIT
from tousu_routing.domain.rules import DEPARTMENTS

DOCUMENT = openapi_of("tousu_routing")


def parameters(method: str, path: str) -> dict[str, dict]:
    return {p["name"]: p["schema"] for p in DOCUMENT["paths"][path][method]["parameters"]}


def test_page_size_and_department_are_in_the_document() -> None:
    for path in ("/v1/worklists/triage-queue", "/v1/rules/versions", "/v1/calendar/versions"):
        assert parameters("get", path)["limit"]["maximum"] == PAGE_LIMIT
    for path in ("/v1/worklists/department", "/v1/worklists/overdue"):
        assert parameters("get", path)["department"]["enum"] == list(DEPARTMENTS)


def test_a_rule_path_is_a_rule_id_and_another_rules_body_is_a_conflict() -> None:
    put = DOCUMENT["paths"]["/v1/rules/{rule_id}"]["put"]
    assert parameters("put", "/v1/rules/{rule_id}")["rule_id"]["pattern"].startswith("^[a-z0-9]")
    assert "path" in put["responses"]["409"]["description"]
    notice = DOCUMENT["paths"]["/v1/calendar/notices/{year}"]["put"]
    assert "path" in notice["responses"]["409"]["description"]
