"""complaint.triaged → a case awaiting resolution → case.opened, in one transaction."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from tousu_common.events import ComplaintTriaged, Event
from tousu_rectification.adapters.repository import CaseRepository
from tousu_rectification.domain.model import Case

log = logging.getLogger(__name__)


async def open_case_for_triaged_complaint(session: AsyncSession, event: Event) -> None:
    """Open one case per complaint; a complaint triaged again keeps the case it has."""
    triaged = event.data
    if not isinstance(triaged, ComplaintTriaged):
        raise TypeError(f"expected complaint.triaged, got {event.type}")
    cases = CaseRepository(session)
    if await cases.get_by_complaint(triaged.complaint_id) is not None:
        log.info("case already open for complaint, nothing to do")
        return
    case = Case.open(triaged, at=datetime.now(UTC))
    await cases.add(case)
    log.info(
        "case opened",
        extra={"case_id": str(case.case_id), "owner_department": case.owner_department},
    )
