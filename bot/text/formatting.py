"""Dates, times and names as a resident reads them: dd/mm/yyyy, HH:MM, in the commune's timezone; Vietnamese order."""

from __future__ import annotations

import re
import unicodedata
from datetime import date as _date
from datetime import datetime
from functools import cache
from zoneinfo import ZoneInfo

import icu
from babel.dates import format_date

from bot.text.catalogue import Translator


@cache
def _collator(lang: str) -> icu.Collator:
    return icu.Collator.createInstance(icu.Locale(lang))


def collation_key(text: str, lang: str = "vi") -> bytes:
    """Sorts names as a Vietnamese reader expects (a ă â … d đ …): Python's own order puts "Đại Lương"
    after "Văn Lâm" and "Ăn" after "Yên". ICU's collation for the language, not a hand-made key."""
    return _collator(lang).getSortKey(text)


def local(dt: datetime, tz: str) -> datetime:
    return dt.astimezone(ZoneInfo(tz))


def weekday(dt: datetime, lang: str) -> str:
    return format_date(dt.date(), "EEEE", locale=lang)


def date(dt: datetime) -> str:
    return dt.strftime("%d/%m/%Y")


def time(dt: datetime) -> str:
    return dt.strftime("%H:%M")


def parse_day(text: str) -> _date | None:
    """A day as staff type it: dd/mm/yyyy, or yyyy-mm-dd as spreadsheets and scripts write it; None otherwise."""
    for fmt in ("%d/%m/%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(text.strip(), fmt).date()
        except ValueError:
            pass
    return None


def when(dt: datetime, tz: str, tr: Translator) -> str:
    """"08:00, Thứ Năm 11/06/2026"."""
    d = local(dt, tz)
    return tr("format.when", time=time(d), weekday=weekday(d, tr.lang), date=date(d))


def shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def fold(text: str) -> str:
    """Lower case without diacritics, for matching what a resident types ("thon phong lam")."""
    text = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    return re.sub(r"\s+", " ", text).strip().casefold()
