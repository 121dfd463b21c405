"""Which topics rectification listens to and which handler each event type gets."""

from __future__ import annotations

from tousu_common.db import Database
from tousu_common.messaging.inbox import InboxConsumer
from tousu_common.settings import ServiceSettings
from tousu_rectification.handlers.open_case import open_case_for_triaged_complaint


def build_consumers(db: Database, settings: ServiceSettings) -> list[InboxConsumer]:
    return [
        InboxConsumer(
            db,
            settings,
            group_id="tousu-rectification",
            topics=["tousu.routing"],
            handlers={"complaint.triaged": open_case_for_triaged_complaint},
        )
    ]
