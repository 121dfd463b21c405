"""Loading and saving notifications; the only module here that writes SQL."""

from __future__ import annotations

from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tousu_notify.adapters.orm import NotificationRow
from tousu_notify.domain.model import Notification, NotificationKind, NotificationStatus


class NotificationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, notification: Notification) -> None:
        self.session.add(
            NotificationRow(
                id=notification.id,
                complaint_id=notification.complaint_id,
                event_id=notification.event_id,
                reference=notification.reference,
                kind=notification.kind.value,
                recipient=notification.recipient,
                template=notification.template,
                language=notification.language,
                status=notification.status.value,
                created_at=notification.created_at,
            )
        )
        await self.session.flush()

    async def exists(self, complaint_id: UUID, kind: NotificationKind, recipient: str) -> bool:
        """Whether this complaint already has a notification of ``kind`` for ``recipient``."""
        found = await self.session.scalar(
            sa.select(NotificationRow.id).where(
                NotificationRow.complaint_id == complaint_id,
                NotificationRow.kind == kind.value,
                NotificationRow.recipient == recipient,
            )
        )
        return found is not None

    async def for_complaint(self, complaint_id: UUID) -> list[Notification]:
        """A complaint's notifications, oldest first."""
        rows = await self.session.scalars(
            sa.select(NotificationRow)
            .where(NotificationRow.complaint_id == complaint_id)
            .order_by(NotificationRow.created_at, NotificationRow.id)
        )
        return [
            Notification(
                id=row.id,
                complaint_id=row.complaint_id,
                event_id=row.event_id,
                reference=row.reference,
                kind=NotificationKind(row.kind),
                recipient=row.recipient,
                template=row.template,
                language=row.language,
                status=NotificationStatus(row.status),
                created_at=row.created_at,
            )
            for row in rows
        ]
