"""One unit of work: load a case, change it, save it — with its history rows and
its outbox events — in a single transaction, or not at all.

This is the way in for every writer of cases, including issue 5B's
rectification code::

    # in an API route
    async with unit_of_work(request.app.state.db, timezone=settings.timezone) as uow:
        case = await uow.cases.require(complaint_id)        # 404 if none
        authorize(principal, rule, owner_department=case.owner_department, action="...")
        ...  # change your own rows through uow.session
        await uow.publish(RectificationInstructed(...))    # your event, outbox
        case.rectification_opened(by=principal, at=now)    # may raise 409
        await uow.cases.save(case)                          # optimistic lock: 409 if stale

    # in a consumer handler (the inbox already opened the transaction)
    uow = CaseUnitOfWork(session)

Publish your own event *before* saving the case so that, when settling the
last rectification closes the case, ``complaint.closed`` follows it on the
topic. A :class:`StaleCase` (409) means a concurrent transition won; the
whole transaction rolls back, your own rows included.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession

from tousu_common.db import Database
from tousu_common.events import EventPayload
from tousu_rectification.adapters.rectification_repository import RectificationRepository
from tousu_rectification.adapters.repository import CaseRepository, StaleCase
from tousu_rectification.domain.model import DEFAULT_TIMEZONE

#: The transaction a unit of work runs in. Inbox handlers are called with the one
#: the inbox opened (its row and the handler's effects commit together); they name
#: it by this alias and wrap it in a :class:`CaseUnitOfWork`, so no SQL type
#: leaks out of the adapters.
Session = AsyncSession


class CaseUnitOfWork:
    """The repositories of one transaction: cases and rectifications (with their
    quality reports, evidence and document numbers)."""

    def __init__(self, session: AsyncSession, *, timezone: str = DEFAULT_TIMEZONE) -> None:
        self.session = session
        self.cases = CaseRepository(session, timezone=timezone)
        self.rectifications = RectificationRepository(session)

    async def publish(self, payload: EventPayload) -> None:
        """Stage a public event (any type rectification produces) in the outbox."""
        await self.cases.publish(payload)


@asynccontextmanager
async def unit_of_work(
    db: Database, *, timezone: str = DEFAULT_TIMEZONE
) -> AsyncIterator[CaseUnitOfWork]:
    """A write transaction: committed when the block ends, rolled back if it raises."""
    async with db.transaction() as session:
        yield CaseUnitOfWork(session, timezone=timezone)


__all__ = ["CaseUnitOfWork", "Session", "StaleCase", "unit_of_work"]
