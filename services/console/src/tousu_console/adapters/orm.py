"""The console's tables: sessions and each person's preferences (nothing else)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tousu_common.db import UTCDateTime, make_base

Base = make_base()


class SessionRow(Base):
    """One signed-in browser. ``key`` is the SHA-256 of the cookie's value."""

    __tablename__ = "sessions"

    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    subject: Mapped[str] = mapped_column(sa.String(200))
    name: Mapped[str] = mapped_column(sa.String(200))
    roles: Mapped[str] = mapped_column(sa.String(500))  # comma-separated
    department: Mapped[str | None] = mapped_column(sa.String(50))
    access_token: Mapped[str] = mapped_column(sa.Text)
    access_expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    refresh_token: Mapped[str | None] = mapped_column(sa.Text)
    id_token: Mapped[str] = mapped_column(sa.Text)
    csrf_token: Mapped[str] = mapped_column(sa.String(64))
    language: Mapped[str] = mapped_column(sa.String(5))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class PreferenceRow(Base):
    """What a person chose, kept across sessions: the language, the phone extension."""

    __tablename__ = "preferences"

    subject: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    language: Mapped[str] = mapped_column(sa.String(5))
    #: The agent's telephone extension: incoming calls to it pop up on their pages.
    extension: Mapped[str | None] = mapped_column(sa.String(20), index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SignInRow(Base):
    """A sign-in in flight (between the redirect to the provider and the callback)."""

    __tablename__ = "sign_ins"

    state: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    nonce: Mapped[str] = mapped_column(sa.String(128))
    code_verifier: Mapped[str] = mapped_column(sa.String(200))
    redirect_uri: Mapped[str] = mapped_column(sa.String(500))
    next_path: Mapped[str] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
