"""Which topics routing listens to and which handler each event type gets."""

from __future__ import annotations

from tousu_common.db import Database
from tousu_common.messaging.inbox import InboxConsumer
from tousu_common.settings import ServiceSettings
from tousu_routing.handlers.triage import triage_received_complaint


def build_consumers(db: Database, settings: ServiceSettings) -> list[InboxConsumer]:
    return [
        InboxConsumer(
            db,
            settings,
            group_id="tousu-routing",
            topics=["tousu.complaints"],
            handlers={"complaint.received": triage_received_complaint},
        )
    ]
