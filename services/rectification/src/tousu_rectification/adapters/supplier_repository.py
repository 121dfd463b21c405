"""The supplier register's rows: the only module that writes SQL for suppliers.

The router (``api/suppliers.py``) parses and renders; what a supplier is and
when a code is taken is asked of this repository, in the caller's session.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tousu_rectification.adapters.rectification_orm import RectificationRow, SupplierRow


class SupplierRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def code_taken(self, code: str, but: UUID | None = None) -> bool:
        """Whether another supplier (not ``but``) already uses the code."""
        query = sa.select(SupplierRow.supplier_id).where(SupplierRow.code == code)
        if but is not None:
            query = query.where(SupplierRow.supplier_id != but)
        return (await self.session.scalar(query)) is not None

    async def add(self, *, at: datetime, **fields: Any) -> SupplierRow:
        """A new, active supplier at version 1."""
        row = SupplierRow(
            supplier_id=uuid4(), active=True, created_at=at, updated_at=at, version=1, **fields
        )
        self.session.add(row)
        return row

    async def listed(self, *, include_inactive: bool) -> list[SupplierRow]:
        """Every supplier (the active ones only unless asked), by code."""
        query = sa.select(SupplierRow)
        if not include_inactive:
            query = query.where(SupplierRow.active.is_(True))
        return list(await self.session.scalars(query.order_by(SupplierRow.code)))

    async def get(self, supplier_id: UUID) -> SupplierRow | None:
        return await self.session.get(SupplierRow, supplier_id)

    async def update(
        self, supplier_id: UUID, *, version: int, at: datetime, **fields: Any
    ) -> int | None:
        """Write the fields if the supplier is still at ``version``; the new version,
        or None when someone changed it since (optimistic lock)."""
        return await self.session.scalar(
            sa.update(SupplierRow)
            .where(SupplierRow.supplier_id == supplier_id, SupplierRow.version == version)
            .values(**fields, updated_at=at, version=version + 1)
            .returning(SupplierRow.version)
            .execution_options(synchronize_session=False)
        )

    async def remove(self, row: SupplierRow, *, at: datetime) -> None:
        """Delete a supplier no notice refers to; deactivate one that notices do."""
        used = await self.session.scalar(
            sa.select(sa.func.count())
            .select_from(RectificationRow)
            .where(RectificationRow.supplier_id == row.supplier_id)
        )
        if used:
            row.active = False
            row.version += 1
            row.updated_at = at
        else:
            await self.session.delete(row)
