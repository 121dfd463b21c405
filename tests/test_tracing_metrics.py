"""One complaint followed through the running system by its trace id (broker
headers and every service's log), and each service's /metrics after it."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Callable, Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tousu_common.devstack import Stack
from tousu_common.mailsink import MailSink
from tousu_common.testing.helpers import header, read_topic
from tousu_common.testing.wait import eventually

from .conftest import _ports, complaint_body, get_json_if, stack_path

pytestmark = pytest.mark.integration

SERVICE_NAMES = ("intake", "routing", "rectification", "notify")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, mail_sink: MailSink) -> Iterator[Stack]:
    """SQLite only: what is measured here does not depend on the database."""
    running = Stack(
        var_dir=tmp_path_factory.mktemp("stack-tracing"),
        ports=_ports(),
        mail_port=mail_sink.port,
        extra_env={
            "TOUSU_KAFKA_TOPIC_PARTITIONS": "3",
            "TOUSU_NOTIFY_DELIVERY_POLL_INTERVAL_S": "0.1",
        },
    )
    running.start(timeout=120)
    yield running
    running.stop()


def metric_value(text: str, name: str, **labels: str) -> float:
    """The sum of every sample called ``name`` whose labels include ``labels``."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                total += sample.value
    return total


def trace_ids_in_log(stack: Stack, service: str, complaint_id: str) -> set[str]:
    found = set()
    for line in stack_path(stack, service).read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("complaint_id") == complaint_id:
            if entry.get("trace_id"):
                found.add(entry["trace_id"])
    return found


def test_one_trace_id_follows_a_complaint_through_events_and_every_log(
    stack: Stack, auth: Callable[..., dict[str, str]]
) -> None:
    trace_id = secrets.token_hex(16)
    traceparent = f"00-{trace_id}-{secrets.token_hex(8)}-01"
    staff = auth("agent", "csc")
    with httpx.Client(timeout=30) as client:
        created = client.post(
            f"{stack.url('intake')}/v1/complaints",
            # an e-mail address, so notify sends (to the test's mail sink) and
            # records notification.sent
            json=complaint_body(customer_email=f"trace.{trace_id[:8]}@example.com"),
            headers={**auth("agent"), "traceparent": traceparent},
        )
        assert created.status_code == 201, created.text
        assert created.headers["traceparent"].split("-")[1] == trace_id
        complaint_id = created.json()["id"]
        eventually(
            lambda: get_json_if(
                client, f"{stack.url('rectification')}/v1/cases/{complaint_id}", staff
            ),
            timeout=120,
        )

    assert stack.bootstrap is not None
    wanted = {
        "tousu.complaints": "complaint.received",
        "tousu.routing": "complaint.triaged",
        "tousu.cases": "case.opened",
        # sent later by notify's delivery worker, which keeps the trace of the cause
        "tousu.notifications": "notification.sent",
    }
    for topic, event_type in wanted.items():

        def has_it(records: list, event_type: str = event_type) -> bool:
            return any(
                header(r, "ce_subject") == complaint_id and header(r, "ce_type") == event_type
                for r in records
            )

        records = asyncio.run(read_topic(stack.bootstrap, topic, until=has_it, timeout=60))
        mine = [
            r
            for r in records
            if header(r, "ce_subject") == complaint_id and header(r, "ce_type") == event_type
        ]
        assert mine, f"no {event_type} for the complaint on {topic}"
        traceparents = {header(r, "ce_traceparent") for r in mine}
        assert {tp.split("-")[1] if tp else None for tp in traceparents} == {trace_id}, (
            event_type,
            traceparents,
        )

    # Every service logged about this complaint, and only under this trace id.
    for service in SERVICE_NAMES:
        found = eventually(lambda s=service: trace_ids_in_log(stack, s, complaint_id), timeout=60)
        assert found == {trace_id}, (service, found)


def test_every_service_exposes_http_event_and_outbox_metrics(
    stack: Stack, auth: Callable[..., dict[str, str]]
) -> None:
    with httpx.Client(timeout=30) as client:
        created = client.post(
            f"{stack.url('intake')}/v1/complaints", json=complaint_body(), headers=auth("agent")
        )
        assert created.status_code == 201, created.text
        complaint_id = created.json()["id"]
        eventually(
            lambda: get_json_if(
                client,
                f"{stack.url('rectification')}/v1/cases/{complaint_id}",
                auth("agent", "csc"),
            ),
            timeout=120,
        )

        def scrape(service: str) -> str:
            response = client.get(f"{stack.url(service)}/metrics")
            assert response.status_code == 200
            return response.text

        intake = scrape("intake")
        assert (
            metric_value(
                intake,
                "tousu_http_requests_total",
                service="intake",
                route="/v1/complaints",
                method="POST",
                status="201",
            )
            >= 1
        )
        assert (
            metric_value(
                intake, "tousu_http_request_duration_seconds_count", route="/v1/complaints"
            )
            >= 1
        )
        # the case exists, so what caused it was produced and consumed on the way
        expectations = {
            "intake": ("complaint.received", None),
            "routing": ("complaint.triaged", "complaint.received"),
            "rectification": ("case.opened", "complaint.triaged"),
            "notify": (None, "case.opened"),
        }
        for service, (produced, consumed) in expectations.items():

            def applied_yet(service: str = service, consumed: str | None = consumed) -> str | None:
                text = scrape(service)
                if consumed is None:
                    return text
                seen = metric_value(
                    text, "tousu_events_consumed_total", event_type=consumed, outcome="applied"
                )
                return text if seen >= 1 else None

            text = eventually(applied_yet, timeout=60)
            if produced is not None:
                assert (
                    metric_value(
                        text, "tousu_events_produced_total", service=service, event_type=produced
                    )
                    >= 1
                ), service
            assert f'tousu_outbox_pending{{service="{service}"}}' in text, service
            assert f'tousu_outbox_oldest_pending_age_seconds{{service="{service}"}}' in text
            if consumed is not None:
                assert (
                    metric_value(
                        text, "tousu_consumer_transaction_duration_seconds_count", service=service
                    )
                    >= 1
                )
