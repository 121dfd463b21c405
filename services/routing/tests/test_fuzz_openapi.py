"""Schemathesis against routing's own OpenAPI document, on the running app.

Every operation, with a token holding every role, gets generated valid and
invalid input; no answer may be a 5xx or a status the document does not declare.
It has no public HTML pages.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest
import schemathesis

from tousu_common.devstack import Broker
from tousu_common.events import Channel, ComplaintReceived, new_event
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
    publish,
    unauthenticated_answers,
    wait_until_found,
)
from tousu_routing.config import Settings
from tousu_routing.main import create_app

pytestmark = [pytest.mark.integration, IGNORE_SCHEMATHESIS_WARNINGS]


@pytest.fixture(scope="module")
def live(jwt_secret: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    base: Path = tmp_path_factory.mktemp("fuzz-routing")
    url = f"sqlite+aiosqlite:///{base / 'routing.db'}"
    upgrade("tousu_routing", url)
    broker = Broker(log_path=base / "broker.log").start()
    settings = Settings(
        jwt_secret=jwt_secret,
        database_url=url,
        environment="test",
        log_level="WARNING",
        kafka_bootstrap_servers=broker.bootstrap,
        data_dir=base / "data",
        http_max_body_bytes=64 * 1024,  # keeps the over-the-limit requests cheap
    )
    try:
        with live_service(create_app(settings)) as service:
            yield service
    finally:
        broker.stop()


DOCUMENT = openapi_of("tousu_routing")
schema = schemathesis.openapi.from_dict(DOCUMENT)


@pytest.fixture(scope="module")
def known(live: LiveService, jwt_secret: str) -> dict[str, str]:
    """A complaint triaged the real way (intake's event on the broker), for path
    parameters to point at."""
    received = new_event(
        ComplaintReceived(
            complaint_id=uuid4(),
            reference="TS-2026-000123",
            channel=Channel.hotline,
            received_at=datetime.now(UTC),
            title="发动机漏油",
            description="新车行驶不到三千公里，发动机缸盖处持续漏油。",
        ),
        source="tousu/intake",
    )
    publish(live.bootstrap, received)
    complaint_id = str(received.data.complaint_id)
    wait_until_found(live, f"/v1/triage/{complaint_id}", all_roles_token(jwt_secret))
    return {"complaint_id": complaint_id}


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
        live, "/v1/rules", all_roles_token(jwt_secret), b"[" * size, "application/json"
    )
    for how, response in answers.items():
        assert response.status_code == 413, (how, response.text)
        assert response.json()["error"]["code"] == "payload_too_large", how
