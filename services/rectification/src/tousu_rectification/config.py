"""Rectification settings: environment variables prefixed ``TOUSU_RECTIFICATION_``."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from tousu_common.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TOUSU_RECTIFICATION_")

    service_name: str = "rectification"
    database_url: str = "sqlite+aiosqlite:///var/rectification.db"
    # Worklists: a case is "due soon" when its next due item falls within this window.
    due_soon_hours: float = Field(default=48, gt=0, le=24 * 90)
