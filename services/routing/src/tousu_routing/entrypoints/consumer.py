"""Which topics routing listens to and which handler each event type gets."""

from __future__ import annotations

from tousu_common.db import Database
from tousu_common.messaging.inbox import InboxConsumer
from tousu_common.settings import ServiceSettings
from tousu_routing.bootstrap import Routing, SystemTime
from tousu_routing.config import Settings
from tousu_routing.handlers.events import build_handlers


def build_consumers(
    db: Database, settings: ServiceSettings, routing: Routing | None = None
) -> list[InboxConsumer]:
    if not isinstance(settings, Settings):
        raise TypeError(f"expected Settings, got {type(settings).__name__}")
    routing = routing or Routing(settings, SystemTime())
    return [
        InboxConsumer(
            db,
            settings,
            group_id="tousu-routing",
            # complaint lifecycle from intake; clocks' stop/pause/resume and
            # closing from rectification.
            topics=["tousu.complaints", "tousu.cases"],
            handlers=build_handlers(routing),
        )
    ]
