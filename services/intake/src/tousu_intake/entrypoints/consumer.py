"""Which topics intake listens to and which handler each event type gets."""

from __future__ import annotations

from tousu_common.db import Database
from tousu_common.messaging.inbox import InboxConsumer
from tousu_common.settings import ServiceSettings
from tousu_intake.domain.timeline import CASE_TYPES, OWN_TYPES, ROUTING_TYPES
from tousu_intake.handlers.tracking import project_event, project_events


def build_consumers(db: Database, settings: ServiceSettings) -> list[InboxConsumer]:
    return [
        # The customer's tracking page: a read model of what routing, rectification
        # and intake itself announced about each complaint. In the background (the
        # long fetch wait): a page a customer reloads can be a quarter second behind.
        # A whole group of events at once: one read of the tracking rows per group.
        InboxConsumer(
            db,
            settings,
            group_id="tousu-intake-tracking",
            topics=["tousu.routing", "tousu.cases", "tousu.complaints"],
            handlers={t: project_event for t in (*ROUTING_TYPES, *CASE_TYPES, *OWN_TYPES)},
            fetch_wait_ms=settings.kafka_idle_fetch_max_wait_ms,
            batch_handler=project_events,
        ),
    ]
