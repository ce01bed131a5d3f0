"""Settings from environment variables (prefix DOITHOAI_) and an optional .env file."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

OFFICIAL_TELEGRAM_API = "https://api.telegram.org"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DOITHOAI_", env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = Field(default="sqlite+aiosqlite:///doithoai.db", description="SQLAlchemy URL; sqlite:///file.db or postgresql://user@host/db")
    telegram_token: SecretStr | None = Field(default=None, description="Bot token from @BotFather")
    telegram_api_url: str = Field(default=OFFICIAL_TELEGRAM_API, description="Bot API base; requests go to {url}/bot{token}/{method}")
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR")

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
