"""``Event.from_kafka`` fed arbitrary and mutated records: it returns an Event or
raises ``DecodeError`` (the record is dead-lettered at once), nothing else — any
other exception would make a consumer retry a poison record forever."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import uuid4

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tousu_common.events import Channel, ComplaintReceived, DecodeError, Event, new_event
from tousu_common.events.catalog import CATALOG

FUZZ = settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


@dataclass
class Record:
    value: bytes | None
    headers: list[tuple[str, bytes | None]]
    key: bytes | None = None
    topic: str = "tousu.complaints"


def valid_event() -> Event:
    return new_event(
        ComplaintReceived(
            complaint_id=uuid4(),
            reference="TS-2026-000001",
            channel=Channel.hotline,
            received_at=datetime.now(UTC),
            title="漏油",
            description="发动机漏油",
        ),
        source="tousu-intake",
    )


def decodes_or_is_poison(record: Record) -> Event | None:
    try:
        event = Event.from_kafka(record)
    except DecodeError as poison:
        assert str(poison)  # the reason goes into the dead letter's headers
        return None
    assert event.type in CATALOG
    assert event.time.tzinfo is not None  # compared with aware times downstream
    return event


HEADER_NAMES = st.sampled_from(
    ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "ce_subject", "content-type"]
) | st.text(max_size=20)
HEADER_VALUES = (
    st.none()
    | st.binary(max_size=60)
    | st.sampled_from(
        [b"1.0", b"complaint.received", b"2026-11-23T09:00:00", b"2026-11-23T09:00:00+08:00", b""]
    )
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=20,
)


@FUZZ
@given(
    headers=st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=10),
    value=st.none() | st.binary(max_size=300),
)
def test_arbitrary_records_decode_or_are_poison(
    headers: list[tuple[str, bytes | None]], value: bytes | None
) -> None:
    decodes_or_is_poison(Record(value, headers))


@FUZZ
@given(
    replaced=st.dictionaries(HEADER_NAMES, HEADER_VALUES, max_size=4),
    dropped=st.sets(st.sampled_from(["ce_specversion", "ce_id", "ce_type", "ce_time"])),
    value=st.none()
    | st.just("valid")
    | JSON.map(lambda v: json.dumps(v).encode())
    | st.integers(1, 3000).map(lambda depth: b"[" * depth + b"]" * depth)
    | st.integers(4000, 5000).map(lambda digits: b"9" * digits)
    | st.binary(max_size=200),
)
def test_mutated_real_events_decode_or_are_poison(
    replaced: dict[str, bytes | None], dropped: set[str], value: bytes | str | None
) -> None:
    event = valid_event()
    headers = [(n, v) for n, v in event.headers() if n not in dropped and n not in replaced]
    headers += list(replaced.items())
    body = event.value() if value == "valid" else value
    assert not isinstance(body, str)
    decodes_or_is_poison(Record(body, headers))


@settings(FUZZ, max_examples=60)
@given(payload=st.dictionaries(st.sampled_from(["complaint_id", "title", "x"]), JSON))
def test_payloads_of_any_shape_for_every_event_type_decode_or_are_poison(
    payload: dict[str, object],
) -> None:
    for event_type in sorted(CATALOG):
        headers = [
            ("ce_specversion", b"1.0"),
            ("ce_id", b"e-1"),
            ("ce_source", b"fuzz"),
            ("ce_type", event_type.encode()),
        ]
        decodes_or_is_poison(Record(json.dumps(payload).encode(), headers))


def test_deeply_nested_json_is_poison_not_a_recursion_error() -> None:
    event = valid_event()
    assert decodes_or_is_poison(Record(b"[" * 100_000 + b"]" * 100_000, event.headers())) is None


def test_a_time_without_an_offset_is_poison() -> None:
    event = valid_event()
    headers = [(n, v) for n, v in event.headers() if n != "ce_time"]
    headers.append(("ce_time", b"2026-11-23T09:00:00"))
    assert decodes_or_is_poison(Record(event.value(), headers)) is None
