"""Routing's worklists find open complaints by index (migration 1505), so they
cost what is open, not every complaint ever received."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from tousu_common.db import Database
from tousu_common.migrations import upgrade
from tousu_routing.adapters.orm import ComplaintRow, TriageRow

pytestmark = pytest.mark.integration


async def test_complaints_have_an_index_on_open_and_status(database_url: str) -> None:
    await asyncio.to_thread(upgrade, "tousu_routing", database_url)
    db = Database(database_url)
    try:
        async with db.engine.connect() as connection:
            indexes = await connection.run_sync(
                lambda c: {
                    i["name"]: i["column_names"] for i in sa.inspect(c).get_indexes("complaints")
                }
            )
            plan = ""
            if connection.dialect.name == "sqlite":
                # The department worklist's filter, as worklists.py writes it.
                query = (
                    sa.select(sa.func.count())
                    .select_from(ComplaintRow)
                    .outerjoin(TriageRow, TriageRow.complaint_id == ComplaintRow.complaint_id)
                    .where(
                        ComplaintRow.open.is_(True),
                        ComplaintRow.status == "triaged",
                        TriageRow.owner_department == "quality",
                    )
                )
                compiled = query.compile(connection, compile_kwargs={"literal_binds": True})
                rows = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")
                plan = " ".join(str(row[-1]) for row in rows)
    finally:
        await db.dispose()
    assert indexes["ix_complaints_open_status"] == ["open", "status"]
    if plan:
        assert "ix_complaints_open_status" in plan, plan
