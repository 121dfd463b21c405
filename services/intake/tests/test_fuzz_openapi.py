"""Schemathesis against intake's own OpenAPI document, on the running app.

Every operation, with a token holding every role, gets generated valid and
invalid input; no answer may be a 5xx or a status the document does not declare.
The public HTML pages (web form, tracking page) are not in the document; they
are fuzzed with hypothesis at the end of this file, on the same running app.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import quote, unquote

import httpx
import pytest
import schemathesis
from hypothesis import given, settings
from hypothesis import strategies as st

from tousu_common.testing.fuzz import (
    FUZZ_SETTINGS,
    IGNORE_SCHEMATHESIS_WARNINGS,
    LiveService,
    all_roles_token,
    assert_every_protected_operation_answers_401,
    assert_oversized_bodies_get_413_json,
    call_and_check,
    concrete_path,
    fuzz_examples,
    multipart_file,
    multipart_operations,
    openapi_of,
    running_service,
)

pytestmark = [pytest.mark.integration, IGNORE_SCHEMATHESIS_WARNINGS]


@pytest.fixture(scope="module")
def live(jwt_secret: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    with running_service(
        "tousu_intake",
        jwt_secret,
        tmp_path_factory.mktemp("fuzz-intake"),
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
    ) as service:
        yield service


DOCUMENT = openapi_of("tousu_intake")
schema = schemathesis.openapi.from_dict(DOCUMENT)


@pytest.fixture(scope="module")
def known(live: LiveService, jwt_secret: str) -> dict[str, str]:
    """A real complaint and customer, for path parameters to point at."""
    headers = {"Authorization": f"Bearer {all_roles_token(jwt_secret)}"}
    with httpx.Client(base_url=live.url, headers=headers, timeout=60) as http:
        complaint = http.post(
            "/v1/complaints",
            json={
                "title": "发动机漏油",
                "description": "卡车在高速上发动机漏油，已停机",
                "customer_name": "王建国",
                "customer_phone": "+86 138 0013 8000",
            },
        )
        assert complaint.status_code == 201, complaint.text
        customer = http.post("/v1/customers", json={"name": "王建国"})
        assert customer.status_code == 201, customer.text
    return {"complaint_id": complaint.json()["id"], "customer_id": customer.json()["id"]}


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
    assert_oversized_bodies_get_413_json(
        live, path, all_roles_token(jwt_secret), body, content_type
    )


MULTIPART = multipart_operations(DOCUMENT)
BOUNDARIES = st.sampled_from(["", "x", "fuzz", "a" * 200, '"quoted"', "é"])


@settings(FUZZ_SETTINGS, max_examples=max(25, fuzz_examples()))
@given(
    operation=st.sampled_from(MULTIPART),
    boundary=BOUNDARIES,
    body=st.binary(max_size=600)
    | st.sampled_from(
        [
            b'--fuzz\r\nContent-Disposition: form-data; name="document"; filename="a.tif"\r\n',
            b"--fuzz\r\nContent-Disposition: form-data\r\n\r\nvalue\r\n--fuzz--\r\n",
            b"--fuzz\r\n\r\n\r\n--fuzz--\r\n",
            b"--fuzz--\r\n",
            b'--fuzz\r\nContent-Disposition: form-data; name="text"\r\n\r\n' + b"\xff" * 40,
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


# --- the public pages (not in the OpenAPI document) ---------------------------

FORM_FIELDS = [
    "name",
    "phone",
    "email",
    "product_model",
    "serial_number",
    "title",
    "description",
    "lang",
    "feedback_requested",
    "website",
]
FORM_VALUES = st.text(max_size=300) | st.sampled_from(
    ["李女士", "138 0013 8000", "li@example.cn", "+86 10 1234 5678", "x" * 25_000, ""]
)


def _csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    return match.group(1) if match else ""


@settings(FUZZ_SETTINGS, max_examples=max(25, fuzz_examples()))
@given(
    fields=st.dictionaries(st.sampled_from(FORM_FIELDS) | st.text(max_size=10), FORM_VALUES),
    files=st.lists(
        st.tuples(st.text(max_size=40), st.binary(max_size=300), st.text(max_size=30)),
        max_size=7,
    ),
    with_csrf=st.booleans(),
    lang=st.none() | st.text(max_size=10),
)
def test_the_web_form_answers_any_post_with_a_page_never_a_5xx(
    live: LiveService,
    fields: dict[str, str],
    files: list[tuple[str, bytes, str]],
    with_csrf: bool,
    lang: str | None,
) -> None:
    with httpx.Client(base_url=live.url, timeout=60) as http:
        page = http.get("/complaint", params={"lang": lang} if lang is not None else None)
        assert page.status_code == 200
        data = {**fields, **({"csrf_token": _csrf_token(page.text)} if with_csrf else {})}
        uploads = [
            ("attachments", (name or "f", content, kind or "application/octet-stream"))
            for name, content, kind in files
        ]
        response = http.post("/complaint", data=data, files=uploads or None)
    assert response.status_code in (200, 201, 400, 403, 413, 422), response.text[:500]
    assert "<html" in response.text


@pytest.fixture(scope="module")
def filed(live: LiveService) -> tuple[str, str]:
    """A complaint filed on the web form: its reference and tracking token."""
    with httpx.Client(base_url=live.url, timeout=60) as http:
        page = http.get("/complaint")
        data = {
            "name": "李女士",
            "phone": "138 0013 8000",
            "title": "空调不制冷",
            "description": "新车空调不制冷。",
            "csrf_token": _csrf_token(page.text),
        }
        response = http.post("/complaint", data=data)
    assert response.status_code == 201, response.text[:500]
    match = re.search(r"/track/([A-Z0-9-]+)\?token=([^&\"]+)", response.text)
    assert match, response.text[:500]
    return match.group(1), unquote(match.group(2))


TRACK_FIELDS = st.dictionaries(
    st.sampled_from(["text", "decision", "reason", "lang", "answer", "rectification_id"]),
    FORM_VALUES,
)


@settings(FUZZ_SETTINGS, max_examples=max(25, fuzz_examples()))
@given(
    reference=st.sampled_from(["TS-2026-000001", "TS-2026-0", "x" * 300])
    | st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=30),
    token=st.text(max_size=200),
    real=st.booleans(),
    action=st.sampled_from(["", "/add", "/decision", "/withdraw", "/feedback", "/feedback/answer"]),
    fields=TRACK_FIELDS,
    files=st.lists(st.tuples(st.text(max_size=20), st.binary(max_size=200)), max_size=3),
)
def test_the_tracking_page_answers_any_reference_token_or_post_with_a_page_never_a_5xx(
    live: LiveService,
    filed: tuple[str, str],
    reference: str,
    token: str,
    real: bool,
    action: str,
    fields: dict[str, str],
    files: list[tuple[str, bytes]],
) -> None:
    if real:  # the real complaint, with its token and a valid CSRF token
        reference, token = filed
    path = "/track/" + quote(reference, safe="")
    with httpx.Client(base_url=live.url, timeout=60) as http:
        page = http.get(path, params={"token": token})
        assert page.status_code < 500, page.text[:500]
        if real:
            assert page.status_code == 200
            fields = {**fields, "csrf_token": _csrf_token(page.text)}
        if action:
            uploads = [("attachments", (n or "f", c, "image/png")) for n, c in files]
            response = http.post(
                path + action, params={"token": token}, data=fields, files=uploads or None
            )
            assert response.status_code < 500, response.text[:500]
