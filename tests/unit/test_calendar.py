"""Holidays, working days, due moments and the meeting's calendar file (bot/services/calendar.py).

The example is Xã Gia Phúc's plan (bot/entrypoints/demo/gia-phuc-2026.toml): the meeting is at 08:00 on
Thursday 11/06/2026 in Asia/Ho_Chi_Minh (UTC+7), registration closes at 23:59 on 15/05/2026.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from holidays import country_holidays
from icalendar import Calendar

from bot.services.calendar import (
    PRODID,
    deadline_reminder_due,
    eve_reminder_due,
    holiday_set,
    is_working_day,
    meeting_ics,
    notice_due,
    parse_dates,
    working_days_before,
)
from bot.text.catalogue import Translator

TZ = "Asia/Ho_Chi_Minh"
VN = ZoneInfo(TZ)
UTC = timezone.utc


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=VN)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def days(first: str, last: str) -> set[date]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return {start + timedelta(days=i) for i in range((end - start).days + 1)}


# --- holidays -------------------------------------------------------------------------------

# What `holidays` (0.109) says for Vietnam. An upgrade that changes this is a change in when
# notices go out: read the package's changelog against the government's announcements, then
# update these tables.
VN_2026 = {
    date(2026, 1, 1): "Tết Dương lịch",
    date(2026, 2, 16): "Giao thừa Tết Nguyên Đán",
    date(2026, 2, 17): "Tết Nguyên Đán",
    date(2026, 2, 18): "Mùng hai Tết Nguyên Đán",
    date(2026, 2, 19): "Mùng ba Tết Nguyên Đán",
    date(2026, 2, 20): "Mùng bốn Tết Nguyên Đán",
    date(2026, 4, 26): "Ngày Giỗ Tổ Hùng Vương",  # a Sunday
    date(2026, 4, 27): "Ngày Giỗ Tổ Hùng Vương (nghỉ bù)",
    date(2026, 4, 30): "Ngày Chiến thắng",
    date(2026, 5, 1): "Ngày Quốc tế Lao động",
    date(2026, 8, 31): "Ngày nghỉ (thay cho ngày 22/08/2026)",  # swapped with Saturday 22/08
    date(2026, 9, 1): "Quốc khánh",
    date(2026, 9, 2): "Quốc khánh",
    date(2026, 11, 24): "Ngày Văn hóa Việt Nam",  # a day off from 2026 on
}
VN_2027 = {
    date(2027, 1, 1): "Tết Dương lịch",
    # Tết's Saturday and Sunday (06-07/02) move to 29 Tết and Mùng năm by the package's rule;
    # the government has not announced 2027 yet.
    date(2027, 2, 4): "29 Tết",
    date(2027, 2, 5): "Giao thừa Tết Nguyên Đán",
    date(2027, 2, 6): "Tết Nguyên Đán",
    date(2027, 2, 7): "Mùng hai Tết Nguyên Đán",
    date(2027, 2, 8): "Mùng ba Tết Nguyên Đán",
    date(2027, 2, 9): "Mùng bốn Tết Nguyên Đán",
    date(2027, 2, 10): "Mùng năm Tết Nguyên Đán",
    date(2027, 4, 16): "Ngày Giỗ Tổ Hùng Vương",
    date(2027, 4, 30): "Ngày Chiến thắng",
    date(2027, 5, 1): "Ngày Quốc tế Lao động",  # a Saturday
    date(2027, 5, 3): "Ngày Quốc tế Lao động (nghỉ bù)",
    date(2027, 9, 2): "Quốc khánh",
    date(2027, 9, 3): "Quốc khánh",
    date(2027, 11, 24): "Ngày Văn hóa Việt Nam",
}


def test_the_holidays_package_knows_vietnam_2026_and_2027():
    assert dict(country_holidays("VN", years=2026, language="vi")) == VN_2026
    assert dict(country_holidays("VN", years=2027, language="vi")) == VN_2027


def test_holiday_set_defaults_are_the_package_s_days():
    assert holiday_set([2026]) == frozenset(VN_2026)
    assert holiday_set([2027, 2026, 2027]) == frozenset(VN_2026) | frozenset(VN_2027)
    # Tết 2026 with its weekends: Saturday 14/02 to Sunday 22/02, nine days off.
    tet = days("2026-02-14", "2026-02-22")
    assert {d for d in tet if is_working_day(d, holiday_set([2026]))} == set()


def test_holiday_set_adds_configured_dates():
    bridge = date(2026, 1, 2)  # a Friday the government might give after New Year's Day
    assert holiday_set([2026], [bridge]) == frozenset(VN_2026) | {bridge}
    assert holiday_set([2026], [bridge], defaults=False) == frozenset({bridge})
    assert holiday_set([], [bridge]) == frozenset({bridge})
    assert holiday_set([2026], parse_dates("2026-12-31")) >= {date(2026, 12, 31), date(2026, 1, 1)}


def test_holiday_set_refuses_datetimes():
    with pytest.raises(TypeError, match="must be a date"):
        holiday_set([2026], [datetime(2026, 1, 2)])


def test_parse_dates_reads_dates_and_inclusive_ranges():
    text = "2026-01-02, 2026-02-14..2026-02-16\n2026-04-27 ,2026-08-31 .. 2026-09-01\t2026-01-02"
    assert parse_dates(text) == [
        date(2026, 1, 2),
        date(2026, 2, 14),
        date(2026, 2, 15),
        date(2026, 2, 16),
        date(2026, 4, 27),
        date(2026, 8, 31),
        date(2026, 9, 1),
    ]
    assert parse_dates("2026-02-14..2026-02-14") == [date(2026, 2, 14)]
    assert parse_dates("") == [] and parse_dates(" ,\n ") == []


@pytest.mark.parametrize(
    "text, bad",
    [
        ("2026-01-02, 2026-02-30", "2026-02-30"),
        ("2026/02/14", "2026/02/14"),
        ("20260214", "20260214"),
        ("2026-1-2", "2026-1-2"),
        ("2026-W07-1", "2026-W07-1"),
        ("2026-02-22..2026-02-14", "2026-02-22..2026-02-14"),
        ("2026-02-14..", "2026-02-14.."),
        ("..2026-02-14", "..2026-02-14"),
        ("2026-02-14..2026-02-15..2026-02-16", "2026-02-14..2026-02-15..2026-02-16"),
        ("2026-02-14;2026-02-15", "2026-02-14;2026-02-15"),
        ("Tết", "Tết"),
    ],
)
def test_parse_dates_names_the_bad_item(text, bad):
    with pytest.raises(ValueError, match=re.escape(repr(bad))):
        parse_dates(text)


# --- working days ---------------------------------------------------------------------------


def test_is_working_day():
    assert is_working_day(date(2026, 6, 12), ())  # Friday
    assert not is_working_day(date(2026, 6, 13), ())  # Saturday
    assert not is_working_day(date(2026, 6, 14), ())  # Sunday
    assert not is_working_day(date(2026, 9, 2), holiday_set([2026]))
    # Saturday 22/08/2026 is worked in exchange for 31/08, but not by every commune office.
    assert not is_working_day(date(2026, 8, 22), holiday_set([2026]))


def test_counting_starts_from_the_working_day_before():
    thursday = date(2026, 6, 11)
    assert working_days_before(thursday, 1, ()) == date(2026, 6, 10)  # Wednesday
    assert working_days_before(date(2026, 6, 15), 1, ()) == date(2026, 6, 12)  # Monday → Friday
    # Whether the day itself is a working day does not matter.
    assert working_days_before(date(2026, 6, 13), 1, ()) == date(2026, 6, 12)  # Saturday
    assert working_days_before(date(2026, 6, 14), 1, ()) == date(2026, 6, 12)  # Sunday
    assert working_days_before(date(2026, 6, 12), 1, {date(2026, 6, 12)}) == date(2026, 6, 11)
    assert working_days_before(thursday, 5, ()) == date(2026, 6, 4)
    # Gia Phúc's notice: 10, 9, 8 | 5, 4, 3, 2 June.
    assert working_days_before(thursday, 7, ()) == date(2026, 6, 2)


def test_holidays_are_skipped():
    hols = holiday_set([2026])
    # Thursday 07/05/2026: 6, 5, 4 May | 1 May, 30 Apr, 27 Apr (Giỗ Tổ in lieu) off | 29, 28, 24, 23 Apr.
    assert working_days_before(date(2026, 5, 7), 7, hols) == date(2026, 4, 23)
    assert working_days_before(date(2026, 5, 7), 7, ()) == date(2026, 4, 28)
    # Tuesday 24/02/2026, after Tết: 23 Feb, then nothing back to Friday 13/02.
    assert working_days_before(date(2026, 2, 24), 2, hols) == date(2026, 2, 13)
    assert working_days_before(date(2026, 2, 24), 7, hols) == date(2026, 2, 6)
    # A bridge day from the configuration counts like any holiday.
    bridge = holiday_set([2026], parse_dates("2026-06-05"))
    assert working_days_before(date(2026, 6, 11), 7, bridge) == date(2026, 6, 1)


def test_counting_across_new_year():
    hols = holiday_set([2026, 2027])
    # Tuesday 05/01/2027: 4 Jan | 1 Jan off | 31, 30, 29 Dec.
    assert working_days_before(date(2027, 1, 5), 4, hols) == date(2026, 12, 29)


def test_n_must_be_positive():
    for n in (0, -1):
        with pytest.raises(ValueError, match="at least 1"):
            working_days_before(date(2026, 6, 11), n, ())


def test_a_holiday_list_without_working_days_fails_instead_of_looping():
    class Everything:
        def __contains__(self, item: object) -> bool:
            return True

    with pytest.raises(ValueError, match="holiday list"):
        working_days_before(date(2026, 6, 11), 1, Everything())


# --- due moments ----------------------------------------------------------------------------

MEETING = local(2026, 6, 11, 8, 0)
DEADLINE = local(2026, 5, 15, 23, 59)


def test_notice_goes_out_at_08_local_seven_working_days_before():
    due = notice_due(MEETING, TZ, holiday_set([2026]))
    assert due == utc(2026, 6, 2, 1, 0) and due.tzinfo is UTC
    assert due.astimezone(VN) == local(2026, 6, 2, 8, 0)
    assert notice_due(MEETING, TZ, (), working_days=1, at=time(14, 30)) == utc(2026, 6, 10, 7, 30)
    # The same instant given in UTC makes no difference.
    assert notice_due(MEETING.astimezone(UTC), TZ, ()) == utc(2026, 6, 2, 1, 0)


def test_notice_skips_holidays():
    meeting = local(2026, 5, 7, 8, 0)
    assert notice_due(meeting, TZ, holiday_set([2026])) == utc(2026, 4, 23, 1, 0)


def test_dates_are_the_commune_s_not_utc_s():
    # 06:00 on Thursday 11/06 in Vietnam is 23:00 on Wednesday 10/06 in UTC.
    early = local(2026, 6, 11, 6, 0)
    assert early.astimezone(UTC) == utc(2026, 6, 10, 23, 0)
    assert notice_due(early, TZ, ()) == utc(2026, 6, 2, 1, 0)  # not Monday 01/06
    assert notice_due(early.astimezone(UTC), TZ, ()) == utc(2026, 6, 2, 1, 0)
    assert eve_reminder_due(early, TZ) == utc(2026, 6, 10, 10, 0)  # 17:00 Wednesday, not Tuesday
    assert eve_reminder_due(early.astimezone(UTC), TZ) == utc(2026, 6, 10, 10, 0)
    # A deadline at 00:30 local on 16/05 is still 15/05 in UTC.
    deadline = local(2026, 5, 16, 0, 30)
    assert deadline_reminder_due(deadline.astimezone(UTC), TZ) == utc(2026, 5, 14, 1, 0)
    # West of Greenwich, the other way round: 20:00 on 10/06 in New York is 11/06 in UTC.
    evening = datetime(2026, 6, 10, 20, 0, tzinfo=ZoneInfo("America/New_York"))
    assert evening.astimezone(UTC).date() == date(2026, 6, 11)
    assert eve_reminder_due(evening.astimezone(UTC), "America/New_York") == utc(2026, 6, 9, 21, 0)


def test_deadline_reminder_two_calendar_days_before_at_08():
    due = deadline_reminder_due(DEADLINE, TZ)
    assert due == utc(2026, 5, 13, 1, 0) and due.tzinfo is UTC
    # Calendar days, not working days: a Monday deadline is reminded on Saturday.
    assert deadline_reminder_due(local(2026, 5, 18, 17, 0), TZ) == utc(2026, 5, 16, 1, 0)
    assert deadline_reminder_due(DEADLINE, TZ, days=1, at=time(9, 15)) == utc(2026, 5, 14, 2, 15)


def test_deadline_reminder_falls_back_to_24_hours_before():
    # 08:00 on the deadline's own day, three hours before it closes: in time.
    assert deadline_reminder_due(local(2026, 5, 15, 11, 0), TZ, days=0) == utc(2026, 5, 15, 1, 0)
    # Exactly an hour before the deadline is still in time.
    assert deadline_reminder_due(local(2026, 5, 15, 9, 0), TZ, days=0) == utc(2026, 5, 15, 1, 0)
    # A minute later than that is not: 24 hours before the deadline instead.
    closes = local(2026, 5, 15, 8, 59)
    assert deadline_reminder_due(closes, TZ, days=0) == (closes - timedelta(hours=24)).astimezone(UTC)
    assert deadline_reminder_due(closes, TZ, days=0) == utc(2026, 5, 14, 1, 59)
    # A late hour the day before a deadline just after midnight.
    closes = local(2026, 5, 16, 0, 10)
    assert deadline_reminder_due(closes, TZ, days=1, at=time(23, 30)) == utc(2026, 5, 14, 17, 10)
    with pytest.raises(ValueError):
        deadline_reminder_due(DEADLINE, TZ, days=-1)


def test_eve_reminder_at_17_the_day_before():
    due = eve_reminder_due(MEETING, TZ)
    assert due == utc(2026, 6, 10, 10, 0) and due.tzinfo is UTC
    assert eve_reminder_due(MEETING, TZ, at=time(19, 30)) == utc(2026, 6, 10, 12, 30)
    # The day before, even if it is a Sunday or a holiday.
    assert eve_reminder_due(local(2026, 9, 3, 8, 0), TZ) == utc(2026, 9, 2, 10, 0)


def test_naive_inputs_are_refused():
    naive = datetime(2026, 6, 11, 8, 0)
    with pytest.raises(ValueError, match="timezone-aware"):
        notice_due(naive, TZ, ())
    with pytest.raises(ValueError, match="timezone-aware"):
        deadline_reminder_due(naive, TZ)
    with pytest.raises(ValueError, match="timezone-aware"):
        eve_reminder_due(naive, TZ)
    with pytest.raises(ValueError, match="wall-clock"):
        eve_reminder_due(MEETING, TZ, at=time(17, 0, tzinfo=UTC))


# --- calendar file --------------------------------------------------------------------------

TITLE = "Hội nghị đối thoại giữa Bí thư Đảng ủy - Chủ tịch HĐND xã với Nhân dân năm 2026"
VENUE = "Hội trường Nhà Văn hoá trung tâm xã Gia Phúc; thôn Phong Lâm"
DESCRIPTION = (
    "Chủ trì: Bí thư Đảng ủy - Chủ tịch HĐND xã.\n"
    "Nội dung: kinh tế - xã hội, đất đai, xây dựng; chủ trương, chính sách, pháp luật.\n"
    "Mời Ông/Bà đến đúng giờ, mang theo giấy mời."
)
NOW = utc(2026, 5, 20, 3, 4, 5)


def ics(**overrides: object) -> bytes:
    kwargs: dict[str, object] = dict(
        uid="GP-2026@doithoai",
        title=TITLE,
        starts_at=MEETING,
        ends_at=local(2026, 6, 11, 11, 30),
        venue=VENUE,
        description=DESCRIPTION,
        alarm_text=Translator("vi")("calendar.alarm"),
        tz=TZ,
        latitude=20.2506,
        longitude=105.9745,
        organizer_name="UBND xã Gia Phúc",
        now=NOW,
    )
    kwargs.update(overrides)
    return meeting_ics(**kwargs)  # type: ignore[arg-type]


def assert_valid_ics(data: bytes) -> None:
    """The RFC 5545 rules a hand check can make: lines, nesting, required properties."""
    assert data.endswith(b"\r\n")
    assert b"\n" not in data.replace(b"\r\n", b"")
    for raw in data.split(b"\r\n")[:-1]:
        assert len(raw) <= 75, raw  # octets (§3.1)
        raw.decode("utf-8")  # folding never splits a character
    unfolded = re.sub(rb"\r\n[ \t]", b"", data).decode("utf-8").split("\r\n")[:-1]
    stack: list[tuple[str, dict[str, list[str]]]] = []
    seen: list[tuple[str, dict[str, list[str]]]] = []
    for line in unfolded:
        name = re.split(r"[;:]", line, maxsplit=1)[0].upper()
        if name == "BEGIN":
            stack.append((line[6:], {}))
            seen.append(stack[-1])
        elif name == "END":
            assert stack.pop()[0] == line[4:]
        else:
            assert stack, line
            stack[-1][1].setdefault(name, []).append(line)
    assert stack == []
    components = [c for c, _ in seen]
    assert components[0] == "VCALENDAR" and components.count("VEVENT") == 1
    required = {
        "VCALENDAR": ("PRODID", "VERSION"),
        "VEVENT": ("UID", "DTSTAMP", "DTSTART"),
        "VALARM": ("ACTION", "TRIGGER", "DESCRIPTION"),
        "VTIMEZONE": ("TZID",),
        "STANDARD": ("DTSTART", "TZOFFSETFROM", "TZOFFSETTO"),
        "DAYLIGHT": ("DTSTART", "TZOFFSETFROM", "TZOFFSETTO"),
    }
    for component, found in seen:
        for prop in required.get(component, ()):
            assert len(found.get(prop, [])) == 1, (component, prop)
    tzids = set(re.findall(r";TZID=([^:;]+)", "\n".join(unfolded)))
    defined = {found["TZID"][0].split(":", 1)[1] for c, found in seen if c == "VTIMEZONE"}
    assert tzids <= defined


def test_meeting_ics_is_a_valid_calendar_with_every_field():
    data = ics()
    assert_valid_ics(data)
    calendar = Calendar.from_ical(data)
    assert calendar["PRODID"] == PRODID
    assert calendar["VERSION"] == "2.0"
    assert calendar["METHOD"] == "PUBLISH"
    assert calendar.get_missing_tzids() == set()
    assert [tz.tz_name for tz in calendar.timezones] == [TZ]

    [event] = calendar.walk("VEVENT")
    assert event["UID"] == "GP-2026@doithoai"
    assert event.decoded("DTSTAMP") == NOW
    assert event["SUMMARY"] == TITLE
    assert event["LOCATION"] == VENUE
    assert event["DESCRIPTION"] == DESCRIPTION
    assert event["CONTACT"] == "UBND xã Gia Phúc"
    assert (event["GEO"].latitude, event["GEO"].longitude) == (20.2506, 105.9745)

    start, end = event.decoded("DTSTART"), event.decoded("DTEND")
    assert event["DTSTART"].params["TZID"] == TZ
    assert str(start.tzinfo) == TZ
    assert start == local(2026, 6, 11, 8, 0) and start.astimezone(UTC) == utc(2026, 6, 11, 1, 0)
    assert end.astimezone(UTC) == utc(2026, 6, 11, 4, 30)

    [alarm] = event.walk("VALARM")
    assert alarm["ACTION"] == "DISPLAY"
    assert alarm["DESCRIPTION"] == "Nhắc lịch hội nghị"
    assert alarm.decoded("TRIGGER") == timedelta(days=-1)


def test_meeting_ics_text_is_utf8_with_diacritics_and_folded():
    data = ics(title=TITLE + " — " + TITLE)
    text = data.decode("utf-8")
    assert "Nhắc lịch hội nghị" in text
    assert "DTSTART;TZID=Asia/Ho_Chi_Minh:20260611T080000\r\n" in text
    assert "DTSTAMP:20260520T030405Z\r\n" in text
    assert "GEO:20.2506;105.9745\r\n" in text
    assert "TRIGGER:-P1D\r\n" in text
    # Commas, semicolons and line breaks are escaped, not taken as structure.
    assert "Gia Phúc\\; thôn Phong Lâm" in re.sub(r"\r\n[ \t]", "", text)
    assert "\r\n " in text  # the long lines were folded
    assert Calendar.from_ical(data).walk("VEVENT")[0]["SUMMARY"] == TITLE + " — " + TITLE


def test_meeting_ics_alarm_says_the_text_it_is_given():
    english = Translator("en")("calendar.alarm")
    assert english != Translator("vi")("calendar.alarm")
    [alarm] = Calendar.from_ical(ics(alarm_text=english)).walk("VALARM")
    assert alarm["DESCRIPTION"] == english


def test_meeting_ics_without_optional_fields():
    data = ics(latitude=None, longitude=None, organizer_name=None)
    assert_valid_ics(data)
    [event] = Calendar.from_ical(data).walk("VEVENT")
    assert "GEO" not in event and "CONTACT" not in event and "ORGANIZER" not in event


def test_meeting_ics_times_given_in_utc_are_written_in_the_commune_s_zone():
    data = ics(starts_at=utc(2026, 6, 11, 1, 0), ends_at=utc(2026, 6, 11, 4, 30))
    assert b"DTSTART;TZID=Asia/Ho_Chi_Minh:20260611T080000\r\n" in data
    assert b"DTEND;TZID=Asia/Ho_Chi_Minh:20260611T113000\r\n" in data


def test_meeting_ics_falls_back_to_utc_without_a_timezone_definition(monkeypatch):
    monkeypatch.setattr(Calendar, "add_missing_timezones", lambda self, **kwargs: None)
    data = ics()
    assert_valid_ics(data)
    assert b"VTIMEZONE" not in data and b"TZID" not in data
    assert b"DTSTART:20260611T010000Z\r\n" in data
    [event] = Calendar.from_ical(data).walk("VEVENT")
    assert event.decoded("DTSTART") == utc(2026, 6, 11, 1, 0)


def test_meeting_ics_refuses_what_makes_no_sense():
    with pytest.raises(ValueError, match="timezone-aware"):
        ics(starts_at=datetime(2026, 6, 11, 8, 0))
    with pytest.raises(ValueError, match="timezone-aware"):
        ics(now=datetime(2026, 5, 20))
    with pytest.raises(ValueError, match="before it starts"):
        ics(ends_at=MEETING)
    with pytest.raises(ValueError, match="go together"):
        ics(longitude=None)
