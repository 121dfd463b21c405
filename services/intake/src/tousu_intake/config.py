"""Intake settings: environment variables prefixed ``TOUSU_INTAKE_``."""

from pydantic_settings import SettingsConfigDict

from tousu_common.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TOUSU_INTAKE_")

    service_name: str = "intake"
    database_url: str = "sqlite+aiosqlite:///var/intake.db"
    reference_prefix: str = "TS"
