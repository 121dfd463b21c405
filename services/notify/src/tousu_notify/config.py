"""Notify settings: environment variables prefixed ``TOUSU_NOTIFY_``."""

from pydantic_settings import SettingsConfigDict

from tousu_common.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TOUSU_NOTIFY_")

    service_name: str = "notify"
    database_url: str = "sqlite+aiosqlite:///var/notify.db"
