"""Schemathesis against rectification's own OpenAPI document, on the running app.

Every operation, with a token holding every role, gets generated valid and
invalid input; no answer may be a 5xx or a status the document does not declare.
The supplier's 8D page is not in the document; it is fuzzed with hypothesis
at the end of this file (unknown links only: a real link needs a whole case).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import quote
from uuid import uuid4

import httpx
import pytest
import schemathesis
from hypothesis import given, settings
from hypothesis import strategies as st

from tousu_common.events import ComplaintCategory, ComplaintTriaged, Urgency, new_event
from tousu_common.testing.fuzz import (
    FUZZ_SETTINGS,
    IGNORE_SCHEMATHESIS_WARNINGS,
    LiveService,
    all_roles_token,
    assert_every_protected_operation_answers_401,
    assert_oversized_bodies_get_413_json,
    call_and_check,
    fuzz_examples,
    openapi_of,
    publish,
    running_service,
    wait_until_found,
)

pytestmark = [pytest.mark.integration, IGNORE_SCHEMATHESIS_WARNINGS]


@pytest.fixture(scope="module")
def live(jwt_secret: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    with running_service(
        "tousu_rectification",
        jwt_secret,
        tmp_path_factory.mktemp("fuzz-rectification"),
        http_max_body_bytes=64 * 1024,  # keeps the over-the-limit requests cheap
    ) as service:
        yield service


DOCUMENT = openapi_of("tousu_rectification")
schema = schemathesis.openapi.from_dict(DOCUMENT)


@pytest.fixture(scope="module")
def known(live: LiveService, jwt_secret: str) -> dict[str, str]:
    """A real supplier, and a case opened the real way (routing's event on the
    broker), for path parameters to point at."""
    token = all_roles_token(jwt_secret)
    now = datetime.now(UTC)
    triaged = new_event(
        ComplaintTriaged(
            complaint_id=uuid4(),
            reference="TS-2026-000777",
            category=ComplaintCategory.product_quality,
            urgency=Urgency.urgent,
            owner_department="csc",
            decided_by="rules",
            ruleset_version="2026.11-1",
            triaged_at=now,
            first_response_due=now + timedelta(hours=2),
            quality_report_needed=True,
        ),
        source="tousu/routing",
    )
    publish(live.bootstrap, triaged)
    with httpx.Client(base_url=live.url, timeout=60) as http:
        supplier = http.post(
            "/v1/suppliers",
            json={"code": "SUP-FUZZ", "name": "模具厂"},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert supplier.status_code == 201, supplier.text
    case_id = str(triaged.data.complaint_id)
    wait_until_found(live, f"/v1/cases/{case_id}", token)
    return {"complaint_id": case_id, "supplier_id": supplier.json()["supplier_id"]}


@schema.parametrize()
@FUZZ_SETTINGS
def test_no_operation_answers_5xx_or_an_undocumented_status(
    case: schemathesis.Case, live: LiveService, jwt_secret: str, known: dict[str, str]
) -> None:
    call_and_check(case, live, all_roles_token(jwt_secret), known)


def test_the_running_service_serves_the_fuzzed_document(live: LiveService) -> None:
    assert live.openapi() == DOCUMENT


def test_every_protected_operation_answers_401_without_a_token(live: LiveService) -> None:
    assert_every_protected_operation_answers_401(live)


def test_bodies_over_the_limit_get_413_json_whether_declared_or_streamed(
    live: LiveService, jwt_secret: str
) -> None:
    size = live.app.state.settings.http_max_body_bytes + 1
    assert_oversized_bodies_get_413_json(
        live, "/v1/suppliers", all_roles_token(jwt_secret), b"[" * size, "application/json"
    )


@pytest.mark.parametrize("path", ["/v1/suppliers", "/v1/worklist"])
def test_a_list_offset_past_the_cap_is_422_naming_offset_not_a_database_overflow(
    live: LiveService, jwt_secret: str, path: str
) -> None:
    headers = {"Authorization": f"Bearer {all_roles_token(jwt_secret)}"}
    response = httpx.get(f"{live.url}{path}?offset={10**30}", headers=headers, timeout=60)
    assert response.status_code == 422, response.text
    assert [f["field"] for f in response.json()["error"]["fields"]] == ["query.offset"]


SAFE_TEXT = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=120)


@settings(FUZZ_SETTINGS, max_examples=max(25, fuzz_examples()))
@given(
    rectification_id=st.uuids().map(str) | SAFE_TEXT,
    token=SAFE_TEXT | st.text(max_size=300),
    post=st.booleans(),
    fields=st.dictionaries(
        st.sampled_from(["d4_root_cause", "d5_actions", "csrf", "lang", "contact"]) | SAFE_TEXT,
        SAFE_TEXT,
        max_size=8,
    ),
)
def test_the_supplier_8d_page_answers_any_link_or_post_with_a_page_never_a_5xx(
    live: LiveService, rectification_id: str, token: str, post: bool, fields: dict[str, str]
) -> None:
    path = f"/supplier/8d/{quote(rectification_id, safe='')}/{quote(token, safe='')}"
    with httpx.Client(base_url=live.url, timeout=60) as http:
        response = http.post(path, data=fields) if post else http.get(path)
    assert response.status_code < 500, response.text[:500]


def test_a_supplier_version_past_any_integer_column_is_422_naming_version_and_changes_nothing(
    live: LiveService, jwt_secret: str
) -> None:
    headers = {"Authorization": f"Bearer {all_roles_token(jwt_secret)}"}
    with httpx.Client(base_url=live.url, headers=headers, timeout=60) as http:
        created = http.post("/v1/suppliers", json={"code": "SUP-VERSION", "name": "铸造厂"})
        assert created.status_code == 201, created.text
        path = f"/v1/suppliers/{created.json()['supplier_id']}"
        before = http.get(path).json()
        body = {"code": before["code"], "name": "改名", "version": 10**27}
        response = http.put(path, json=body)
        after = http.get(path).json()
    assert response.status_code == 422, response.text
    assert [f["field"] for f in response.json()["error"]["fields"]] == ["version"]
    assert after["name"] == before["name"] and after["version"] == before["version"]
