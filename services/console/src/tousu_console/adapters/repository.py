"""The only SQL of the console: sessions, sign-ins in flight, preferences."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from tousu_common.db import Database
from tousu_console.adapters.orm import PreferenceRow, SessionRow, SignInRow
from tousu_console.domain.sessions import Session

#: A sign-in not finished within this is forgotten (the provider's page timed out).
SIGN_IN_TTL = timedelta(minutes=15)


def _session(row: SessionRow) -> Session:
    return Session(
        key=row.key,
        subject=row.subject,
        name=row.name,
        roles=tuple(r for r in row.roles.split(",") if r),
        department=row.department,
        access_token=row.access_token,
        access_expires_at=row.access_expires_at,
        refresh_token=row.refresh_token,
        id_token=row.id_token,
        csrf_token=row.csrf_token,
        language=row.language,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
    )


class SessionStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, session: Session) -> None:
        async with self.db.transaction() as tx:
            tx.add(
                SessionRow(
                    key=session.key,
                    subject=session.subject,
                    name=session.name,
                    roles=",".join(session.roles),
                    department=session.department,
                    access_token=session.access_token,
                    access_expires_at=session.access_expires_at,
                    refresh_token=session.refresh_token,
                    id_token=session.id_token,
                    csrf_token=session.csrf_token,
                    language=session.language,
                    created_at=session.created_at,
                    last_seen_at=session.last_seen_at,
                )
            )

    async def get(self, key: str) -> Session | None:
        async with self.db.transaction() as tx:
            row = await tx.get(SessionRow, key)
            return _session(row) if row else None

    async def touch(self, session: Session, now: datetime) -> None:
        """Record activity (at most once a minute, to keep reads cheap)."""
        if now - session.last_seen_at < timedelta(minutes=1):
            return
        async with self.db.transaction() as tx:
            await tx.execute(
                sa.update(SessionRow).where(SessionRow.key == session.key).values(last_seen_at=now)
            )

    async def save_tokens(self, session: Session) -> None:
        async with self.db.transaction() as tx:
            await tx.execute(
                sa.update(SessionRow)
                .where(SessionRow.key == session.key)
                .values(
                    access_token=session.access_token,
                    access_expires_at=session.access_expires_at,
                    refresh_token=session.refresh_token,
                )
            )

    async def remove(self, key: str) -> None:
        async with self.db.transaction() as tx:
            await tx.execute(sa.delete(SessionRow).where(SessionRow.key == key))

    async def remove_ended(self, idle_before: datetime, created_before: datetime) -> int:
        """Forget sessions idle since ``idle_before`` or begun before ``created_before``,
        and sign-ins never finished."""
        async with self.db.transaction() as tx:
            result = await tx.execute(
                sa.delete(SessionRow).where(
                    sa.or_(
                        SessionRow.last_seen_at < idle_before,
                        SessionRow.created_at < created_before,
                    )
                )
            )
            await tx.execute(sa.delete(SignInRow).where(SignInRow.created_at < idle_before))
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    # -- sign-ins in flight --------------------------------------------------------------

    async def begin_sign_in(
        self,
        state: str,
        nonce: str,
        code_verifier: str,
        redirect_uri: str,
        next_path: str,
        now: datetime,
    ) -> None:
        async with self.db.transaction() as tx:
            await tx.execute(sa.delete(SignInRow).where(SignInRow.created_at < now - SIGN_IN_TTL))
            tx.add(
                SignInRow(
                    state=state,
                    nonce=nonce,
                    code_verifier=code_verifier,
                    redirect_uri=redirect_uri,
                    next_path=next_path,
                    created_at=now,
                )
            )

    async def take_sign_in(self, state: str, now: datetime) -> SignInRow | None:
        """The sign-in with this ``state``, removed (a callback is used once)."""
        async with self.db.transaction() as tx:
            row = await tx.get(SignInRow, state)
            if row is None:
                return None
            await tx.delete(row)
            return row if now - row.created_at <= SIGN_IN_TTL else None

    # -- preferences ---------------------------------------------------------------------

    async def language_of(self, subject: str) -> str | None:
        async with self.db.transaction() as tx:
            row = await tx.get(PreferenceRow, subject)
            return row.language if row else None

    async def set_language(self, session: Session, language: str, now: datetime) -> None:
        async with self.db.transaction() as tx:
            await _upsert_preference(tx, session.subject, language, now)
            await tx.execute(
                sa.update(SessionRow)
                .where(SessionRow.subject == session.subject)
                .values(language=language)
            )

    async def extension_of(self, subject: str) -> str | None:
        async with self.db.transaction() as tx:
            row = await tx.get(PreferenceRow, subject)
            return row.extension if row else None

    async def set_profile(
        self, session: Session, language: str, extension: str | None, now: datetime
    ) -> None:
        """The person's language and phone extension (``None``: no extension). An
        extension is one desk: whoever set it before no longer gets its calls."""
        async with self.db.transaction() as tx:
            await _upsert_preference(tx, session.subject, language, now)
            if extension is not None:
                await tx.execute(
                    sa.update(PreferenceRow)
                    .where(
                        PreferenceRow.extension == extension,
                        PreferenceRow.subject != session.subject,
                    )
                    .values(extension=None, updated_at=now)
                )
            await tx.execute(
                sa.update(PreferenceRow)
                .where(PreferenceRow.subject == session.subject)
                .values(extension=extension)
            )
            await tx.execute(
                sa.update(SessionRow)
                .where(SessionRow.subject == session.subject)
                .values(language=language)
            )

    async def subjects_at_extension(self, extension: str) -> list[str]:
        """Who answers this extension (normally one person)."""
        async with self.db.transaction() as tx:
            rows = await tx.scalars(
                sa.select(PreferenceRow.subject).where(PreferenceRow.extension == extension)
            )
            return sorted(rows.all())


async def _upsert_preference(tx: AsyncSession, subject: str, language: str, now: datetime) -> None:
    values = {"subject": subject, "language": language, "updated_at": now}
    dialect = tx.bind.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(PreferenceRow).values(**values)
    await tx.execute(
        statement.on_conflict_do_update(
            index_elements=[PreferenceRow.subject],
            set_={"language": language, "updated_at": now},
        )
    )
