"""Which topics rectification listens to and which handler each event type gets."""

from __future__ import annotations

from functools import partial

from tousu_common.db import Database
from tousu_common.messaging.inbox import Handler, InboxConsumer
from tousu_common.settings import ServiceSettings
from tousu_rectification.handlers.complaint_events import (
    apply_customer_decision,
    end_wait_on_customer_reply,
    follow_reassignment,
    keep_complaint_facts,
    withdraw_case,
)
from tousu_rectification.handlers.feedback import record_feedback_answer, record_feedback_request
from tousu_rectification.handlers.open_case import open_case_for_triaged_complaint


def event_handlers(timezone: str) -> dict[str, Handler]:
    """Each incoming event type's handler, with the company's time zone bound."""
    tz = timezone
    return {
        "complaint.triaged": partial(open_case_for_triaged_complaint, timezone=tz),
        "complaint.reassigned": partial(follow_reassignment, timezone=tz),
        "complaint.received": partial(keep_complaint_facts, timezone=tz),
        "complaint.withdrawn": partial(withdraw_case, timezone=tz),
        "complaint.amended": partial(end_wait_on_customer_reply, timezone=tz),
        "resolution.decision_received": partial(apply_customer_decision, timezone=tz),
        "complaint.feedback_requested": partial(record_feedback_request, timezone=tz),
        "rectification.feedback_answer_received": partial(record_feedback_answer, timezone=tz),
    }


def build_consumers(db: Database, settings: ServiceSettings) -> list[InboxConsumer]:
    return [
        InboxConsumer(
            db,
            settings,
            group_id="tousu-rectification",
            topics=["tousu.routing", "tousu.complaints"],
            handlers=event_handlers(settings.timezone),
        )
    ]
