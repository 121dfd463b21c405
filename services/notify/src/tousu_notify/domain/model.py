"""Which notification an event calls for, decided without sending anything.

For now a notification is only *recorded* (status ``recorded``); sending it
on a channel comes later. Events carry no personal data, so the customer's
acknowledgement names the recipient ``customer`` and the address is fetched
from intake when it is actually sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID, uuid4

from tousu_common.events import ComplaintReceived, ComplaintTriaged, EventPayload

CUSTOMER = "customer"
# Department staff read Chinese; customers get the language they complained in.
STAFF_LANGUAGE = "zh"


class NotificationKind(StrEnum):
    acknowledgement = "acknowledgement"  # 受理回执: "we have your complaint, reference …"
    assigned_to_department = "assigned_to_department"


class NotificationStatus(StrEnum):
    recorded = "recorded"


TEMPLATES: dict[NotificationKind, str] = {
    NotificationKind.acknowledgement: "complaint_acknowledgement",
    NotificationKind.assigned_to_department: "department_assignment",
}


class NotNotifiable(TypeError):
    """The event is not one that notify sends anything for."""


@dataclass(frozen=True)
class Notification:
    id: UUID
    complaint_id: UUID
    event_id: str
    reference: str
    kind: NotificationKind
    recipient: str
    template: str
    language: str
    status: NotificationStatus
    created_at: datetime

    @classmethod
    def for_event(cls, event_id: str, payload: EventPayload, *, at: datetime) -> Notification:
        """The one notification ``payload`` calls for."""
        match payload:
            case ComplaintReceived(reference=reference, language=language):
                kind, recipient = NotificationKind.acknowledgement, CUSTOMER
            case ComplaintTriaged(reference=reference, owner_department=department):
                kind, recipient = (
                    NotificationKind.assigned_to_department,
                    department_recipient(department),
                )
                language = STAFF_LANGUAGE
            case _:
                raise NotNotifiable(f"no notification for {type(payload).__name__}")
        return cls(
            id=uuid4(),
            complaint_id=payload.complaint_id,
            event_id=event_id,
            reference=reference,
            kind=kind,
            recipient=recipient,
            template=TEMPLATES[kind],
            language=language,
            status=NotificationStatus.recorded,
            created_at=at,
        )


def department_recipient(department: str) -> str:
    return f"department:{department}"
