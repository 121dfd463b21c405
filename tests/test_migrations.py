"""Every service's migrations build exactly the tables its models describe, and undo them."""

from __future__ import annotations

import asyncio
import importlib
import multiprocessing
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from tousu_common.db import Database
from tousu_common.devstack import ALL_SERVICES
from tousu_common.messaging.tables import messaging_metadata
from tousu_common.migrations import downgrade, upgrade

PACKAGES = [spec.package for spec in ALL_SERVICES]


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


def _migrate_when_all_are_ready(barrier: Any, package: str, url: str) -> None:
    barrier.wait(60)
    upgrade(package, url)


@pytest.mark.integration
@pytest.mark.parametrize("package", ["tousu_routing", "tousu_notify"])
def test_replicas_migrating_one_database_at_once_all_succeed(
    package: str, database_url: str
) -> None:
    """Every replica's container runs ``tousu migrate`` before it starts (compose
    ``deploy.replicas``, Kubernetes initContainers), at the same moment: they must
    take turns, and the later ones find the database at head."""
    if database_url.startswith("sqlite"):
        pytest.skip("replicas share PostgreSQL; SQLite is one process per file")
    processes = multiprocessing.get_context("fork")
    barrier = processes.Barrier(3)
    runs = [
        processes.Process(target=_migrate_when_all_are_ready, args=(barrier, package, database_url))
        for _ in range(3)
    ]
    for run in runs:
        run.start()
    for run in runs:
        run.join(120)
    assert [run.exitcode for run in runs] == [0, 0, 0]
