"""An answer built from several queries must not show a transaction half-committed:
read-only sessions see one snapshot (on SQLite and on PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa

from tousu_common.db import Database, new_metadata

pytestmark = pytest.mark.integration

metadata = new_metadata()
answers = sa.Table(
    "answers", metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("answer", sa.Text)
)
history = sa.Table(
    "history", metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("action", sa.Text)
)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    async with database.engine.begin() as connection:
        await connection.run_sync(metadata.drop_all)
        await connection.run_sync(metadata.create_all)
    yield database
    await database.dispose()


async def test_a_commit_between_two_queries_of_one_read_session_is_not_seen_half(
    db: Database,
) -> None:
    async with db.sessions() as reader:
        assert (await reader.scalars(sa.select(history.c.action))).all() == []
        # A writer commits the answer and its history line together, between the
        # reader's first and second query.
        async with db.transaction() as writer:
            await writer.execute(sa.insert(answers).values(id=1, answer="confirmed"))
            await writer.execute(sa.insert(history).values(id=1, action="feedback_confirmed"))
        seen = (await reader.scalars(sa.select(answers.c.answer))).all()
    assert seen == [], "the second query saw a commit the first one did not"
    async with db.sessions() as later:
        assert (await later.scalars(sa.select(answers.c.answer))).all() == ["confirmed"]
        assert (await later.scalars(sa.select(history.c.action))).all() == ["feedback_confirmed"]
