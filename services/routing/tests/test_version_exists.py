"""A rule-set or calendar version another writer stored first is refused as
:class:`VersionExists` — the 409 the routers answered before the SQL moved out of
them — and nothing of the losing change is written."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tousu_common.db import Database
from tousu_common.errors import Conflict
from tousu_routing.adapters.orm import CalendarVersionRow
from tousu_routing.adapters.unit_of_work import VersionExists, new_version, reading
from tousu_routing.domain.company_days import CalendarDocument


def _version_one(note: str) -> CalendarVersionRow:
    return CalendarVersionRow(
        version=1,
        document=CalendarDocument().model_dump(mode="json"),
        created_at=datetime(2026, 11, 23, tzinfo=UTC),
        created_by="tester",
        note=note,
    )


async def test_a_version_stored_first_elsewhere_is_a_conflict(db: Database) -> None:
    async with new_version(db) as uow:
        await uow.calendars.add(CalendarDocument(), by="first", note="first")

    with pytest.raises(VersionExists) as refused:
        async with new_version(db) as uow:
            # What a writer that read "no version yet" a moment ago would insert.
            uow.session.add(_version_one("second"))
            await uow.session.flush()
    assert isinstance(refused.value, Conflict)
    assert refused.value.message == "another change was saved at the same moment; try again"

    async with reading(db) as uow:
        rows, total = await uow.calendars.list(10, 0)
    assert total == 1 and rows[0].note == "first"
