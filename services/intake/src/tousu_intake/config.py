"""Intake settings: environment variables prefixed ``TOUSU_INTAKE_``."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from tousu_common.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TOUSU_INTAKE_")

    service_name: str = "intake"
    database_url: str = "sqlite+aiosqlite:///var/intake.db"
    reference_prefix: str = "TS"

    # Faxes, scans and attachments arrive as multipart bodies: the whole request
    # is bounded here, each file and each request's files again below.
    http_max_body_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    # Any body that is not multipart/form-data (JSON, url-encoded forms).
    http_max_json_bytes: int = Field(default=1_048_576, ge=1024)
    attachment_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    attachment_max_request_bytes: int = Field(default=25 * 1024 * 1024, ge=1)
    attachment_max_files: int = Field(default=10, ge=1, le=100)

    # Phone and fax numbers without a country code are taken to be in this country.
    default_country_code: str = Field(default="86", pattern=r"^[1-9][0-9]{0,2}$")

    # OCR of faxes and scanned letters (Tesseract).
    ocr_languages: str = "chi_sim+eng"
    ocr_max_pages: int = Field(default=20, ge=1, le=500)
    ocr_max_pixels_per_page: int = Field(default=40_000_000, ge=10_000)
    ocr_pdf_dpi: int = Field(default=200, ge=72, le=600)
    # Mean word confidence (0–100) below which a person transcribes the document.
    ocr_min_confidence: float = Field(default=60.0, ge=0, le=100)
    ocr_timeout_s: float = Field(default=120.0, gt=0)
    # Documents OCR'd at once (each Tesseract run uses one thread).
    ocr_concurrency: int = Field(default=1, ge=1, le=32)

    # The customer CSV import.
    customer_import_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    customer_import_max_rows: int = Field(default=50_000, ge=1)

    @property
    def tracking_base_url(self) -> str:
        """Where customers reach intake's pages (tracking links)."""
        return (self.public_url or self.intake_url).rstrip("/")
