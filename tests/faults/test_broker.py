"""The broker goes away: the local one forgets everything when it restarts; the system must not.

A service started before the broker works once it comes, and complaints posted
before, during and after a broker restart each reach exactly one case and one
acknowledgement, although retained outbox rows are published again — with no
manual step: services re-create topics, re-publish and rejoin by themselves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tousu_common.auth import mint_token
from tousu_common.devstack import SERVICES, Broker, Stack, free_port, wait_for_port
from tousu_common.testing.helpers import header, read_topic
from tousu_common.testing.wait import eventually

from ..conftest import complaint_body
from .harness import (
    ComplaintStream,
    FaultStack,
    assert_every_complaint_once,
    start_fault_stack,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    running = start_fault_stack(tmp_path_factory.mktemp("faults-broker"))
    yield running
    running.stop()


def test_complaints_posted_across_a_broker_restart_each_reach_one_case_and_one_mail(
    faults: FaultStack,
) -> None:
    with ComplaintStream(faults, count=30, rate=3) as stream:
        stream.wait_answered(6)
        faults.broker.stop()
        eventually(
            lambda: (
                (faults.readiness("intake") or {}).get("checks", {}).get("broker", "ok") != "ok"
            ),
            timeout=30,
        )
        down_at = stream.answered
        stream.wait_answered(down_at + 5)  # intake keeps accepting: the outbox holds them
        faults.start_broker()
    assert_every_complaint_once(faults, stream)


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
