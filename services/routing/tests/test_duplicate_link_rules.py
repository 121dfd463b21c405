"""The domain's rules for a link made by hand, no database: what may be linked to
what, and that a link does what the rules' link does (status, clocks, event)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tousu_common.errors import Conflict
from tousu_common.events.catalog import DuplicateLinked, Urgency
from tousu_routing.domain.calendar import BusinessCalendar
from tousu_routing.domain.model import DECIDED_BY_RULES, Complaint, Status
from tousu_routing.domain.sla import SlaPolicy

from .conftest import MONDAY_10, received

POLICY = SlaPolicy.from_table(BusinessCalendar())
NOW = MONDAY_10 + timedelta(hours=1)


def complaint(reference: str = "TS-2027-000001") -> Complaint:
    made = Complaint.received(received(reference=reference), event_id="e-" + reference)
    made.start_clocks(POLICY, Urgency.general)
    return made


def refusal(new: Complaint, original: Complaint) -> str:
    before = (
        new.status,
        new.duplicate_of,
        list(new.events),
        [c.state for c in new.clocks.values()],
    )
    with pytest.raises(Conflict) as caught:
        new.link_by_person(original, by="csc-1", reason=None, now=NOW)
    assert (
        new.status,
        new.duplicate_of,
        list(new.events),
        [c.state for c in new.clocks.values()],
    ) == before
    return caught.value.fields[0]["field"]


def test_a_link_by_hand_is_the_rules_link_with_a_person_and_a_reason() -> None:
    original, new = complaint(), complaint("TS-2027-000002")
    by_rules = complaint("TS-2027-000003")
    by_rules.link_duplicate(original, by=DECIDED_BY_RULES, now=NOW)
    new.link_by_person(original, by="csc-1", reason="同一台车", now=NOW)
    for linked in (new, by_rules):
        assert linked.status is Status.duplicate
        assert linked.duplicate_of == original.complaint_id
        assert {c.state.value for c in linked.clocks.values()} == {"cancelled"}
    [event] = new.events
    assert isinstance(event, DuplicateLinked)
    assert (event.by, event.reason, event.linked_at) == ("csc-1", "同一台车", NOW)
    assert event.duplicate_of_reference == original.reference
    assert by_rules.events[0].reason is None  # type: ignore[attr-defined]


def test_what_a_person_may_not_link() -> None:
    original, new = complaint(), complaint("TS-2027-000002")
    assert refusal(new, new) == "original_id"
    duplicate = complaint("TS-2027-000003")
    duplicate.link_duplicate(original, by=DECIDED_BY_RULES, now=NOW)
    assert refusal(new, duplicate) == "original_id"
    assert refusal(duplicate, original) == "complaint_id"  # already linked
    closed = complaint("TS-2027-000004")
    closed.close(NOW)
    assert refusal(new, closed) == "original_id"
    assert refusal(closed, original) == "complaint_id"
