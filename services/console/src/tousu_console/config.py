"""Console settings: environment variables prefixed ``TOUSU_CONSOLE_``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from tousu_common.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TOUSU_CONSOLE_")

    service_name: str = "console"
    database_url: str = "sqlite+aiosqlite:///var/console.db"
    #: Where people's browsers reach the console (the sign-in comes back here).
    public_url: str = "http://127.0.0.1:8005"

    # -- sign-in: the OpenID provider's public client for people (PKCE) ---------------
    signin_client_id: str = "tousu-workbench"
    #: Only if the provider registers the console as a confidential client.
    signin_client_secret: SecretStr | None = None
    signin_scope: str = "openid profile tousu"
    #: Where the console reads the provider's metadata when the issuer's address is
    #: the browsers' one and not reachable from here (compose: http://keycloak:8080/...);
    #: codes are then exchanged at ``oidc_token_url`` and keys read at ``oidc_jwks_url``
    #: when those are set.
    oidc_discovery_url: str | None = None

    # -- sessions -----------------------------------------------------------------------
    #: A session ends this long after sign-in, whatever happens.
    session_max_hours: float = Field(default=12, gt=0, le=24 * 7)
    #: ... or after this long without a request.
    session_idle_minutes: float = Field(default=60, gt=0, le=24 * 60)
    #: Secure cookies; default: everywhere but dev.
    cookie_secure: bool | None = None
    default_language: Literal["zh", "en"] = "zh"

    # -- calls to the four services -------------------------------------------------------
    #: A page waits this long for a service before it says "not reachable": long
    #: enough for a service on a busy machine (a gateway's usual 30 s), short enough
    #: that a hung one is reported rather than a spinner left turning.
    api_timeout_s: float = Field(default=30, gt=0, le=120)
    #: Forms with files (a supplier's 8D evidence) pass through: as much as the
    #: rectification service takes in one request (its own http_max_body_bytes).
    http_max_body_bytes: int = Field(default=12 * 1024 * 1024, ge=1024)

    # -- live pages (Server-Sent Events) ---------------------------------------------------
    #: Events kept in memory for reconnects that send ``Last-Event-ID``.
    live_replay_events: int = Field(default=2000, ge=0, le=100_000)
    #: A comment line this often keeps proxies from closing an idle stream.
    live_heartbeat_s: float = Field(default=15, gt=0, le=300)
    #: Open streams at most (each holds a queue).
    live_max_streams: int = Field(default=500, ge=1, le=100_000)

    # The telephony (CTI) webhook, POST /v1/cti/calls, takes a bearer token with the
    # role ``gateway`` (like intake's fax gateway): nothing to set here.

    @field_validator("public_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def secure_cookies(self) -> bool:
        return self.environment != "dev" if self.cookie_secure is None else self.cookie_secure
