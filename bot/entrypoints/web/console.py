"""What every page of the console shares: its database, clock, words and templates, kept on the app."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Callable

from fastapi import Request
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from bot.domain.media import duration as media_duration
from bot.text.catalogue import Translator
from bot.text.formatting import date as day
from bot.text.formatting import local, time, weekday
from storage.db import Database

HERE = Path(__file__).parent


@dataclass
class Console:
    db: Database
    clock: Callable[[], datetime]
    secret_key: str
    page_size: int
    templates: Environment
    tr: Translator
    commune: str | None = None  # DOITHOAI_COMMUNE: whose the queue's messages on bots named without a commune are
    record_templates: Path | None = None  # DOITHOAI_RECORD_TEMPLATES: the commune's own minutes and conclusion templates


def console(request: Request) -> Console:
    return request.app.state.console


# ------------------------------------------------------------------ formatting for templates


def _local(value: datetime, tz: str | None) -> datetime:
    return local(value, tz or "Asia/Ho_Chi_Minh")


def fmt_when(value: datetime | None, tz: str | None = None) -> str:
    """dd/mm/yyyy HH:MM in the commune's timezone."""
    return "" if value is None else f"{fmt_day(value, tz)} {fmt_time(value, tz)}"


def fmt_day(value: date | datetime | None, tz: str | None = None) -> str:
    """dd/mm/yyyy (a datetime is taken in the commune's timezone)."""
    if value is None:
        return ""
    return day(_local(value, tz) if isinstance(value, datetime) else value)  # type: ignore[arg-type]


def fmt_time(value: datetime | None, tz: str | None = None) -> str:
    return "" if value is None else time(_local(value, tz))


def fmt_weekday(value: datetime, tz: str | None = None) -> str:
    """"Thứ Năm", in the console's language."""
    return weekday(_local(value, tz), "vi")


def fmt_number(value: int) -> str:
    return f"{value:,}".replace(",", ".")  # 1.234, as Vietnamese write it


def percent(part: int, whole: int) -> int:
    return round(100 * part / whole) if whole else 0


def environment(tr: Translator) -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(when=fmt_when, day=fmt_day, time=fmt_time, weekday=fmt_weekday, number=fmt_number, duration=media_duration)
    env.globals.update(percent=percent, t=tr, zip=zip)
    return env
