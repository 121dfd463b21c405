"""Routing settings: environment variables prefixed ``TOUSU_ROUTING_``."""

from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from tousu_common.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TOUSU_ROUTING_")

    service_name: str = "routing"
    database_url: str = "sqlite+aiosqlite:///var/routing.db"

    # Triage rules: the YAML file that seeds rule-set version 1 on an empty
    # database (default: the rules shipped in the package).
    rules_file: Path | None = None

    # Business calendar (timezone is the shared `timezone` setting).
    working_hours_start: str = "08:30"
    working_hours_end: str = "17:30"
    #: ISO weekdays worked, Monday = 1.
    working_days: str = "1,2,3,4,5"
    #: Comma-separated YAML files of holidays and make-up working days, each a State
    #: Council notice; empty = the shipped notices (data/cn-2026.yaml).
    calendar_files: str = ""
    #: China's public days from the `holidays` package for the years no notice file
    #: covers (its transcribed notices, else the statutory days, flagged in /readyz).
    public_holidays_package: bool = True
    #: How often the coverage of the holiday data is checked (an ERROR line once a day
    #: while the current year, or from 1 December the next, has no notice).
    calendar_check_interval_s: float = Field(default=3600.0, gt=0)
    #: More holidays / make-up working days, comma-separated YYYY-MM-DD.
    extra_holidays: str = ""
    extra_makeup_days: str = ""

    # SLA table overrides, e.g. {"urgent": {"first_response": "2h"}} (JSON in the
    # environment). Units: s, m, h, d = clock time; wh, wd = working hours/days.
    sla_durations: dict[str, dict[str, str]] = Field(default_factory=dict)
    sla_key_account_factor: float = Field(default=0.5, gt=0, le=1)
    sla_warning_fraction: float = Field(default=0.8, gt=0, lt=1)
    sla_poll_interval_s: float = Field(default=5.0, gt=0)
    sla_batch_size: int = Field(default=200, ge=1, le=10_000)

    # Duplicates: same customer + product, similar text, within the window.
    duplicate_window_days: float = Field(default=14, ge=0)
    duplicate_similarity: float = Field(default=0.5, gt=0, le=1)

    worklist_max_limit: int = Field(default=200, ge=1, le=200)

    @model_validator(mode="after")
    def _calendar_and_sla_make_sense(self) -> "Settings":
        from tousu_routing.bootstrap import build_policy

        build_policy(self)  # raises ValueError naming what is wrong
        return self
