"""Each service SIGKILLed mid-stream and restarted, on PostgreSQL: nothing lost, nothing twice.

One stream of complaints runs while intake, routing, rectification and notify
are killed (no shutdown, no offset commit) and restarted in turn. Posts that
got no answer from the dead intake are sent again with their Idempotency-Key
and yield one complaint each; consumers redeliver what they had not committed
and their inboxes drop what was applied; notify's delivery rows survive.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from tousu_common.testing.postgres import PostgresCluster

from .harness import ComplaintStream, FaultStack, assert_every_complaint_once, start_fault_stack

pytestmark = pytest.mark.integration

IN_TURN = ("intake", "routing", "rectification", "notify")


@pytest.fixture(scope="module")
def faults(
    tmp_path_factory: pytest.TempPathFactory, postgres: PostgresCluster
) -> Iterator[FaultStack]:
    suffix = secrets.token_hex(4)
    urls = {name: postgres.create_database(f"{name}_{suffix}") for name in IN_TURN}
    running = start_fault_stack(
        tmp_path_factory.mktemp("faults-sigkill"),
        database_urls=urls,
        extra_env={
            # small groups, so a kill lands between commits rather than before the first
            "TOUSU_CONSUMER_GROUP_COMMIT": "2",
            # a delivery whose worker was killed mid-send is attempted again soon
            "TOUSU_NOTIFY_DELIVERY_STALE_AFTER_S": "10",
        },
    )
    yield running
    running.stop()


def test_each_service_killed_mid_stream_and_restarted_loses_nothing_and_applies_nothing_twice(
    faults: FaultStack,
) -> None:
    count = 60
    with ComplaintStream(faults, count=count, rate=3) as stream:
        # the next kill does not wait for the last restart: a slow start on a
        # loaded machine must not let the stream end before every kill has landed
        for service, mark in zip(IN_TURN, (5, 12, 19, 26), strict=True):
            stream.wait_answered(mark)
            if service == "intake":
                assert stream.in_flight.wait(10)  # kill it while it handles a post
            assert stream.answered < count, f"the stream ended before {service} was killed"
            faults.kill(service)
            faults.start(service, wait=False)
    # intake was really down mid-stream: some post got no answer and was sent again
    assert any(p.unanswered for p in stream.posted)

    def killed_mid_send(ack: dict[str, Any]) -> bool:
        # notify's documented at-least-once window: a mail the SMTP server had
        # accepted when notify died is attempted again, as a second attempt
        return ack["attempts"] > 1

    assert_every_complaint_once(faults, stream, mail_at_least_once=killed_mid_send)
