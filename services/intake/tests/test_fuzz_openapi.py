"""Schemathesis against intake's own OpenAPI document, on the running app.

Every operation, with a token holding every role, gets generated valid and
invalid input; no answer may be a 5xx or a status the document does not declare.
The public HTML pages (web form, tracking page) are not in the document; they
are fuzzed in test_web_pages_fuzz.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import given, settings
from hypothesis import strategies as st

from tousu_common.devstack import Broker
from tousu_common.migrations import upgrade
from tousu_common.testing.fuzz import (
    FUZZ_SETTINGS,
    IGNORE_SCHEMATHESIS_WARNINGS,
    LiveService,
    all_roles_token,
    call_and_check,
    concrete_path,
    fuzz_examples,
    live_service,
    multipart_file,
    multipart_operations,
    openapi_of,
    oversized_answers,
    unauthenticated_answers,
)
from tousu_intake.config import Settings
from tousu_intake.main import create_app

pytestmark = [pytest.mark.integration, IGNORE_SCHEMATHESIS_WARNINGS]


@pytest.fixture(scope="module")
def live(jwt_secret: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    base: Path = tmp_path_factory.mktemp("fuzz-intake")
    url = f"sqlite+aiosqlite:///{base / 'intake.db'}"
    upgrade("tousu_intake", url)
    broker = Broker(log_path=base / "broker.log").start()
    settings = Settings(
        jwt_secret=jwt_secret,
        database_url=url,
        environment="test",
        log_level="WARNING",
        kafka_bootstrap_servers=broker.bootstrap,
        data_dir=base / "data",
        # Small limits keep the over-the-limit requests cheap.
        http_max_body_bytes=512 * 1024,
        http_max_json_bytes=64 * 1024,
        attachment_max_bytes=128 * 1024,
        attachment_max_request_bytes=256 * 1024,
        customer_import_max_bytes=128 * 1024,
        # The public pages are fuzzed too: the rate limit must not be what answers.
        web_rate_per_minute=100_000,
        web_rate_burst=100_000,
        web_track_rate_per_minute=100_000,
        web_track_rate_burst=100_000,
    )
    try:
        with live_service(create_app(settings)) as service:
            yield service
    finally:
        broker.stop()


DOCUMENT = openapi_of("tousu_intake")
schema = schemathesis.openapi.from_dict(DOCUMENT)


@schema.parametrize()
@FUZZ_SETTINGS
def test_no_operation_answers_5xx_or_an_undocumented_status(
    case: schemathesis.Case, live: LiveService, jwt_secret: str
) -> None:
    call_and_check(case, live, all_roles_token(jwt_secret))


def test_the_running_service_serves_the_fuzzed_document(live: LiveService) -> None:
    assert live.openapi() == DOCUMENT


def test_every_protected_operation_answers_401_without_a_token(live: LiveService) -> None:
    answers = unauthenticated_answers(live)
    assert answers and all(status == 401 for status in answers.values()), answers


@pytest.mark.parametrize(
    ("path", "multipart", "limit"),
    [
        ("/v1/complaints", False, "http_max_json_bytes"),
        ("/v1/channels/fax", True, "http_max_body_bytes"),
    ],
)
def test_bodies_over_the_limit_get_413_json_whether_declared_or_streamed(
    live: LiveService, jwt_secret: str, path: str, multipart: bool, limit: str
) -> None:
    size = getattr(live.app.state.settings, limit) + 1
    body, content_type = (
        multipart_file("document", size) if multipart else (b"{" * size, "application/json")
    )
    answers = oversized_answers(live, path, all_roles_token(jwt_secret), body, content_type)
    for how, response in answers.items():
        assert response.status_code == 413, (how, response.text)
        assert response.json()["error"]["code"] == "payload_too_large", how


MULTIPART = multipart_operations(DOCUMENT)
BOUNDARIES = st.sampled_from(["", "x", "fuzz", "a" * 200, '"quoted"', "é"])


@settings(FUZZ_SETTINGS, max_examples=max(25, fuzz_examples()))
@given(
    operation=st.sampled_from(MULTIPART),
    boundary=BOUNDARIES,
    body=st.binary(max_size=600)
    | st.sampled_from(
        [
            b"--fuzz\r\nContent-Disposition: form-data; name=\"document\"; filename=\"a.tif\"\r\n",
            b"--fuzz\r\nContent-Disposition: form-data\r\n\r\nvalue\r\n--fuzz--\r\n",
            b"--fuzz\r\n\r\n\r\n--fuzz--\r\n",
            b"--fuzz--\r\n",
            b"--fuzz\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\n" + b"\xff" * 40,
        ]
    ),
    cut=st.integers(min_value=0, max_value=600),
)
def test_malformed_multipart_bodies_get_a_4xx_json_answer(
    live: LiveService,
    jwt_secret: str,
    operation: tuple[str, str],
    boundary: str,
    body: bytes,
    cut: int,
) -> None:
    method, path = operation
    content_type = "multipart/form-data" + (f"; boundary={boundary}" if boundary else "")
    with httpx.Client(base_url=live.url, timeout=60) as http:
        response = http.request(
            method,
            concrete_path(path),
            content=body[:cut],
            headers={
                "Authorization": f"Bearer {all_roles_token(jwt_secret)}".encode(),
                "Content-Type": content_type.encode(),
            },
        )
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]["code"]


@pytest.mark.parametrize("path", ["/v1/customers", "/v1/transcriptions", "/v1/complaints"])
def test_a_list_offset_past_the_cap_is_422_naming_offset_not_a_database_overflow(
    live: LiveService, jwt_secret: str, path: str
) -> None:
    headers = {"Authorization": f"Bearer {all_roles_token(jwt_secret)}"}
    response = httpx.get(f"{live.url}{path}?offset={10**30}", headers=headers, timeout=60)
    assert response.status_code == 422, response.text
    assert [f["field"] for f in response.json()["error"]["fields"]] == ["query.offset"]
