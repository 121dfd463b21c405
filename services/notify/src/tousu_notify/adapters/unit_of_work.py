"""One unit of work: load deliveries, subscriptions and facts, change them through
their aggregates, stage notify's events in the outbox — one transaction, or
nothing.

    # in a handler called by the API or the worker
    async with unit_of_work(db) as uow:
        row = await uow.deliveries.get(delivery_id)
        Delivery(row).retry(now, by=principal.subject)

    # in a consumer handler (the inbox already opened the transaction)
    uow = NotifyUnitOfWork(session)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession

from tousu_common.db import Database
from tousu_common.events import EventPayload, new_event
from tousu_common.messaging.outbox import add_event
from tousu_notify.adapters.repository import (
    DeliveryRepository,
    FactsRepository,
    SubscriptionRepository,
)

#: The session the inbox hands to consumer handlers (named here, so handlers
#: need no SQL library of their own).
Session = AsyncSession

SOURCE = "tousu/notify"


class NotifyUnitOfWork:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.deliveries = DeliveryRepository(session)
        self.subscriptions = SubscriptionRepository(session)
        self.facts = FactsRepository(session)

    async def publish(self, payload: EventPayload) -> None:
        """Stage one of notify's events in the outbox, in this transaction (without an
        autoflush: a recorded batch's deliveries go together at the commit)."""
        await add_event(self.session, new_event(payload, source=SOURCE))


@asynccontextmanager
async def unit_of_work(db: Database) -> AsyncIterator[NotifyUnitOfWork]:
    """A write transaction: committed when the block ends, rolled back if it raises."""
    async with db.transaction() as session:
        yield NotifyUnitOfWork(session)


@asynccontextmanager
async def reading(db: Database) -> AsyncIterator[NotifyUnitOfWork]:
    """A read-only session with the same repositories (nothing is committed)."""
    async with db.sessions() as session:
        yield NotifyUnitOfWork(session)


__all__ = ["NotifyUnitOfWork", "Session", "reading", "unit_of_work"]
