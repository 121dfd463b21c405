"""``/v1/worklist``: my open actions, by role and department.

- CSC: service instructions to verify; product-quality cases still without an
  External Quality Information Report.
- A department (role department/quality/supply + its ``department`` claim):
  instructions and internal notices sent to it, to carry out and report done.
- Quality: reports not yet turned into notices; product rectifications to verify.
- Supply: supplier notices to dispatch, and dispatched ones to chase.
- Manager: every open rectification (to supervise, or waive).

``scope=due_soon`` keeps what is due within ``due_soon_days``; ``scope=overdue``
what is past its due date (in the configured timezone).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from tousu_common.auth import Principal, Staff
from tousu_common.events.catalog import RectificationKind
from tousu_common.paging import WHOLE_NUMBER
from tousu_rectification.adapters.rectification_repository import RectificationRepository
from tousu_rectification.domain.permissions import (
    as_staff,
    sees_cases_awaiting_report,
    sees_quality_reports,
    supervises,
)
from tousu_rectification.domain.rectification import (
    Action,
    Rectification,
    RectificationStatus,
)

router = APIRouter(tags=["worklist"])

S = RectificationStatus


class WorkItem(BaseModel):
    item_type: Literal["rectification", "quality_report", "case"]
    id: UUID
    number: str | None
    complaint_id: UUID
    reference: str
    action: str
    status: str
    kind: RectificationKind | None = None
    department: str | None = None
    supplier_name: str | None = None
    due_date: date | None = None
    overdue: bool = False


class Worklist(BaseModel):
    scope: str
    items: list[WorkItem]
    total: int
    limit: int
    offset: int


# What each status asks of whom: (status → action, which Action decides who).
NEXT_ACTION: dict[RectificationStatus, tuple[str, Action]] = {
    S.in_progress: ("mark_done", Action.mark_done),
    S.awaiting_dispatch: ("dispatch", Action.dispatch),
    S.awaiting_supplier: ("chase_supplier", Action.record_supplier_response),
    S.awaiting_verification: ("verify", Action.pass_verification),
}


def _sort_key(item: WorkItem) -> tuple[date, str]:
    return (item.due_date or date.max, item.number or "")


#: Where a case awaiting a quality report sorts: no due date, no number.
CASE_KEY: tuple[date, str] = (date.max, "")


def _mine(rect: Rectification, actor: Principal) -> str | None:
    action, decides = NEXT_ACTION[rect.status]
    if rect.may(decides, as_staff(actor)):
        return action
    if supervises(actor):
        return "supervise"
    return None


@router.get("/v1/worklist", response_model=Worklist, summary="My open actions")
async def worklist(
    request: Request,
    principal: Staff,
    scope: Literal["mine", "due_soon", "overdue"] = "mine",
    limit: Annotated[int, Query(ge=1, le=200), WHOLE_NUMBER] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000), WHOLE_NUMBER] = 0,
) -> Worklist:
    settings = request.app.state.settings
    actor = principal
    today = datetime.now(UTC).astimezone(ZoneInfo(settings.timezone)).date()
    items: list[WorkItem] = []
    async with request.app.state.db.sessions() as session:
        for rect in await RectificationRepository(session).open_ones():
            action = _mine(rect, actor)
            if action is None:
                continue
            items.append(
                WorkItem(
                    item_type="rectification",
                    id=rect.rectification_id,
                    number=rect.number,
                    complaint_id=rect.case.complaint_id,
                    reference=rect.case.reference,
                    action=action,
                    status=rect.status.value,
                    kind=rect.kind,
                    department=rect.department,
                    supplier_name=rect.supplier.name if rect.supplier else None,
                    due_date=rect.due_date,
                    overdue=rect.due_date < today,
                )
            )
        if sees_quality_reports(actor):
            for report in await RectificationRepository(session).reports_without_notices():
                items.append(
                    WorkItem(
                        item_type="quality_report",
                        id=report.report_id,
                        number=report.number,
                        complaint_id=report.case.complaint_id,
                        reference=report.case.reference,
                        action="issue_notices",
                        status="issued",
                    )
                )
        # The CSC's cases awaiting a quality report can be thousands. With no due
        # date and no number they all sort at CASE_KEY, in one block, oldest
        # first: after the items above that sort before or level with it (listed
        # first, the sort being stable), before those that sort after it. So they
        # are counted in SQL, and only the slice this page shows is loaded.
        awaiting = 0
        if scope == "mine" and sees_cases_awaiting_report(actor):
            awaiting = await RectificationRepository(session).count_cases_awaiting_report()
        if scope == "overdue":
            items = [i for i in items if i.due_date is not None and i.due_date < today]
        elif scope == "due_soon":
            horizon = today + timedelta(days=settings.due_soon_days)
            items = [i for i in items if i.due_date is not None and today <= i.due_date <= horizon]
        items.sort(key=_sort_key)
        before = [i for i in items if _sort_key(i) <= CASE_KEY]
        after = items[len(before) :]
        page = before[offset : offset + limit]
        start, stop = max(0, offset - len(before)), min(awaiting, offset + limit - len(before))
        if stop > start:
            cases = await RectificationRepository(session).cases_awaiting_report(
                offset=start, limit=stop - start
            )
            page += [
                WorkItem(
                    item_type="case",
                    id=case.case_id,
                    number=None,
                    complaint_id=case.complaint_id,
                    reference=case.reference,
                    action="issue_quality_report",
                    status=case.status,
                )
                for case in cases
            ]
        first = len(before) + awaiting  # where `after` starts in the whole list
        page += after[max(0, offset - first) : max(0, offset + limit - first)]
    return Worklist(
        scope=scope,
        items=page,
        total=len(before) + awaiting + len(after),
        limit=limit,
        offset=offset,
    )
