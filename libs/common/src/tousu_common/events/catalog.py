"""Every event type, its payload model, its topic and its schema version.

This module *is* the contract other systems subscribe to: the JSON schemas in
``docs/events/`` and ``docs/asyncapi.yaml`` are generated from it
(``tousu contract --write``) and a test fails when they are stale. Change a
payload compatibly (add optional fields) or bump its ``version``.

Payloads carry no personal data (names, phone numbers, e-mail addresses):
subscribers that need a contact ask the owning service's API for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

Reference = Annotated[str, Field(pattern=r"^TS-\d{4}-\d{6,}$", examples=["TS-2026-000123"])]


class EventPayload(BaseModel):
    """Base of every payload: immutable and strict about unknown fields' types."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    complaint_id: UUID = Field(description="The complaint this event is about; also the Kafka key.")


class Channel(StrEnum):
    hotline = "hotline"
    web = "web"
    email = "email"
    fax = "fax"
    letter = "letter"
    visit = "visit"
    key_account = "key_account"


class ComplaintCategory(StrEnum):
    product_quality = "product_quality"
    service_quality = "service_quality"
    delivery = "delivery"
    commercial = "commercial"
    other = "other"


class Urgency(StrEnum):
    urgent = "urgent"
    important = "important"
    general = "general"


class ComplaintReceived(EventPayload):
    """A complaint was accepted on some channel and given its reference."""

    reference: Reference
    channel: Channel
    received_at: datetime
    title: str = Field(max_length=200, description="Short subject line as the customer gave it.")
    description: str = Field(max_length=20_000, description="The complaint text, for triage.")
    product_model: str | None = Field(default=None, max_length=100)
    serial_number: str | None = Field(default=None, max_length=100)
    customer_id: UUID | None = Field(
        default=None, description="Opaque id of the customer record in intake, if known."
    )
    language: str = Field(default="zh", max_length=10)


class ComplaintTriaged(EventPayload):
    """Routing classified the complaint and chose the department that owns it."""

    reference: Reference
    category: ComplaintCategory
    urgency: Urgency
    owner_department: str = Field(max_length=50)
    decided_by: str = Field(description="'rules' or the user id of a person's triage.")
    rule_id: str | None = Field(default=None, max_length=100)
    ruleset_version: str = Field(max_length=50)
    triaged_at: datetime


class CaseOpened(EventPayload):
    """Rectification opened the case that tracks the customer resolution."""

    reference: Reference
    case_id: UUID
    status: str
    owner_department: str = Field(max_length=50)
    category: ComplaintCategory
    urgency: Urgency
    opened_at: datetime


@dataclass(frozen=True)
class EventSpec:
    type: str
    version: int
    topic: str
    model: type[EventPayload]
    producer: str

    @property
    def dataschema(self) -> str:
        return f"urn:tousu:events:{self.type}:v{self.version}"


TOPICS: dict[str, str] = {
    "tousu.complaints": "Complaint lifecycle at intake: received, amended, withdrawn.",
    "tousu.routing": "Triage decisions, reassignment, duplicates, SLA warnings and breaches.",
    "tousu.cases": "Customer resolution, rectification, verification, closing.",
    "tousu.notifications": "Notifications sent or failed, digests published.",
}

CATALOG: dict[str, EventSpec] = {
    spec.type: spec
    for spec in (
        EventSpec("complaint.received", 1, "tousu.complaints", ComplaintReceived, "intake"),
        EventSpec("complaint.triaged", 1, "tousu.routing", ComplaintTriaged, "routing"),
        EventSpec("case.opened", 1, "tousu.cases", CaseOpened, "rectification"),
    )
}


def spec_for(model: type[EventPayload]) -> EventSpec:
    for spec in CATALOG.values():
        if spec.model is model:
            return spec
    raise KeyError(f"{model.__name__} is not in the event catalog")
