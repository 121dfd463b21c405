"""Which topics notify listens to and which handler each event type gets."""

from __future__ import annotations

from tousu_common.db import Database
from tousu_common.events import CATALOG
from tousu_common.messaging.inbox import InboxConsumer
from tousu_common.settings import ServiceSettings
from tousu_notify.config import Settings
from tousu_notify.entrypoints.digest_consumer import build_digest_consumer
from tousu_notify.handlers.plan import Planner

GROUP_ID = "tousu-notify"
TOPICS = ["tousu.complaints", "tousu.routing", "tousu.cases", "tousu.notifications"]

#: notify's own notification.sent/failed are not planned again (no loops);
#: digest.published (also notify's) goes to its subscribers.
HANDLED = sorted(t for t in CATALOG if t not in ("notification.sent", "notification.failed"))


def build_consumers(db: Database, settings: ServiceSettings) -> list[InboxConsumer]:
    if not isinstance(settings, Settings):
        raise TypeError(f"expected Settings, got {type(settings).__name__}")
    plan = Planner(settings, consumer=GROUP_ID)
    return [
        InboxConsumer(
            db,
            settings,
            group_id=GROUP_ID,
            topics=TOPICS,
            handlers=dict.fromkeys(HANDLED, plan),
            batch_handler=plan.group,
            fetch_wait_ms=settings.planner_fetch_max_wait_ms,
        ),
        build_digest_consumer(db, settings),
    ]
