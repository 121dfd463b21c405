"""Schemathesis against notify's own OpenAPI document, on the running app.

Every operation, with a token holding every role, gets generated valid and
invalid input; no answer may be a 5xx or a status the document does not declare.
It has no public HTML pages.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import schemathesis

from tousu_common.testing.fuzz import (
    FUZZ_SETTINGS,
    IGNORE_SCHEMATHESIS_WARNINGS,
    LiveService,
    all_roles_token,
    assert_every_protected_operation_answers_401,
    assert_oversized_bodies_get_413_json,
    call_and_check,
    openapi_of,
    running_service,
)

pytestmark = [pytest.mark.integration, IGNORE_SCHEMATHESIS_WARNINGS]


@pytest.fixture(scope="module")
def live(jwt_secret: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    with running_service(
        "tousu_notify",
        jwt_secret,
        tmp_path_factory.mktemp("fuzz-notify"),
        http_max_body_bytes=64 * 1024,  # keeps the over-the-limit requests cheap
        delivery_worker_enabled=False,  # nothing leaves the machine, whatever is subscribed
    ) as service:
        yield service


DOCUMENT = openapi_of("tousu_notify")
schema = schemathesis.openapi.from_dict(DOCUMENT)


@pytest.fixture(scope="module")
def known(live: LiveService, jwt_secret: str) -> dict[str, str]:
    """A real subscription, for path parameters to point at."""
    with httpx.Client(base_url=live.url, timeout=60) as http:
        created = http.post(
            "/v1/subscriptions",
            json={
                "name": "fuzz",
                "channel": "email",
                "address": "quality@example.cn",
                "event_types": ["complaint.received"],
            },
            headers={"Authorization": f"Bearer {all_roles_token(jwt_secret)}"},
        )
    assert created.status_code == 201, created.text
    body = created.json()
    return {"subscription_id": body.get("subscription_id") or body["id"]}


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
        live, "/v1/subscriptions", all_roles_token(jwt_secret), b"[" * size, "application/json"
    )
