"""A signed-in person's session: who, their tokens, and when it ends.

The cookie holds only a random id; the database keeps its SHA-256, so a copy
of the sessions table signs nobody in. Access tokens are short-lived and
renewed with the refresh token shortly before they expire.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

#: Renew the access token when less than this is left of it.
RENEW_MARGIN = timedelta(seconds=30)


def local_path(value: str | None) -> str:
    """Only a path on this site (never ``//elsewhere`` or ``https://…``): no open redirect."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


def session_key(cookie_value: str) -> str:
    return hashlib.sha256(cookie_value.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    key: str
    subject: str
    name: str
    roles: tuple[str, ...]
    department: str | None
    access_token: str
    access_expires_at: datetime
    refresh_token: str | None
    id_token: str
    csrf_token: str
    language: str
    created_at: datetime
    last_seen_at: datetime

    def expired(self, now: datetime, max_age: timedelta, idle: timedelta) -> bool:
        return now - self.created_at > max_age or now - self.last_seen_at > idle

    def needs_renewal(self, now: datetime) -> bool:
        return self.access_expires_at - now < RENEW_MARGIN

    def with_tokens(
        self, access_token: str, expires_at: datetime, refresh_token: str | None
    ) -> Session:
        return replace(
            self,
            access_token=access_token,
            access_expires_at=expires_at,
            refresh_token=refresh_token or self.refresh_token,
        )
