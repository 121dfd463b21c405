"""Rectification settings: environment variables prefixed ``TOUSU_RECTIFICATION_``."""

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from tousu_common.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TOUSU_RECTIFICATION_")

    service_name: str = "rectification"
    database_url: str = "sqlite+aiosqlite:///var/rectification.db"
    # Worklists: a case is "due soon" when its next due item falls within this window.
    due_soon_hours: float = Field(default=48, gt=0, le=24 * 90)

    # --- rectifications, supplier link, documents (issue 5, part B) ---
    # Supplier 8D uploads come through the public link: room for a few files.
    http_max_body_bytes: int = Field(default=12 * 1024 * 1024, ge=1024)
    # Key for the supplier response links (HMAC of the rectification id); by
    # default derived from jwt_secret, so rotating that also revokes the links.
    supplier_link_secret: SecretStr | None = None
    # A link keeps working until this many days after the notice's due date.
    supplier_link_valid_days_after_due: int = Field(default=30, ge=0, le=3650)
    evidence_max_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    evidence_max_files: int = Field(default=5, ge=0, le=50)
    # Worklist "due soon": due within this many days (today included).
    due_soon_days: int = Field(default=3, ge=0, le=365)
    company_name: str = "示例动力股份有限公司 / Example Power Co., Ltd."
    company_logo_text: str = "EXAMPLE POWER"
