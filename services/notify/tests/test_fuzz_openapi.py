"""Schemathesis against notify's own OpenAPI document, on the running app.

Every operation, with a token holding every role, gets generated valid and
invalid input; no answer may be a 5xx or a status the document does not declare.
It has no public HTML pages.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis

from tousu_common.devstack import Broker
from tousu_common.migrations import upgrade
from tousu_common.testing.fuzz import (
    FUZZ_SETTINGS,
    IGNORE_SCHEMATHESIS_WARNINGS,
    LiveService,
    all_roles_token,
    call_and_check,
    live_service,
    openapi_of,
    oversized_answers,
    unauthenticated_answers,
)
from tousu_notify.config import Settings
from tousu_notify.main import create_app

pytestmark = [pytest.mark.integration, IGNORE_SCHEMATHESIS_WARNINGS]


@pytest.fixture(scope="module")
def live(jwt_secret: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    base: Path = tmp_path_factory.mktemp("fuzz-notify")
    url = f"sqlite+aiosqlite:///{base / 'notify.db'}"
    upgrade("tousu_notify", url)
    broker = Broker(log_path=base / "broker.log").start()
    settings = Settings(
        jwt_secret=jwt_secret,
        database_url=url,
        environment="test",
        log_level="WARNING",
        kafka_bootstrap_servers=broker.bootstrap,
        data_dir=base / "data",
        http_max_body_bytes=64 * 1024,  # keeps the over-the-limit requests cheap
        delivery_worker_enabled=False,  # nothing leaves the machine, whatever is subscribed
    )
    try:
        with live_service(create_app(settings)) as service:
            yield service
    finally:
        broker.stop()


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
    answers = unauthenticated_answers(live)
    assert answers and all(status == 401 for status in answers.values()), answers


def test_bodies_over_the_limit_get_413_json_whether_declared_or_streamed(
    live: LiveService, jwt_secret: str
) -> None:
    size = live.app.state.settings.http_max_body_bytes + 1
    answers = oversized_answers(
        live, "/v1/subscriptions", all_roles_token(jwt_secret), b"[" * size, "application/json"
    )
    for how, response in answers.items():
        assert response.status_code == 413, (how, response.text)
        assert response.json()["error"]["code"] == "payload_too_large", how
