"""Alembic, the same way for every service.

Each service keeps its own ``migrations/`` package (its tables only, plus the
shared outbox/inbox created by its first revision). Its ``env.py`` is one call
to :func:`run_env`; :func:`upgrade` is what ``tousu migrate <service>`` and
the container's prestart step run — never app import.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection

from tousu_common.db import create_engine, is_sqlite
from tousu_common.messaging.tables import messaging_metadata


def alembic_config(package: str, url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", f"{package}:migrations")
    # ConfigParser interpolates '%', which URL-encoded passwords contain.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(package: str, url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(package, url), revision)


def downgrade(package: str, url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(package, url), revision)


def run_env(service_metadata: MetaData) -> None:
    """The whole body of a service's ``migrations/env.py``."""
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("sqlalchemy.url is not set")
    targets: Sequence[MetaData] = [service_metadata, messaging_metadata]
    if context.is_offline_mode():
        context.configure(
            url=url,
            target_metadata=targets,
            literal_binds=True,
            render_as_batch=is_sqlite(url),
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    asyncio.run(_run_online(url, targets))


async def _run_online(url: str, targets: Sequence[MetaData]) -> None:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_migrations, url, targets)
            await connection.commit()
    finally:
        await engine.dispose()


#: Held for the migration transaction on PostgreSQL (advisory locks are per database).
MIGRATION_LOCK_KEY = 0x70C5_0001


def _run_migrations(connection: Connection, url: str, targets: Sequence[MetaData]) -> None:
    if not is_sqlite(url):
        # Replicas each run `tousu migrate` as they start: one migrates, the others
        # wait here, then read the version it committed and find nothing to do.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    context.configure(
        connection=connection,
        target_metadata=targets,
        render_as_batch=is_sqlite(url),
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
