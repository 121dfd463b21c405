"""A service SIGKILLed mid-stream and restarted loses nothing and applies nothing twice."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from pathlib import Path

import httpx
import pytest

from tousu_common.auth import mint_token
from tousu_common.devstack import SERVICES, Stack, free_port
from tousu_common.testing.helpers import header, read_topic

from .conftest import complaint_body, eventually

pytestmark = pytest.mark.integration

BURST = 60


def test_routing_killed_mid_stream_and_restarted_triages_every_complaint_exactly_once(
    tmp_path: Path,
) -> None:
    stack = Stack(
        var_dir=tmp_path,
        ports={spec.name: free_port() for spec in SERVICES},
        # small groups, so the kill lands between commits rather than before the first
        extra_env={"TOUSU_KAFKA_TOPIC_PARTITIONS": "3", "TOUSU_CONSUMER_GROUP_COMMIT": "2"},
    )
    stack.start(timeout=90)
    try:
        token = mint_token(stack.jwt_secret, subject="agent-1", roles=["agent", "csc"])
        headers = {"Authorization": f"Bearer {token}"}

        async def burst() -> list[str]:
            async with httpx.AsyncClient(base_url=stack.url("intake"), timeout=30) as client:
                answers = await asyncio.gather(
                    *(
                        client.post(
                            "/v1/complaints", json=complaint_body(title=f"第{n}台"), headers=headers
                        )
                        for n in range(BURST)
                    )
                )
            assert [a.status_code for a in answers] == [201] * BURST
            return [a.json()["id"] for a in answers]

        ids = asyncio.run(burst())
        with httpx.Client(timeout=10) as client:
            eventually(
                lambda: (
                    client.get(
                        f"{stack.url('routing')}/v1/triage/{ids[0]}", headers=headers
                    ).status_code
                    == 200
                ),
                interval=0.005,
            )
            stack.stop_service("routing", kill=True)  # SIGKILL: no shutdown, no offset commit
            stack.start_service(next(spec for spec in SERVICES if spec.name == "routing"))
            for complaint_id in ids:
                eventually(
                    lambda cid=complaint_id: (
                        client.get(
                            f"{stack.url('rectification')}/v1/cases/{cid}", headers=headers
                        ).status_code
                        == 200
                    ),
                    timeout=60,
                )

        async def distinct_event_ids(topic: str, event_type: str) -> dict[str, set[str]]:
            records = await read_topic(
                stack.bootstrap or "", topic, until=lambda rs: False, timeout=3
            )
            found: dict[str, set[str]] = defaultdict(set)
            for record in records:
                if header(record, "ce_type") == event_type:
                    found[record.key.decode()].add(header(record, "ce_id") or "")
            return found

        triaged = asyncio.run(distinct_event_ids("tousu.routing", "complaint.triaged"))
        opened = asyncio.run(distinct_event_ids("tousu.cases", "case.opened"))
        # Redelivered records are allowed (at least once); a second *decision* is not.
        assert {cid: len(triaged[cid]) for cid in ids} == {cid: 1 for cid in ids}
        assert {cid: len(opened[cid]) for cid in ids} == {cid: 1 for cid in ids}
    finally:
        stack.stop()
