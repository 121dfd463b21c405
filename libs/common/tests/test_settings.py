"""Settings: per-service prefix, shared TOUSU_ fallback, no weak or default secrets."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from tousu_common.settings import ServiceSettings


class DemoSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TOUSU_DEMO_")


def test_service_prefix_wins_over_shared_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOUSU_JWT_SECRET", "a" * 40)
    monkeypatch.setenv("TOUSU_KAFKA_BOOTSTRAP_SERVERS", "shared:9092")
    monkeypatch.setenv("TOUSU_DEMO_KAFKA_BOOTSTRAP_SERVERS", "mine:9092")
    settings = DemoSettings()
    assert settings.kafka_bootstrap_servers == "mine:9092"
    assert settings.jwt_secret.get_secret_value() == "a" * 40


def test_there_is_no_default_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOUSU_JWT_SECRET", raising=False)
    monkeypatch.delenv("TOUSU_DEMO_JWT_SECRET", raising=False)
    with pytest.raises(ValidationError, match="jwt_secret"):
        DemoSettings()


def test_short_secret_is_refused() -> None:
    with pytest.raises(ValidationError, match="at least 32 bytes"):
        DemoSettings(jwt_secret="short")


def test_secret_is_not_shown_in_repr() -> None:
    settings = DemoSettings(jwt_secret="q" * 40)
    assert "q" * 40 not in repr(settings)


def test_sqlite_is_refused_in_production() -> None:
    with pytest.raises(ValidationError, match="SQLite"):
        DemoSettings(
            jwt_secret="q" * 40, environment="prod", database_url="sqlite+aiosqlite:///x.db"
        )
