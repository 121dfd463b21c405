"""Which notification each event calls for, without a database."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from tousu_common.events import (
    CaseOpened,
    Channel,
    ComplaintCategory,
    ComplaintReceived,
    ComplaintTriaged,
    Urgency,
)
from tousu_notify.domain.model import (
    Notification,
    NotificationKind,
    NotificationStatus,
    NotNotifiable,
)

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def received(language: str = "zh") -> ComplaintReceived:
    return ComplaintReceived(
        complaint_id=uuid4(),
        reference="TS-2026-000555",
        channel=Channel.web,
        received_at=NOW,
        title="发动机异响",
        description="客户王先生，电话 138 0000 0000，反映发动机异响。",
        language=language,
    )


def triaged(owner: str = "logistics") -> ComplaintTriaged:
    return ComplaintTriaged(
        complaint_id=uuid4(),
        reference="TS-2026-000556",
        category=ComplaintCategory.delivery,
        urgency=Urgency.important,
        owner_department=owner,
        decided_by="rules",
        rule_id="delivery",
        ruleset_version="2026.11-1",
        triaged_at=NOW,
    )


def test_received_complaint_calls_for_an_acknowledgement_to_the_customer() -> None:
    complaint = received()
    notification = Notification.for_event("evt-1", complaint, at=NOW)
    assert notification.kind is NotificationKind.acknowledgement
    assert notification.recipient == "customer"
    assert notification.complaint_id == complaint.complaint_id
    assert notification.reference == "TS-2026-000555"
    assert notification.event_id == "evt-1"
    assert notification.template == "complaint_acknowledgement"
    assert notification.status is NotificationStatus.recorded
    assert notification.created_at == NOW


def test_acknowledgement_is_in_the_language_the_customer_complained_in() -> None:
    assert Notification.for_event("evt-1", received(language="en"), at=NOW).language == "en"


def test_acknowledgement_carries_no_text_from_the_complaint() -> None:
    # The description may hold a name and a phone number; none of it is copied.
    notification = Notification.for_event("evt-1", received(), at=NOW)
    assert all("138" not in str(value) for value in vars(notification).values())


def test_triaged_complaint_calls_for_a_note_to_the_owner_department() -> None:
    notification = Notification.for_event("evt-2", triaged(owner="logistics"), at=NOW)
    assert notification.kind is NotificationKind.assigned_to_department
    assert notification.recipient == "department:logistics"
    assert notification.template == "department_assignment"
    assert notification.language == "zh"


def test_an_event_notify_does_not_handle_is_refused() -> None:
    opened = CaseOpened(
        complaint_id=uuid4(),
        reference="TS-2026-000557",
        case_id=uuid4(),
        status="awaiting_resolution",
        owner_department="csc",
        category=ComplaintCategory.other,
        urgency=Urgency.general,
        opened_at=NOW,
    )
    with pytest.raises(NotNotifiable):
        Notification.for_event("evt-3", opened, at=NOW)
