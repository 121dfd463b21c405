"""The CloudEvents envelope round-trips and refuses poison with a reason."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from tousu_common.events import Channel, ComplaintReceived, DecodeError, Event, new_event


@dataclass
class Record:
    value: bytes | None
    headers: list[tuple[str, bytes]]
    key: bytes | None = None
    topic: str = "t"


def received() -> ComplaintReceived:
    return ComplaintReceived(
        complaint_id=uuid4(),
        reference="TS-2026-000001",
        channel=Channel.hotline,
        received_at=datetime.now(UTC),
        title="漏油",
        description="发动机漏油",
    )


def test_event_round_trips_through_kafka_encoding() -> None:
    event = new_event(received(), source="tousu/intake")
    decoded = Event.from_kafka(Record(event.value(), event.headers(), event.key))
    assert decoded.id == event.id
    assert decoded.type == "complaint.received"
    assert decoded.data == event.data
    assert decoded.time == event.time


def test_headers_follow_the_cloudevents_kafka_binding() -> None:
    event = new_event(received(), source="tousu/intake")
    headers = dict(event.headers())
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_type"] == b"complaint.received"
    assert headers["ce_subject"] == str(event.complaint_id).encode()
    assert headers["content-type"] == b"application/json"
    assert event.key == str(event.complaint_id).encode()
    assert event.topic == "tousu.complaints"


def test_payload_carries_no_contact_fields() -> None:
    fields = set(ComplaintReceived.model_fields)
    assert not fields & {"customer_name", "customer_phone", "customer_email", "phone", "email"}


@pytest.mark.parametrize(
    ("value", "headers", "reason"),
    [
        (b"{not json", None, "not JSON"),
        (b"{}", [("ce_type", b"complaint.exploded")], "unknown event type"),
        (b"{}", [], "payload invalid"),
        (b"{}", "no-ce", "ce_specversion missing"),
        (None, None, "no value"),
    ],
)
def test_poison_records_are_refused_with_a_reason(value, headers, reason) -> None:
    good = dict(new_event(received(), source="tousu/intake").headers())
    if headers == "no-ce":
        record_headers: list[tuple[str, bytes]] = []
    else:
        merged = {**good, **dict(headers or [])}
        record_headers = list(merged.items())
    with pytest.raises(DecodeError, match=reason):
        Event.from_kafka(Record(value, record_headers))


def test_payload_with_wrong_field_type_is_poison() -> None:
    event = new_event(received(), source="tousu/intake")
    payload = json.loads(event.value())
    payload["channel"] = "pigeon"
    with pytest.raises(DecodeError, match="channel"):
        Event.from_kafka(Record(json.dumps(payload).encode(), event.headers()))
