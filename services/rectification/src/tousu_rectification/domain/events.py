"""What happened to a case, inside rectification.

The public payloads other systems read live in ``tousu_common.events``; these
are the service's own facts, turned into rows by the repository (every status
change becomes a ``case_history`` row).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from tousu_rectification.domain.status import CaseStatus


@dataclass(frozen=True)
class StatusChanged:
    case_id: UUID
    from_status: CaseStatus | None  # None when the case is opened
    to_status: CaseStatus
    at: datetime
    by: str
