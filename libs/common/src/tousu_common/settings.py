"""Settings every service shares, read from the environment.

Each service subclasses :class:`ServiceSettings` with its own prefix
(``TOUSU_INTAKE_``, ``TOUSU_ROUTING_``, ...). Values that are the same for the
whole deployment (broker address, JWT secret) may instead be given once with
the bare ``TOUSU_`` prefix; a service-prefixed variable wins over it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

SHARED_PREFIX = "TOUSU_"

OIDC_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    service_name: str = "tousu"
    environment: Literal["dev", "test", "prod"] = "dev"
    log_level: str = "INFO"
    timezone: str = "Asia/Shanghai"

    database_url: str = "sqlite+aiosqlite:///var/tousu.db"
    database_pool_size: int = Field(default=10, ge=1, le=200)

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    # 50 ms: +5 ms p50 end to end against 20 ms, half the idle CPU of a dozen
    # consumers and the broker (bench/RESULTS.md, "fetch_max_wait_ms")
    kafka_fetch_max_wait_ms: int = Field(default=50, ge=1, le=10_000)
    # A consumer that has fetched nothing for kafka_idle_after_s waits this long per
    # fetch instead (the broker answers a waiting fetch as soon as a record comes,
    # up to 500 ms), and goes back to kafka_fetch_max_wait_ms with the next record:
    # an idle stack then sends a tenth of the fetches (issue 17, bench/RESULTS.md).
    kafka_idle_fetch_max_wait_ms: int = Field(default=500, ge=1, le=10_000)
    kafka_idle_after_s: float = Field(default=2.0, ge=0)
    kafka_topic_partitions: int = Field(default=6, ge=1, le=1000)
    kafka_replication_factor: int = Field(default=1, ge=1, le=10)
    kafka_request_timeout_ms: int = Field(default=10_000, ge=100)

    jwt_secret: SecretStr
    jwt_issuer: str = "tousu"
    jwt_algorithm: Literal["HS256"] = "HS256"

    # OpenID Connect (tousu_common/oidc.py). With an issuer set, only access
    # tokens that provider signed are accepted (keys by JWKS) and services get
    # their own tokens from it (client credentials); without one, HS256 tokens
    # signed with jwt_secret, for dev and test only (refused in prod).
    oidc_issuer: str | None = None
    oidc_audience: str = "tousu"
    oidc_jwks_url: str | None = None  # default: jwks_uri of the issuer's discovery document
    oidc_algorithms: list[Literal[OIDC_ALGORITHMS]] = Field(
        default_factory=lambda: ["RS256", "ES256", "PS256"], min_length=1
    )
    oidc_leeway_s: float = Field(default=30, ge=0, le=300)
    # Where roles and the department are: dotted claim paths (Keycloak:
    # realm_access.roles or resource_access.<client>.roles; Entra: roles), and a
    # group claim whose values map to roles (group name or id -> role).
    oidc_role_claims: list[str] = Field(default_factory=lambda: ["roles", "realm_access.roles"])
    oidc_groups_claim: str = "groups"
    oidc_group_roles: dict[str, str] = Field(default_factory=dict)
    oidc_department_claim: str = "department"
    # An unknown key id refreshes the JWKS at most this often (readiness too);
    # keys older than max_age are refreshed too, so a removed key is forgotten.
    oidc_jwks_min_refresh_s: float = Field(default=30, ge=0.1)
    oidc_jwks_max_age_s: float = Field(default=300, ge=1)
    oidc_http_timeout_s: float = Field(default=3, gt=0, le=60)
    # This service's client at the provider (client credentials for its
    # `service` token); the id defaults to tousu-<service_name>.
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_token_url: str | None = None  # default: token_endpoint of the discovery document
    oidc_resource: str | None = None  # RFC 8707 resource indicator, where the provider wants one
    oidc_token_renew_s: float = Field(default=60, ge=0)

    http_max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # After SIGTERM/SIGINT the process is gone within this many seconds, whatever
    # the broker, database or a mail peer is doing (tousu_common.lifecycle). Keep
    # it a few seconds above uvicorn's --timeout-graceful-shutdown.
    shutdown_deadline_s: float = Field(default=20.0, gt=0)

    # /metrics is open like /healthz (no personal data in it) unless a token is
    # set; then scrapers send ``Authorization: Bearer <metrics_token>``.
    metrics_token: SecretStr | None = None
    # Trace ids are always made and propagated (traceparent, ce_traceparent,
    # logs); the exporter only decides whether spans leave the process.
    tracing_exporter: Literal["none", "console", "otlp"] = "none"
    tracing_otlp_endpoint: str | None = None
    tracing_sample_ratio: float = Field(default=1.0, ge=0, le=1)

    # Where this service keeps files (attachments, raw mail, rendered documents).
    data_dir: Path = Path("var/data")
    # The address people outside reach this service's own pages at (tracking
    # and supplier links in e-mails). Defaults to the service's local address.
    public_url: str = ""
    # Other services' APIs, for the few reads that events deliberately do not
    # carry (contact details for notify, for instance). Shared: set once with
    # the bare prefix (TOUSU_INTAKE_URL=...).
    intake_url: str = "http://127.0.0.1:8001"
    routing_url: str = "http://127.0.0.1:8002"
    rectification_url: str = "http://127.0.0.1:8003"
    notify_url: str = "http://127.0.0.1:8004"

    outbox_batch_size: int = Field(default=200, ge=1, le=10_000)
    # A commit in this process wakes the relay at once; the poll is for rows other
    # processes left behind (a replica that died before publishing, a tool).
    outbox_poll_interval_s: float = Field(default=5.0, gt=0)
    # After a commit wakes the relay it waits this long, so that under load one
    # batch carries many events instead of each commit costing a publish round.
    outbox_linger_s: float = Field(default=0.005, ge=0, le=1)
    # On SQLite the relay marks what it sent in the transaction that reads its next
    # batch, or after this long with nothing more to send: one transaction per round
    # instead of two. A crash in between publishes those events again (the inboxes
    # skip them), as a crash between a send and its mark always could.
    outbox_mark_delay_s: float = Field(default=0.1, ge=0, le=60)
    # How often the relay checks that the broker still knows this service (its
    # marker topic). One that forgot (the local memory-only broker after a
    # restart) gets every retained event again, in order; consumers' inboxes
    # drop what they already applied. Events sent in the moment between a
    # restart and this check may arrive once ahead of that history.
    outbox_topic_check_s: float = Field(default=2.0, gt=0)
    outbox_retention_hours: float = Field(default=72, ge=0)

    # How often an idle consumer checks that the broker's log still reaches its
    # position. The local memory-only broker restarts empty and, unlike Apache
    # Kafka, answers a fetch past the log's end with nothing instead of "offset
    # out of range": a consumer (or a commit) still at the old position would
    # silently skip every event until the new log grew past it. It reads the
    # partition again from the start; the inbox drops what it already applied.
    consumer_position_check_s: float = Field(default=2.0, gt=0)
    consumer_max_attempts: int = Field(default=5, ge=1, le=100)
    consumer_backoff_base_s: float = Field(default=0.2, ge=0)
    consumer_backoff_max_s: float = Field(default=10.0, ge=0)
    consumer_batch_size: int = Field(default=500, ge=1)
    # Events of one partition applied per transaction (group commit); a short
    # group keeps SQLite's single write lock free for the API between groups.
    consumer_group_commit: int = Field(default=50, ge=1, le=1000)
    # A consumer commits its offsets at most this often while records keep coming
    # (and at once when a fetch brings nothing): under steady traffic most fetches
    # bring an event or two, and an offset commit per fetch was a broker round trip
    # per event. Offsets still follow the database commit; what a crash leaves
    # uncommitted is redelivered and the inbox skips it. 0: after every batch.
    consumer_commit_interval_s: float = Field(default=1.0, ge=0, le=60)

    @field_validator("jwt_secret")
    @classmethod
    def _secret_strong_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value().encode()) < 32:
            raise ValueError("jwt_secret must be at least 32 bytes")
        return value

    @model_validator(mode="after")
    def _no_sqlite_in_prod(self) -> ServiceSettings:
        if self.environment == "prod" and self.database_url.startswith("sqlite"):
            raise ValueError("database_url: SQLite is for dev and test only, not prod")
        return self

    @model_validator(mode="after")
    def _no_shared_secret_tokens_in_prod(self) -> ServiceSettings:
        if self.environment == "prod" and not self.oidc_issuer:
            raise ValueError(
                "oidc_issuer: prod accepts only tokens the identity provider signed; "
                "HS256 tokens with jwt_secret are for dev and test only"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        shared = EnvSettingsSource(settings_cls, env_prefix=SHARED_PREFIX, case_sensitive=False)
        return init_settings, env_settings, shared, dotenv_settings, file_secret_settings
