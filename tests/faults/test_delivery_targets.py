"""Notify's far ends fail for a while: the SMTP server and a webhook target.

While the SMTP server answers ``451`` (try later: first to the recipient, as
greylisting does, then to the message) and then is not there at all,
acknowledgements wait and are retried with backoff; once it accepts again every acknowledgement is
delivered exactly once and ends ``sent``, none ``failed`` (the outage is
shorter than the retry budget set in FAST_RECOVERY_ENV). While a webhook
target answers ``503`` its deliveries are retried likewise; afterwards it has
every subscribed event, each with a valid signature. Webhooks are documented
as at least once (deduplicate on the CloudEvent id), so repeats of one id are
allowed, a missing or an extra event id is not.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest

from tousu_common.testing.wait import eventually

from .harness import (
    ONCE_PER_COMPLAINT,
    ComplaintStream,
    FaultStack,
    FlakyWebhookTarget,
    assert_every_complaint_once,
    distinct_event_ids,
    start_fault_stack,
)

pytestmark = pytest.mark.integration

HOOKED = [kind for _, kind in ONCE_PER_COMPLAINT]


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    running = start_fault_stack(tmp_path_factory.mktemp("faults-targets"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def target() -> Iterator[FlakyWebhookTarget]:
    server = FlakyWebhookTarget()
    yield server
    server.close()


def test_acknowledgements_held_back_by_a_failing_smtp_server_are_each_sent_once_afterwards(
    faults: FaultStack,
) -> None:
    count = 8
    sink = faults.sink
    sink.refusing = "rcpt"  # greylisting: 451 to every recipient
    with ComplaintStream(faults, count=count, rate=4) as stream:
        pass
    eventually(lambda: sink.refused >= 2 * count, timeout=60)
    sink.refusing = "data"  # 451 to the message itself
    eventually(lambda: sink.refused >= 4 * count, timeout=60)
    sink.go_down()  # and then nobody listening at all

    def all_unreachable() -> bool:
        acks = [a for p in stream.posted for a in acknowledgements(faults, p.complaint_id)]
        return len(acks) == count and all("unreachable" in (a["last_error"] or "") for a in acks)

    eventually(all_unreachable, timeout=60, interval=0.2)
    assert sink.messages == []
    sink.refusing = None
    sink.come_back()

    assert_every_complaint_once(faults, stream)
    attempts = [
        a["attempts"] for p in stream.posted for a in acknowledgements(faults, p.complaint_id)
    ]
    assert len(attempts) == count and min(attempts) >= 3, attempts


def acknowledgements(faults: FaultStack, complaint_id: str | None) -> list[dict[str, Any]]:
    answer = faults.client.get(
        faults.url("notify", "/v1/notifications"),
        params={"complaint_id": complaint_id},
        headers=faults.headers("csc"),
    )
    return [n for n in answer.json() if n["kind"] == "acknowledgement"]


def test_webhook_target_answering_503_for_a_while_gets_every_event_afterwards(
    faults: FaultStack, target: FlakyWebhookTarget
) -> None:
    created = faults.client.post(
        faults.url("notify", "/v1/subscriptions"),
        json={
            "name": "fault drill receiver",
            "channel": "webhook",
            "recipient_kind": "subscriber",
            "url": target.url,
            "event_types": HOOKED,
        },
        headers=faults.headers("admin", sub="admin-1"),
    )
    assert created.status_code == 201, created.text
    subscription = created.json()
    target.secret = subscription["secret"]
    target.failing = True
    count = 6
    with ComplaintStream(faults, count=count, rate=4) as stream:
        pass
    eventually(lambda: target.refused() >= 2 * len(HOOKED) * count, timeout=60)
    target.failing = False

    ids = assert_every_complaint_once(faults, stream)
    on_broker = distinct_event_ids(faults.broker.bootstrap, ids)
    expected = {(cid, kind): on_broker[(cid, kind)] for cid in ids for kind in HOOKED}

    def delivered() -> dict[tuple[str, str], set[str]]:
        found: dict[tuple[str, str], set[str]] = defaultdict(set)
        for hook in target.accepted():
            event = hook.event()
            if event["subject"] in ids:
                found[(event["subject"], event["type"])].add(event["id"])
        return found

    eventually(lambda: delivered() == expected, timeout=90, interval=0.2)
    assert target.unsigned == 0
    # one delivery id per event, repeated unchanged on every retry
    per_delivery: dict[str, set[str]] = defaultdict(set)
    for hook in target.received:
        per_delivery[hook.headers["tousu-delivery-id"]].add(hook.event()["id"])
    assert all(len(events) == 1 for events in per_delivery.values())
    assert len(per_delivery) == len(expected)
    answer = faults.client.get(
        faults.url("notify", f"/v1/subscriptions/{subscription['id']}"),
        headers=faults.headers("admin", sub="admin-1"),
    )
    assert answer.json()["active"] is True
