"""Notify settings: environment variables prefixed ``TOUSU_NOTIFY_``."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from tousu_common.settings import ServiceSettings


class DepartmentContact(BaseModel):
    """Where a department and its manager are told things (notify's own configuration).

    Subscriptions (``/v1/subscriptions``) add more recipients; these are the
    baseline every department-addressed notification goes to.
    """

    email: str | None = None
    phone: str | None = None
    manager_email: str | None = None
    manager_phone: str | None = None


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TOUSU_NOTIFY_")

    service_name: str = "notify"
    database_url: str = "sqlite+aiosqlite:///var/notify.db"

    # --- e-mail (SMTP, aiosmtplib) -------------------------------------------
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_s: float = Field(default=30.0, gt=0)
    #: PEM certificates to trust for the SMTP server's, instead of the system's
    #: (an internal relay with the company's own CA).
    smtp_ca_file: Path | None = None
    #: The name notify gives in EHLO; unset: this machine's FQDN, looked up once.
    smtp_local_hostname: str | None = None
    #: Connections kept open between messages (issue 17): a new one per message cost
    #: a TCP connect, the greeting, EHLO (STARTTLS and AUTH where configured) and QUIT.
    #: A kept connection is closed after this long unused; 0: one per message.
    smtp_keepalive_s: float = Field(default=30.0, ge=0, le=600)
    #: At most this many connections, each carrying one message at a time (a batch
    #: of deliveries goes out this many side by side).
    smtp_pool_size: int = Field(default=8, ge=1, le=64)
    #: A connection is closed after this many messages (servers limit them).
    smtp_messages_per_connection: int = Field(default=100, ge=1, le=10_000)
    mail_from: str = "Tousu 投诉服务 <noreply@tousu.example>"
    # Replies go to the complaints mailbox (intake's inbound SMTP), which
    # threads them onto the complaint by the reference in the Message-ID.
    mail_reply_to: str = "complaints@tousu.example"
    mail_domain: str = "tousu.example"

    # --- SMS (an HTTP gateway: POST JSON {"to", "text"}) ---------------------
    sms_gateway_url: str | None = None
    sms_api_key: SecretStr | None = None
    sms_timeout_s: float = Field(default=10.0, gt=0)

    # --- webhooks --------------------------------------------------------------
    webhook_timeout_s: float = Field(default=10.0, gt=0)
    # Loopback / private targets are refused unless this is set (tests, dev).
    webhook_allow_private_targets: bool = False
    # Disable a webhook subscription after this many failed attempts in a row,
    # or once it has failed without a success for this long.
    webhook_disable_after_failures: int = Field(default=20, ge=1)
    webhook_disable_after_s: float = Field(default=24 * 3600, gt=0)

    # The planner's fetch wait while events come (group tousu-notify): 200 ms, not
    # the 50 of the consumers that open cases. A customer's acknowledgement leaves
    # ~50 ms later (p50 ~100 ms from receipt, goal < 150), and notify's CPU per
    # complaint at 20/s fell by about a third: fewer fetches, bigger groups per
    # transaction and per contact read (issue 17, bench/RESULTS.md).
    planner_fetch_max_wait_ms: int = Field(default=200, ge=1, le=10_000)

    # --- delivery worker ---------------------------------------------------------
    delivery_max_attempts: int = Field(default=5, ge=1, le=100)
    delivery_backoff_base_s: float = Field(default=30.0, ge=0)
    delivery_backoff_max_s: float = Field(default=3600.0, ge=0)
    delivery_poll_interval_s: float = Field(default=1.0, gt=0)
    # 50: on PostgreSQL at 20 complaints/s the worker's queue was 1.5 s at p50 with 20
    # (bench/RESULTS.md); at most 100, what intake's batch contact read takes at once.
    delivery_batch_size: int = Field(default=50, ge=1, le=100)
    # A row still 'sending' after this long belongs to a worker that died
    # mid-attempt: it is attempted again (the at-least-once window).
    delivery_stale_after_s: float = Field(default=300.0, gt=0)
    delivery_worker_enabled: bool = True
    # Events older than this are recorded as 'skipped', not sent: a consumer
    # group replaying a topic's history must not mail customers about last month.
    delivery_max_event_age_s: float = Field(default=3 * 24 * 3600, gt=0)

    # --- recipients --------------------------------------------------------------
    # JSON: {"csc": {"email": "csc@corp.example", "manager_email": "..."}, ...}
    department_contacts: dict[str, DepartmentContact] = Field(default_factory=dict)
    staff_language: str = "zh"
    # The staff console: every staff message about a complaint links to
    # {console_url}/complaints/{complaint_id}. Customers and suppliers never get it.
    console_url: str = "http://127.0.0.1:8005"
    # Attach the digest's HTML report (fetched from its url with a service token).
    digest_attach_html: bool = True

    # --- digests (业务运作情况周报/月报) --------------------------------------------
    # Published Monday (week) and on the 1st (month) at this local time
    # (settings timezone); see README "Digests".
    digest_scheduler_enabled: bool = True
    digest_publish_time: str = Field(default="08:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    digest_scheduler_interval_s: float = Field(default=60.0, gt=0)
    digest_trend_periods: int = Field(default=8, ge=2, le=60)
    # Units in service per customer segment (oem, dealer, end_customer), as JSON:
    # where given, the digest shows complaints per 1,000 units of that segment.
    digest_units_in_service: dict[str, int] = Field(default_factory=dict)

    @field_validator("console_url")
    @classmethod
    def _console_url_is_a_plain_http_url(cls, value: str) -> str:
        return console_base_url(value)


def console_base_url(value: str) -> str:
    """``value`` as the base of console links: an http(s) URL with a host, no
    credentials, query or fragment; without its trailing slash."""
    example = "e.g. https://console.corp.example or https://corp.example/tousu"
    value = value.strip()
    if any(c.isspace() or not c.isprintable() for c in value):
        raise ValueError(f"console_url must not contain spaces or control characters, {example}")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number
    except ValueError as exc:
        raise ValueError(f"console_url is not a URL ({exc}), {example}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"console_url must be an http(s) URL with a host, {example}")
    if parts.username is not None or parts.password is not None:
        raise ValueError("console_url must not carry credentials (user:password@)")
    if parts.query or parts.fragment or value.endswith(("?", "#")):
        raise ValueError(
            "console_url must have no query (?...) or fragment (#...): "
            "links append /complaints/{id} to it"
        )
    return parts.geturl().rstrip("/")
