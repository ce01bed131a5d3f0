"""Settings from environment variables (prefix DOITHOAI_) and an optional .env file."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from bot.delivery.limits import Limits

OFFICIAL_TELEGRAM_API = "https://api.telegram.org"
ZALO_BOT_API = "https://bot-api.zaloplatforms.com"
ZALO_OA_API = "https://openapi.zalo.me"
ZALO_OA_OAUTH = "https://oauth.zaloapp.com"


PLATFORMS = ("telegram", "zalo", "zalo_oa")


class BotCredentials(BaseModel):
    """One commune's bots: the same names as the DOITHOAI_ settings, in lower case."""

    model_config = ConfigDict(extra="forbid")
    telegram_token: SecretStr | None = None
    zalo_token: SecretStr | None = None
    zalo_oa_app_id: str | None = None
    zalo_oa_secret_key: SecretStr | None = None
    zalo_oa_access_token: SecretStr | None = None
    zalo_oa_refresh_token: SecretStr | None = None

    def platforms(self) -> list[str]:
        oa = self.zalo_oa_app_id and self.zalo_oa_secret_key and (self.zalo_oa_access_token or self.zalo_oa_refresh_token)
        return [p for p, on in zip(PLATFORMS, (self.telegram_token, self.zalo_token, oa)) if on]


@dataclass(frozen=True)
class BotSpec:
    """One bot of the deployment: a platform account serving one commune."""

    platform: str  # telegram | zalo | zalo_oa
    commune: str | None  # the commune's code; None: DOITHOAI_COMMUNE, or the database's only commune
    credentials: BotCredentials

    @property
    def channel(self) -> str:
        """How the database and the queue name this bot: "telegram", or "telegram:TP" for commune TP's."""
        return self.platform if self.commune is None else f"{self.platform}:{self.commune}"


class CommunesFileError(ValueError):
    """DOITHOAI_COMMUNES_FILE cannot be read, or a commune's entry is wrong."""


class Settings(BaseSettings):
    # An empty line in .env (as .env.example has) means "not set", not an empty value.
    model_config = SettingsConfigDict(env_prefix="DOITHOAI_", env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True)

    database_url: str = Field(default="sqlite+aiosqlite:///doithoai.db", description="SQLAlchemy URL; sqlite:///file.db or postgresql://user@host/db")
    # Several communes in one deployment: the bots configured by the settings below serve
    # `commune` (its code, as in its plan; not needed while the database holds one commune), and
    # each further commune's own bots are listed in `communes_file` (TOML, one table per code).
    commune: str | None = Field(default=None, description="Code of the commune the DOITHOAI_TELEGRAM/ZALO bots serve")
    communes_file: Path | None = Field(default=None, description="TOML: [CODE] tables with each further commune's bot credentials")
    telegram_token: SecretStr | None = Field(default=None, description="Bot token from @BotFather")
    telegram_api_url: str = Field(default=OFFICIAL_TELEGRAM_API, description="Bot API base; requests go to {url}/bot{token}/{method}")
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR")

    # Zalo Bot Platform (a bot made with Zalo Bot Creator): requests go to {url}/bot{token}/{method}.
    zalo_token: SecretStr | None = Field(default=None, description="Zalo bot token, {bot_id}:{secret}")
    zalo_api_url: str = Field(default=ZALO_BOT_API)
    # Zalo Official Account (Open API v3). The access/refresh pair given here is only the first one:
    # each refresh replaces it, and the current pair lives in the database.
    zalo_oa_app_id: str | None = Field(default=None)
    zalo_oa_secret_key: SecretStr | None = Field(default=None, description="OA secret: webhook signatures and token refresh")
    zalo_oa_access_token: SecretStr | None = Field(default=None)
    zalo_oa_refresh_token: SecretStr | None = Field(default=None)
    zalo_oa_api_url: str = Field(default=ZALO_OA_API)
    zalo_oa_oauth_url: str = Field(default=ZALO_OA_OAUTH)

    # `doithoai run --webhook`: where the webhook endpoints listen, and the public HTTPS address
    # (behind the reverse proxy) registered with Telegram and the Zalo bot, with the secret they echo back.
    webhook_host: str = Field(default="127.0.0.1")
    webhook_port: int = Field(default=8080, ge=1, le=65535)
    webhook_base_url: str | None = Field(default=None, description="e.g. https://bot.example.gov.vn")
    webhook_secret: SecretStr | None = Field(default=None, description="8-256 characters: A-Z, a-z, 0-9, _ and -")
    # Signs the links to the files the Zalo bots send (DOITHOAI_WEBHOOK_BASE_URL/files/…). A key of its own:
    # Telegram and Zalo know the webhook secret. Needed once the base URL is set and a Zalo bot runs;
    # the same in every worker and across restarts, or the links already sent stop working.
    files_secret: SecretStr | None = Field(default=None, description="At least 16 characters, not the webhook secret; e.g. `openssl rand -hex 32`")

    # Telegram's sending limits (messages a second overall; one chat; a group a minute) and our retry policy.
    telegram_rate: float = Field(default=30.0, gt=0)
    telegram_chat_rate: float = Field(default=1.0, gt=0)
    telegram_chat_burst: int = Field(default=3, ge=1)
    telegram_group_per_minute: float = Field(default=20.0, gt=0)
    # Zalo publishes no limits: these are cautious guesses, to be raised once a commune has measured.
    zalo_rate: float = Field(default=10.0, gt=0)
    zalo_chat_rate: float = Field(default=1.0, gt=0)
    zalo_chat_burst: int = Field(default=3, ge=1)
    zalo_oa_rate: float = Field(default=10.0, gt=0)
    zalo_oa_chat_rate: float = Field(default=1.0, gt=0)
    zalo_oa_chat_burst: int = Field(default=3, ge=1)
    # Retries on Zalo: unset, they follow DOITHOAI_DELIVERY_MAX_ATTEMPTS and _BACKOFF_SECONDS.
    zalo_max_attempts: int | None = Field(default=None, ge=1)
    zalo_backoff_seconds: float | None = Field(default=None, gt=0)
    zalo_oa_max_attempts: int | None = Field(default=None, ge=1)
    zalo_oa_backoff_seconds: float | None = Field(default=None, gt=0)
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
    # The console is reached over https:// (behind the reverse proxy): its session cookie is then
    # marked Secure, so a browser never sends it over plain HTTP.
    web_https: bool = Field(default=False)
    # The commune's own Word templates of the minutes and the conclusion notice (docs/record.md): the
    # console and `doithoai minutes` / `conclusion draft` read CODE/bien_ban.docx, then bien_ban.docx,
    # from this folder (likewise thong_bao_ket_luan.docx), and the shipped one when it has neither.
    record_templates: Path | None = Field(default=None, description="Folder of the commune's adjusted minutes and conclusion templates")

    @field_validator("holidays")
    @classmethod
    def _holidays(cls, v: str) -> str:
        from bot.services.calendar import parse_dates

        parse_dates(v)  # refuse a bad date at start-up, naming it
        return v

    def limits(self, channel: str) -> "Limits":
        """A channel's sending limits (DOITHOAI_<CHANNEL>_RATE…) and the shared retry policy."""
        from bot.delivery.limits import Limits

        channel = channel.partition(":")[0]  # each commune's bot has its platform's limits
        return Limits(
            per_second=getattr(self, f"{channel}_rate"),
            chat_per_second=getattr(self, f"{channel}_chat_rate"),
            chat_burst=getattr(self, f"{channel}_chat_burst"),
            group_per_minute=self.telegram_group_per_minute,
            max_attempts=getattr(self, f"{channel}_max_attempts", None) or self.delivery_max_attempts,
            backoff_base=getattr(self, f"{channel}_backoff_seconds", None) or self.delivery_backoff_seconds,
            concurrency=self.delivery_concurrency,
        )

    def _own_credentials(self) -> BotCredentials:
        return BotCredentials(**{name: getattr(self, name) for name in BotCredentials.model_fields})

    def bots(self) -> list[BotSpec]:
        """Every bot to run: those of these settings, then each further commune's (raises CommunesFileError)."""
        own = self._own_credentials()
        specs = [BotSpec(platform, None, own) for platform in own.platforms()]
        for code, credentials in self.commune_credentials().items():
            if code == self.commune:
                raise CommunesFileError(f"{code} is DOITHOAI_COMMUNE already: its bots are the DOITHOAI_ settings")
            specs += [BotSpec(platform, code, credentials) for platform in credentials.platforms()]
        return specs

    def commune_credentials(self) -> dict[str, BotCredentials]:
        if self.communes_file is None:
            return {}
        try:
            data = tomllib.loads(self.communes_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise CommunesFileError(f"DOITHOAI_COMMUNES_FILE ({self.communes_file}): {exc}") from None
        found: dict[str, BotCredentials] = {}
        for code, table in data.items():
            if not re.fullmatch(r"[A-Z]{2,5}", code) or not isinstance(table, dict):
                raise CommunesFileError(f"DOITHOAI_COMMUNES_FILE: [{code}] is not a commune code (2-5 capital letters, as in its plan) with its bots")
            try:
                found[code] = BotCredentials(**table)
            except ValidationError as exc:
                raise CommunesFileError(f"DOITHOAI_COMMUNES_FILE: [{code}]: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}") from None
        return found

    def holiday_dates(self, years: "Iterable[int]") -> frozenset[date]:
        from bot.services.calendar import holiday_set, parse_dates

        return holiday_set(years, parse_dates(self.holidays))

    @field_validator("telegram_api_url", "zalo_api_url", "zalo_oa_api_url", "zalo_oa_oauth_url", "webhook_base_url")
    @classmethod
    def _strip(cls, v: str | None) -> str | None:
        return v.rstrip("/") if v else v

    @field_validator("webhook_secret")
    @classmethod
    def _secret(cls, v: SecretStr | None) -> SecretStr | None:
        # Telegram accepts 1-256 of these characters, the Zalo bot 8-256: the stricter of both.
        if v is not None and not re.fullmatch(r"[A-Za-z0-9_-]{8,256}", v.get_secret_value()):
            raise ValueError("must be 8 to 256 characters from A-Z, a-z, 0-9, _ and -")
        return v

    @field_validator("files_secret")
    @classmethod
    def _files_secret(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and len(v.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters (e.g. the output of `openssl rand -hex 32`)")
        return v

    @model_validator(mode="after")
    def _own_files_secret(self) -> "Settings":
        if self.files_secret is not None and self.webhook_secret is not None and self.files_secret.get_secret_value() == self.webhook_secret.get_secret_value():
            raise ValueError("DOITHOAI_FILES_SECRET must differ from DOITHOAI_WEBHOOK_SECRET, which Telegram and Zalo also hold")
        return self

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
