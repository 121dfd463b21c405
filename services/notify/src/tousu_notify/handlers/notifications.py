"""Commands on deliveries from the API: an operator's retry."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from tousu_common.db import Database
from tousu_common.domain_errors import NotFound
from tousu_notify.adapters.orm import DeliveryRow
from tousu_notify.adapters.unit_of_work import unit_of_work
from tousu_notify.domain.delivery import Delivery


async def retry_delivery(db: Database, notification_id: UUID, *, by: str) -> DeliveryRow:
    """Send a failed or skipped delivery again from its first attempt (a 409 otherwise);
    the worker wakes once it commits."""
    async with unit_of_work(db) as uow:
        row = await uow.deliveries.get(notification_id)
        if row is None:
            raise NotFound(f"notification {notification_id} does not exist")
        Delivery(row).retry(datetime.now(UTC), by=by)
        uow.deliveries.mark_added()
    return row
