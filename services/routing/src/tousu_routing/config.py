"""Routing settings: environment variables prefixed ``TOUSU_ROUTING_``."""

from pydantic_settings import SettingsConfigDict

from tousu_common.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TOUSU_ROUTING_")

    service_name: str = "routing"
    database_url: str = "sqlite+aiosqlite:///var/routing.db"
