"""Every service's migrations build exactly the tables its models describe, and undo them."""

from __future__ import annotations

import asyncio
import importlib

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from tousu_common.db import Database
from tousu_common.devstack import SERVICES
from tousu_common.messaging.tables import messaging_metadata
from tousu_common.migrations import downgrade, upgrade

PACKAGES = [spec.package for spec in SERVICES]


@pytest.mark.integration
@pytest.mark.parametrize("package", PACKAGES)
async def test_database_upgraded_to_head_matches_the_models(
    package: str, database_url: str
) -> None:
    metadata = importlib.import_module(f"{package}.adapters.orm").Base.metadata

    def differences(connection: sa.Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, [metadata, messaging_metadata]))

    await asyncio.to_thread(upgrade, package, database_url)
    db = Database(database_url)
    try:
        async with db.engine.connect() as connection:
            assert await connection.run_sync(differences) == []
    finally:
        await db.dispose()


@pytest.mark.integration
@pytest.mark.parametrize("package", PACKAGES)
async def test_downgrade_to_base_removes_every_table(package: str, database_url: str) -> None:
    await asyncio.to_thread(upgrade, package, database_url)
    await asyncio.to_thread(downgrade, package, database_url)
    db = Database(database_url)
    try:
        async with db.engine.connect() as connection:
            tables = await connection.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
    finally:
        await db.dispose()
    assert tables == {"alembic_version"}
