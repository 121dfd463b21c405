"""What happened to a case, inside rectification.

The public payloads other systems read live in ``tousu_common.events``; these
are the service's own facts, turned into rows by the repository: every
transition — a status change or not (first response, a wait, an action done,
a rectification opened) — becomes one ``case_history`` row saying who and when.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from tousu_rectification.domain.status import CaseStatus


@dataclass(frozen=True)
class HistoryRecorded:
    case_id: UUID
    action: str  # the public event type, or an internal one ("resolution.action_done")
    from_status: CaseStatus | None  # None when the case is opened
    to_status: CaseStatus
    at: datetime
    by: str
    detail: str | None = None
