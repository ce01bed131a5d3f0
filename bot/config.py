"""Settings from environment variables (prefix DOITHOAI_) and an optional .env file."""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from typing import TYPE_CHECKING, Iterable

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from bot.delivery.sender import Limits

OFFICIAL_TELEGRAM_API = "https://api.telegram.org"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DOITHOAI_", env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = Field(default="sqlite+aiosqlite:///doithoai.db", description="SQLAlchemy URL; sqlite:///file.db or postgresql://user@host/db")
    telegram_token: SecretStr | None = Field(default=None, description="Bot token from @BotFather")
    telegram_api_url: str = Field(default=OFFICIAL_TELEGRAM_API, description="Bot API base; requests go to {url}/bot{token}/{method}")
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR")

    # Telegram's sending limits (messages a second overall; one chat; a group a minute) and our retry policy.
    telegram_rate: float = Field(default=30.0, gt=0)
    telegram_chat_rate: float = Field(default=1.0, gt=0)
    telegram_chat_burst: int = Field(default=3, ge=1)
    telegram_group_per_minute: float = Field(default=20.0, gt=0)
    delivery_max_attempts: int = Field(default=8, ge=1)
    delivery_backoff_seconds: float = Field(default=2.0, gt=0)
    delivery_concurrency: int = Field(default=8, ge=1)

    # Extra days off (the government's bridge days), on top of Vietnam's public holidays:
    # ISO dates and ranges, e.g. "2026-01-02, 2026-04-27..2026-04-29".
    holidays: str = Field(default="")
    # How often (seconds) the scheduler looks for notices and reminders that are due.
    scheduler_interval: float = Field(default=60.0, gt=0)

    # Signs the web console's session cookies. Without it a random key is made at start-up, so
    # logins do not survive a restart; set it in production (e.g. `openssl rand -hex 32`).
    web_secret_key: SecretStr | None = Field(default=None)

    @field_validator("holidays")
    @classmethod
    def _holidays(cls, v: str) -> str:
        from bot.services.calendar import parse_dates

        parse_dates(v)  # refuse a bad date at start-up, naming it
        return v

    def telegram_limits(self) -> "Limits":
        from bot.delivery.sender import Limits

        return Limits(
            per_second=self.telegram_rate,
            chat_per_second=self.telegram_chat_rate,
            chat_burst=self.telegram_chat_burst,
            group_per_minute=self.telegram_group_per_minute,
            max_attempts=self.delivery_max_attempts,
            backoff_base=self.delivery_backoff_seconds,
            concurrency=self.delivery_concurrency,
        )

    def holiday_dates(self, years: "Iterable[int]") -> frozenset[date]:
        from bot.services.calendar import holiday_set, parse_dates

        return holiday_set(years, parse_dates(self.holidays))

    @field_validator("telegram_api_url")
    @classmethod
    def _strip(cls, v: str) -> str:
        return v.rstrip("/")

    @field_validator("log_level")
    @classmethod
    def _level(cls, v: str) -> str:
        v = v.upper()
        if v not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return v


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
