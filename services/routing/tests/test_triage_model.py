"""Deciding a triage: the aggregate records the event it causes."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from tousu_common.events import (
    Channel,
    ComplaintCategory,
    ComplaintReceived,
    ComplaintTriaged,
    Urgency,
)
from tousu_routing.domain.model import Triage
from tousu_routing.domain.rules import RULESET_VERSION

NOW = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)


def received() -> ComplaintReceived:
    return ComplaintReceived(
        complaint_id=uuid4(),
        reference="TS-2026-000042",
        channel=Channel.hotline,
        received_at=NOW,
        title="发动机异响",
        description="冷车启动时异响明显。",
        product_model="YC6K",
    )


def test_triage_by_rules_raises_complaint_triaged_with_the_decision() -> None:
    complaint = received()
    triage = Triage.by_rules(complaint, event_id="evt-1", at=NOW)
    assert triage.events == [
        ComplaintTriaged(
            complaint_id=complaint.complaint_id,
            reference="TS-2026-000042",
            category=ComplaintCategory.product_quality,
            urgency=Urgency.important,
            owner_department="quality",
            decided_by="rules",
            rule_id="product-quality",
            ruleset_version=RULESET_VERSION,
            triaged_at=NOW,
        )
    ]


def test_triage_remembers_the_event_it_answered() -> None:
    triage = Triage.by_rules(received(), event_id="evt-7", at=NOW)
    assert triage.received_event_id == "evt-7"
    assert triage.decided_by == "rules"
    assert triage.triaged_at == NOW
