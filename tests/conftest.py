"""The whole system as processes: a broker and the four services, on each backend."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tousu_common.auth import mint_token
from tousu_common.devstack import SERVICES, Stack, free_port
from tousu_common.mailsink import MailSink

# The one poll-until helper lives in tousu_common.testing.wait; kept importable from
# here for stack tests written before it moved.
from tousu_common.testing.wait import eventually  # noqa: F401


def _ports() -> dict[str, int]:
    return {spec.name: free_port() for spec in SERVICES}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def stack(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    mail_sink: MailSink,
) -> Iterator[Stack]:
    database_urls: dict[str, str] = {}
    if request.param == "postgresql":
        cluster = request.getfixturevalue("postgres")
        suffix = secrets.token_hex(4)
        database_urls = {
            spec.name: cluster.create_database(f"{spec.name}_{suffix}") for spec in SERVICES
        }
    running = Stack(
        var_dir=tmp_path_factory.mktemp(f"stack-{request.param}"),
        database_urls=database_urls,
        ports=_ports(),
        mail_port=mail_sink.port,
        extra_env={"TOUSU_KAFKA_TOPIC_PARTITIONS": "3"},
    )
    running.start(timeout=90)
    yield running
    running.stop()


@pytest.fixture
def auth(stack: Stack) -> Callable[..., dict[str, str]]:
    def headers(
        *roles: str, sub: str = "agent-007", department: str | None = "csc"
    ) -> dict[str, str]:
        token = mint_token(stack.jwt_secret, subject=sub, roles=list(roles), department=department)
        return {"Authorization": f"Bearer {token}"}

    return headers


def get_json_if(client: httpx.Client, url: str, headers: dict[str, str]) -> Any:
    response = client.get(url, headers=headers)
    return response.json() if response.status_code == 200 else None


def complaint_body(**overrides: Any) -> dict[str, Any]:
    """A realistic hotline complaint. Each call names a different engine serial so
    that routing's duplicate detection (same customer, same serial, similar text)
    treats repeated test complaints as new work; pass ``serial_number`` to test
    duplicates."""
    body = {
        "title": "发动机漏油，车辆停在高速上",
        "description": "客户的卡车在高速上发动机漏油，已经停机，急需处理。",
        "customer_name": "王建国",
        "customer_phone": "+86 138 0013 8000",
        "product_model": "YC6L-280",
        "serial_number": f"SN-2026-{secrets.token_hex(4).upper()}",
    }
    body.update(overrides)
    return body


def stack_path(stack: Stack, name: str) -> Path:
    return stack.var_dir / f"{name}.log"
