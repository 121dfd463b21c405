"""Intake settings: environment variables prefixed ``TOUSU_INTAKE_``."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from tousu_common.settings import ServiceSettings

#: Files per request by default (the OpenAPI document states this one).
MAX_FILES = 10


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
    attachment_max_files: int = Field(default=MAX_FILES, ge=1, le=100)

    # Phone and fax numbers without a country code are taken to be in this country.
    default_country_code: str = Field(default="86", pattern=r"^[1-9][0-9]{0,2}$")

    # OCR of faxes and scanned letters (Tesseract).
    ocr_languages: str = "chi_sim+eng"
    ocr_max_pages: int = Field(default=20, ge=1, le=500)
    ocr_max_pixels_per_page: int = Field(default=40_000_000, ge=10_000)
    ocr_pdf_dpi: int = Field(default=200, ge=72, le=600)
    # Mean word confidence (0–100) below which a person transcribes the document.
    ocr_min_confidence: float = Field(default=60.0, ge=0, le=100)
    # Share of the characters read from words Tesseract doubts (confidence < 60)
    # above which a person transcribes the document; calibrated on the fax corpus
    # (bench/bench_fax.py --calibrate, bench/RESULTS.md).
    ocr_max_doubtful_share: float = Field(default=0.20, ge=0, le=1)
    ocr_timeout_s: float = Field(default=120.0, gt=0)
    # Documents OCR'd at once (each Tesseract run uses one thread).
    ocr_concurrency: int = Field(default=1, ge=1, le=32)

    # With an identity provider: the service clients that may read customers'
    # contacts (GET /v1/complaints/{id}/contact and the batch read).
    contact_clients: list[str] = Field(default_factory=lambda: ["tousu-notify"])

    # The customer CSV import.
    customer_import_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    customer_import_max_rows: int = Field(default=50_000, ge=1)

    @property
    def tracking_base_url(self) -> str:
        """Where customers reach intake's pages (tracking links)."""
        return (self.public_url or self.intake_url).rstrip("/")

    # --- e-mail channel (SMTP listener; see README "Email channel") ----------
    # 0 turns the listener off. Loopback by default: put the MTA in front.
    smtp_port: int = Field(default=0, ge=0, le=65535)
    smtp_host: str = "127.0.0.1"
    smtp_max_message_bytes: int = Field(default=25 * 1024 * 1024, ge=10_000)
    complaints_mailbox: str = "complaints@tousu.example"
    key_account_mailbox: str = "key-accounts@tousu.example"
    # The domain our own mail is sent from (notify's Message-IDs and From):
    # mail from it, or carrying a Message-ID in it, is a loop and never filed.
    mail_domain: str = "tousu.example"
    # Further addresses of our own (e.g. notify's From) that must never be filed.
    mail_own_addresses: list[str] = Field(default_factory=list)

    # --- public web form and tracking page -----------------------------------
    web_rate_per_minute: float = Field(default=10, gt=0)
    web_rate_burst: int = Field(default=5, ge=1)
    web_csrf_max_age_s: int = Field(default=4 * 3600, ge=60)
    web_max_files: int = Field(default=5, ge=0, le=50)
    # Behind a reverse proxy that sets X-Forwarded-For (and strips incoming ones).
    web_trust_forwarded_for: bool = False
    web_track_rate_per_minute: float = Field(default=60, gt=0)
    web_track_rate_burst: int = Field(default=20, ge=1)
