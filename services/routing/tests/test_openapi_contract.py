"""What routing's OpenAPI document says is what it accepts (issue 19)."""

from __future__ import annotations

from collections.abc import Callable

import httpx

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


def test_synonym_groups_are_named_as_the_service_requires_and_never_empty() -> None:
    synonyms = DOCUMENT["components"]["schemas"]["RuleSetDocument"]["properties"]["synonyms"]
    # patternProperties alone leaves other names open; the service refuses them.
    assert synonyms["additionalProperties"] is False
    [group] = synonyms["patternProperties"].values()
    assert group["minItems"] == 1


async def test_what_the_document_calls_invalid_is_refused(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]
) -> None:
    """pydantic on its own read 0 as 1970-01-01 and false as 0 or 0 as false: the
    fuzzer's "schema-violating request accepted" (issue 19)."""
    admin = auth("admin")
    deleted = await client.delete("/v1/calendar/days/0", headers=admin)
    assert (
        deleted.status_code == 422 and deleted.json()["error"]["fields"][0]["field"] == "path.day"
    )
    day = await client.post("/v1/calendar/days", json={"date": 0, "kind": "holiday"}, headers=admin)
    assert day.status_code == 422 and day.json()["error"]["fields"][0]["field"] == "date"
    rule = {
        "id": "contract-1",
        "when": {"any": ["漏油"]},
        "then": {"category": "product_quality", "urgency": "urgent", "owner_department": "quality"},
    }
    for change, field in (({"enabled": 0}, "enabled"), ({"when": {"attachments": 1}}, "when")):
        answer = await client.post("/v1/rules", json={**rule, **change}, headers=admin)
        assert answer.status_code == 422, change
        assert answer.json()["error"]["fields"][0]["field"].startswith(field), answer.text
    trial = {"title": "漏油", "attachment_count": False}
    answer = await client.post("/v1/rules/trial", json=trial, headers=admin)
    assert answer.status_code == 422
    assert answer.json()["error"]["fields"][0]["field"] == "attachment_count"
    # The same requests as the document spells them are taken.
    answer = await client.post(
        "/v1/rules/trial", json={**trial, "attachment_count": 2}, headers=admin
    )
    assert answer.status_code == 200, answer.text
    day = await client.post(
        "/v1/calendar/days", json={"date": "2027-08-02", "kind": "holiday"}, headers=admin
    )
    assert day.status_code == 201, day.text
    assert (await client.delete("/v1/calendar/days/2027-08-02", headers=admin)).status_code == 200
    assert (await client.post("/v1/rules", json=rule, headers=admin)).status_code == 201
