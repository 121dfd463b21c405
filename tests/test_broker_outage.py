"""A complaint posted while the broker is down is accepted, and announced once it is back."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tousu_common.auth import mint_token
from tousu_common.devstack import SERVICES, Broker, Stack, free_port, wait_for_port
from tousu_common.testing.helpers import header, read_topic

from .conftest import complaint_body, eventually

pytestmark = pytest.mark.integration


def test_complaint_posted_while_broker_is_down_is_delivered_when_it_returns(tmp_path: Path) -> None:
    broker_port = free_port()
    stack = Stack(
        var_dir=tmp_path,
        bootstrap=f"127.0.0.1:{broker_port}",  # nothing listens there yet
        services=SERVICES[:1],
        ports={"intake": free_port()},
        extra_env={"TOUSU_KAFKA_REQUEST_TIMEOUT_MS": "1000", "TOUSU_CONSUMER_BACKOFF_MAX_S": "0.5"},
    )
    broker: Broker | None = None
    try:
        stack.start(wait_ready=False)
        wait_for_port(stack.port("intake"), 30, stack.processes["intake"])
        token = mint_token(stack.jwt_secret, subject="agent-1", roles=["agent"])
        with httpx.Client(base_url=stack.url("intake"), timeout=10) as client:
            eventually(lambda: client.get("/healthz").status_code == 200)
            assert client.get("/readyz").status_code == 503
            created = client.post(
                "/v1/complaints",
                json=complaint_body(),
                headers={"Authorization": f"Bearer {token}"},
            )
            assert created.status_code == 201, created.text
            complaint_id = created.json()["id"]

            broker = Broker(port=broker_port).start()
            records = asyncio.run(
                read_topic(
                    broker.bootstrap,
                    "tousu.complaints",
                    until=lambda rs: any(r.key == complaint_id.encode() for r in rs),
                    timeout=30,
                )
            )
            mine = [r for r in records if r.key == complaint_id.encode()]
            assert [header(r, "ce_type") for r in mine] == ["complaint.received"]
            eventually(lambda: client.get("/readyz").status_code == 200)
    finally:
        stack.stop()
        if broker:
            broker.stop()
