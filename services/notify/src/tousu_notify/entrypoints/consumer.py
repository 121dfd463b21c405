"""Which topics notify listens to and which handler each event type gets."""

from __future__ import annotations

from tousu_common.db import Database
from tousu_common.messaging.inbox import InboxConsumer
from tousu_common.settings import ServiceSettings
from tousu_notify.digests.consumer import build_digest_consumer
from tousu_notify.handlers.record import record_notification


def build_consumers(db: Database, settings: ServiceSettings) -> list[InboxConsumer]:
    return [
        InboxConsumer(
            db,
            settings,
            group_id="tousu-notify",
            topics=["tousu.complaints", "tousu.routing"],
            handlers={
                "complaint.received": record_notification,
                "complaint.triaged": record_notification,
            },
        ),
        build_digest_consumer(db, settings),
    ]
