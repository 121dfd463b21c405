"""The local broker forgets everything when it restarts; the system must not.

Complaints posted before, during and after a broker restart all reach an
open case, and nothing is applied twice although retained events are
published again.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tousu_common.auth import mint_token
from tousu_common.devstack import SERVICES, Broker, Stack, free_port

from .conftest import complaint_body, eventually

pytestmark = pytest.mark.integration


def test_complaints_before_during_and_after_a_broker_restart_all_reach_a_case_once(
    tmp_path: Path,
) -> None:
    broker = Broker(port=free_port(), log_path=tmp_path / "broker.log").start()
    stack = Stack(
        var_dir=tmp_path,
        bootstrap=broker.bootstrap,
        ports={spec.name: free_port() for spec in SERVICES},
        extra_env={"TOUSU_OUTBOX_TOPIC_CHECK_S": "1", "TOUSU_CONSUMER_BACKOFF_MAX_S": "1"},
    )
    stack.start(timeout=90)
    token = mint_token(stack.jwt_secret, subject="agent-1", roles=["agent", "csc"])
    headers = {"Authorization": f"Bearer {token}"}
    client = httpx.Client(timeout=10)

    def post(title: str) -> str:
        answer = client.post(
            f"{stack.url('intake')}/v1/complaints",
            json=complaint_body(title=title),
            headers=headers,
        )
        assert answer.status_code == 201, answer.text
        return answer.json()["id"]

    def case_opened(complaint_id: str) -> bool:
        url = f"{stack.url('rectification')}/v1/cases/{complaint_id}"
        return client.get(url, headers=headers).status_code == 200

    try:
        before = post("重启前")
        eventually(lambda: case_opened(before))
        broker.stop()
        during = post("broker down")  # accepted: the outbox holds it
        broker = Broker(port=broker.port, log_path=tmp_path / "broker.log").start()
        after = [post(f"重启后{n}") for n in range(3)]
        for complaint_id in [during, *after]:
            eventually(lambda cid=complaint_id: case_opened(cid), timeout=60)

        def kinds(complaint_id: str) -> list[str]:
            url = f"{stack.url('notify')}/v1/notifications?complaint_id={complaint_id}"
            return sorted(item["kind"] for item in client.get(url, headers=headers).json())

        everyone = [before, during, *after]
        expected = ["acknowledgement", "assigned_to_department"]
        for complaint_id in everyone:
            eventually(lambda cid=complaint_id: kinds(cid) == expected, timeout=60)
        # Republished events keep arriving for a moment; none may add a notification.
        time.sleep(2)
        assert {cid: kinds(cid) for cid in everyone} == {cid: expected for cid in everyone}
    finally:
        client.close()
        stack.stop()
        broker.stop()
