"""CloudEvents 1.0 envelope, Kafka protocol binding, binary content mode.

On the wire an event is: key = complaint id, value = the JSON payload, and the
context attributes as ``ce_*`` headers (``ce_specversion``, ``ce_id``,
``ce_source``, ``ce_type``, ``ce_time``, ``ce_subject``, ``ce_dataschema``)
plus ``content-type: application/json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID, uuid4

from pydantic import ValidationError

from tousu_common.events.catalog import CATALOG, EventPayload, EventSpec, spec_for

SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"


class DecodeError(ValueError):
    """A record that can never be processed: it goes to the dead-letter topic."""


class KafkaRecord(Protocol):
    topic: str
    key: bytes | None
    value: bytes | None
    headers: Any


@dataclass(frozen=True)
class Event:
    """One event: CloudEvents context attributes plus a typed payload."""

    type: str
    source: str
    data: EventPayload
    id: str = field(default_factory=lambda: str(uuid4()))
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    extensions: dict[str, str] = field(default_factory=dict)

    @property
    def spec(self) -> EventSpec:
        return CATALOG[self.type]

    @property
    def topic(self) -> str:
        return self.spec.topic

    @property
    def complaint_id(self) -> UUID:
        return self.data.complaint_id

    @property
    def key(self) -> bytes:
        return str(self.complaint_id).encode()

    def headers(self) -> list[tuple[str, bytes]]:
        attributes = {
            "ce_specversion": SPECVERSION,
            "ce_id": self.id,
            "ce_source": self.source,
            "ce_type": self.type,
            "ce_time": self.time.isoformat(),
            "ce_subject": str(self.complaint_id),
            "ce_dataschema": self.spec.dataschema,
            "content-type": CONTENT_TYPE,
        }
        attributes.update({f"ce_{name}": value for name, value in self.extensions.items()})
        return [(name, value.encode()) for name, value in attributes.items()]

    def value(self) -> bytes:
        return self.data.model_dump_json().encode()

    @classmethod
    def from_kafka(cls, record: KafkaRecord) -> Event:
        """Decode a record, or raise :class:`DecodeError` saying why it is poison."""
        headers = _headers(record)
        if headers.get("ce_specversion") != SPECVERSION:
            raise DecodeError(f"not a CloudEvents {SPECVERSION} record (ce_specversion missing)")
        for required in ("ce_id", "ce_type", "ce_source"):
            if not headers.get(required):
                raise DecodeError(f"header {required} is missing")
        event_type = headers["ce_type"]
        spec = CATALOG.get(event_type)
        if spec is None:
            raise DecodeError(f"unknown event type {event_type!r}")
        if record.value is None:
            raise DecodeError("record has no value")
        try:
            raw = json.loads(record.value)
        except (UnicodeDecodeError, ValueError) as exc:
            # ValueError: bad JSON, and also a number past Python's digit limit.
            raise DecodeError(f"value is not JSON: {exc}") from exc
        except RecursionError as exc:
            raise DecodeError("value is JSON nested too deeply") from exc
        try:
            data = spec.model.model_validate(raw)
        except ValidationError as exc:
            raise DecodeError(f"{event_type} payload invalid: {_first_error(exc)}") from exc
        try:
            time = datetime.fromisoformat(headers["ce_time"]) if "ce_time" in headers else None
        except ValueError as exc:
            raise DecodeError(f"ce_time is not an RFC 3339 time: {exc}") from exc
        if time is not None and time.utcoffset() is None:
            # RFC 3339 times carry an offset; a naive one could not be compared later.
            raise DecodeError("ce_time has no UTC offset")
        known = {
            "ce_specversion",
            "ce_id",
            "ce_source",
            "ce_type",
            "ce_time",
            "ce_subject",
            "ce_dataschema",
        }
        extensions = {
            name.removeprefix("ce_"): value
            for name, value in headers.items()
            if name.startswith("ce_") and name not in known
        }
        return cls(
            type=event_type,
            source=headers["ce_source"],
            data=data,
            id=headers["ce_id"],
            time=time or datetime.now(UTC),
            extensions=extensions,
        )


def new_event(data: EventPayload, *, source: str, **extensions: str) -> Event:
    """Wrap a payload in an envelope; the type comes from the catalog."""
    return Event(type=spec_for(type(data)).type, source=source, data=data, extensions=extensions)


def _headers(record: KafkaRecord) -> dict[str, str]:
    decoded: dict[str, str] = {}
    for name, value in record.headers or ():
        try:
            decoded[name] = value.decode() if isinstance(value, bytes) else str(value)
        except UnicodeDecodeError as exc:
            raise DecodeError(f"header {name} is not UTF-8") from exc
    return decoded


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "payload"
    return f"{where}: {error['msg']}"
