"""Dates, times and names as a resident reads them (bot/text/formatting.py)."""

from __future__ import annotations

from datetime import date, datetime, timezone

from bot.text.catalogue import Translator
from bot.text.formatting import collation_key, fold, parse_day, shorten, when

MEETING = datetime(2026, 6, 11, 1, 0, tzinfo=timezone.utc)  # 08:00 in Asia/Ho_Chi_Minh


def test_names_sort_in_vietnamese_alphabetical_order():
    names = ["Thôn Yên Bình", "Thôn Văn Lâm", "Thôn Đại Lương", "Thôn Dương Liễu", "Thôn Ăn Cư", "Thôn Anh Sơn", "Thôn Âu Cơ"]
    assert sorted(names, key=collation_key) == [
        "Thôn Anh Sơn", "Thôn Ăn Cư", "Thôn Âu Cơ", "Thôn Dương Liễu", "Thôn Đại Lương", "Thôn Văn Lâm", "Thôn Yên Bình"]


def test_a_moment_is_told_in_the_commune_s_time_and_the_reader_s_language():
    assert when(MEETING, "Asia/Ho_Chi_Minh", Translator("vi")) == "08:00 Thứ Năm, ngày 11/06/2026"
    assert when(MEETING, "Asia/Ho_Chi_Minh", Translator("en")) == "Thursday 11/06/2026 at 08:00"


def test_staff_type_a_day_as_dd_mm_yyyy_or_as_a_spreadsheet_writes_it():
    assert parse_day(" 11/06/2026 ") == parse_day("2026-06-11") == date(2026, 6, 11)
    assert parse_day("11-06-2026") is None and parse_day("31/02/2026") is None and parse_day("") is None


def test_folding_drops_case_diacritics_and_extra_spaces_for_matching():
    assert fold("  Thôn  ĐÔNG   Hải ") == "thon dong hai"
    assert fold("Tho\u0302n Lai Ha\u0300") == fold("Thôn Lai Hà")  # typed decomposed, as on a Mac


def test_shortening_keeps_to_the_limit_with_an_ellipsis():
    assert shorten("một  hai ba bốn năm", 10) == "một hai b…"
    assert shorten("  một\nhai ", 10) == "một hai"
