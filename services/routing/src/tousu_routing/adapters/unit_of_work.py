"""One unit of work: the repositories of one transaction, so a handler loads,
changes and saves complaints, clocks, rules and calendars — with their outbox
events — together or not at all.

    # a command from the API (handlers/commands.py)
    async with unit_of_work(db) as uow:
        complaint = await commands.reassign(uow, routing, complaint_id, ...)

    # an incoming event (the inbox already opened the transaction)
    uow = RoutingUnitOfWork(session)

Only adapters look inside a :data:`Session`; handlers pass it on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tousu_common.db import Database
from tousu_routing.adapters.repository import (
    CalendarRepository,
    ClockRepository,
    ComplaintRepository,
    RuleSetRepository,
    VersionExists,
)
from tousu_routing.adapters.worklists import Worklists

#: What the inbox hands an event handler: one open transaction.
Session = AsyncSession


class RoutingUnitOfWork:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.complaints = ComplaintRepository(session)
        self.rules = RuleSetRepository(session)
        self.calendars = CalendarRepository(session)
        self.clocks = ClockRepository(session)
        self.worklists = Worklists(session)


@asynccontextmanager
async def unit_of_work(db: Database) -> AsyncIterator[RoutingUnitOfWork]:
    """A write transaction: committed when the block ends, rolled back if it raises."""
    async with db.transaction() as session:
        yield RoutingUnitOfWork(session)


@asynccontextmanager
async def new_version(db: Database) -> AsyncIterator[RoutingUnitOfWork]:
    """A unit of work that stores the next rule-set or calendar version: when another
    writer stored that version first (its insert or our commit refused),
    :class:`VersionExists` (a 409) and nothing is written."""
    try:
        async with unit_of_work(db) as uow:
            yield uow
    except IntegrityError as exc:
        raise VersionExists() from exc


@asynccontextmanager
async def reading(db: Database) -> AsyncIterator[RoutingUnitOfWork]:
    """A read-only session (one snapshot): never write through it."""
    async with db.sessions() as session:
        yield RoutingUnitOfWork(session)


__all__ = [
    "RoutingUnitOfWork",
    "Session",
    "VersionExists",
    "new_version",
    "reading",
    "unit_of_work",
]
