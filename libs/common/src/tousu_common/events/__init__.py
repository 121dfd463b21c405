"""The public event contract: CloudEvents envelope, payload models, topics."""

from tousu_common.events.catalog import (
    CATALOG,
    TOPICS,
    CaseOpened,
    Channel,
    ComplaintCategory,
    ComplaintReceived,
    ComplaintTriaged,
    EventPayload,
    EventSpec,
    Urgency,
    spec_for,
)
from tousu_common.events.envelope import DecodeError, Event, new_event

__all__ = [
    "CATALOG",
    "TOPICS",
    "CaseOpened",
    "Channel",
    "ComplaintCategory",
    "ComplaintReceived",
    "ComplaintTriaged",
    "DecodeError",
    "Event",
    "EventPayload",
    "EventSpec",
    "Urgency",
    "new_event",
    "spec_for",
]
