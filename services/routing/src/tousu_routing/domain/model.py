"""A complaint's triage as routing records it, and what deciding one means.

A complaint is triaged by the rules once; deciding raises
:class:`ComplaintTriaged` — the only place routing builds that event. (A
person's re-triage and reassignment come later and will be methods here.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from tousu_common.events import (
    ComplaintCategory,
    ComplaintReceived,
    ComplaintTriaged,
    EventPayload,
    Urgency,
)
from tousu_routing.domain.triage import triage

DECIDED_BY_RULES = "rules"


@dataclass
class Triage:
    complaint_id: UUID
    reference: str
    category: ComplaintCategory
    urgency: Urgency
    owner_department: str
    rule_id: str | None
    ruleset_version: str
    decided_by: str
    triaged_at: datetime
    received_event_id: str
    events: list[EventPayload] = field(default_factory=list, repr=False)

    @classmethod
    def by_rules(cls, received: ComplaintReceived, *, event_id: str, at: datetime) -> Triage:
        """Triage a just-received complaint with the rule table."""
        decision = triage(received.title, received.description, received.product_model)
        decided = cls(
            complaint_id=received.complaint_id,
            reference=received.reference,
            category=decision.category,
            urgency=decision.urgency,
            owner_department=decision.owner_department,
            rule_id=decision.rule_id,
            ruleset_version=decision.ruleset_version,
            decided_by=DECIDED_BY_RULES,
            triaged_at=at,
            received_event_id=event_id,
        )
        decided.events.append(
            ComplaintTriaged(
                complaint_id=decided.complaint_id,
                reference=decided.reference,
                category=decided.category,
                urgency=decided.urgency,
                owner_department=decided.owner_department,
                decided_by=decided.decided_by,
                rule_id=decided.rule_id,
                ruleset_version=decided.ruleset_version,
                triaged_at=decided.triaged_at,
            )
        )
        return decided
