"""One unit of work for intake's writers: a transaction and the repositories on it.

Handlers never import SQLAlchemy; they get the session type, the repositories
and the "someone else wrote that row first" error from here::

    async with unit_of_work(db) as uow:
        complaint = await uow.complaints.get(complaint_id, for_update=True)
        complaint.withdraw(reason=reason, by=by, at=now)
        await uow.complaints.update(complaint)

A consumer handler gets the inbox's session and wraps it:
``IntakeUnitOfWork(session)``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tousu_common.db import Database
from tousu_intake.adapters.inbound_mail_repository import InboundMailRepository
from tousu_intake.adapters.repository import ComplaintRepository, IdempotencyStore
from tousu_intake.adapters.tracking_repository import ComplaintLookup, TrackingRepository

#: The session a handler is given (by :func:`unit_of_work` or the inbox).
Session = AsyncSession

#: Raised at flush or commit when a unique key was taken by a concurrent writer
#: (an idempotency key, an inbound mail's dedupe key): the caller replays the
#: winner's answer.
ConcurrentWrite = IntegrityError


class IntakeUnitOfWork:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.complaints = ComplaintRepository(session)
        self.idempotency = IdempotencyStore(session)
        self.tracking = TrackingRepository(session)
        self.lookup = ComplaintLookup(session)
        self.inbound_mail = InboundMailRepository(session)


@asynccontextmanager
async def unit_of_work(db: Database) -> AsyncIterator[IntakeUnitOfWork]:
    """A write transaction: committed when the block ends, rolled back if it raises."""
    async with db.transaction() as session:
        yield IntakeUnitOfWork(session)


__all__ = ["ConcurrentWrite", "IntakeUnitOfWork", "Session", "unit_of_work"]
