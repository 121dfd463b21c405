"""Commands on subscriptions that change their state: enable, disable, delete.

``scope``: the one department the caller manages (a subscription filtered to
another department is not found), or None for all.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from tousu_common.db import Database
from tousu_common.domain_errors import NotFound
from tousu_notify.adapters.orm import SubscriptionRow
from tousu_notify.adapters.unit_of_work import NotifyUnitOfWork, unit_of_work
from tousu_notify.domain.webhooks import SubscriptionState


async def load_subscription(
    uow: NotifyUnitOfWork, subscription_id: UUID, scope: str | None
) -> SubscriptionRow:
    """The subscription, if the caller's scope covers it (404 otherwise)."""
    row = await uow.subscriptions.get(subscription_id)
    if row is None or (scope is not None and row.departments != [scope]):
        raise NotFound(f"subscription {subscription_id} does not exist")
    return row


async def enable_subscription(
    db: Database, subscription_id: UUID, *, scope: str | None
) -> SubscriptionRow:
    """Back on (also after automatic disabling), failure count reset."""
    async with unit_of_work(db) as uow:
        row = await load_subscription(uow, subscription_id, scope)
        SubscriptionState(row).enable(datetime.now(UTC))
    return row


async def disable_subscription(
    db: Database, subscription_id: UUID, *, scope: str | None, by: str
) -> SubscriptionRow:
    """Off by hand; its pending deliveries are cancelled."""
    now = datetime.now(UTC)
    async with unit_of_work(db) as uow:
        row = await load_subscription(uow, subscription_id, scope)
        SubscriptionState(row).disable(now, by=by)
        await uow.deliveries.cancel_open_for_subscription(row.id, "subscription disabled", now)
    return row


async def delete_subscription(db: Database, subscription_id: UUID, *, scope: str | None) -> None:
    """Gone; its pending deliveries are cancelled, its delivery log kept."""
    now = datetime.now(UTC)
    async with unit_of_work(db) as uow:
        row = await load_subscription(uow, subscription_id, scope)
        await uow.deliveries.cancel_open_for_subscription(row.id, "subscription deleted", now)
        await uow.subscriptions.delete(row)
