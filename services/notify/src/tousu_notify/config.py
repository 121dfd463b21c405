"""Notify settings: environment variables prefixed ``TOUSU_NOTIFY_``."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from tousu_common.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TOUSU_NOTIFY_")

    service_name: str = "notify"
    database_url: str = "sqlite+aiosqlite:///var/notify.db"

    # Digests (业务运作情况周报/月报): published Monday (week) and on the 1st (month)
    # at this local time (settings timezone); see README "Digests".
    digest_scheduler_enabled: bool = True
    digest_publish_time: str = Field(default="08:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    digest_scheduler_interval_s: float = Field(default=60.0, gt=0)
    digest_trend_periods: int = Field(default=8, ge=2, le=60)
    # Units in service per customer segment (oem, dealer, end_customer), as JSON:
    # where given, the digest shows complaints per 1,000 units of that segment.
    digest_units_in_service: dict[str, int] = Field(default_factory=dict)
