"""When a meeting's notices and reminders are due, and its calendar file.

The commune's plan says the meeting notice goes out "7 working days before the meeting".
Working days are Monday to Friday minus Vietnam's public holidays: the defaults from the
`holidays` package (Tết, Giỗ Tổ Hùng Vương, 30/4, 1/5, 2/9 and the days off in lieu) plus the
dates configuration adds, because the government announces each year's bridge days
(ngày nghỉ bù, hoán đổi ngày làm việc) only a few months ahead.

Dates are always reckoned in the commune's own timezone, never in UTC: a meeting at 06:00 in
Hà Nội is still the previous day in UTC, and its notice and reminders must follow the
residents' calendar. Every due moment is returned as an aware UTC datetime, the way the
database stores times.

Nothing here reads the clock, the database, the configuration or the message catalogues:
callers pass them in (the calendar alarm's text among them).
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterable
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

__all__ = [
    "PRODID",
    "deadline_reminder_due",
    "eve_reminder_due",
    "holiday_set",
    "is_working_day",
    "meeting_ics",
    "notice_due",
    "parse_dates",
    "working_days_before",
]

PRODID = "-//doithoai//dialogue meeting//VI"

# Tết with its weekends and bridge days, the longest real run of days off, is about ten days.
# A year without a working day means the holiday list is wrong (or a container that holds
# every date): failing beats looping for ever or scheduling a notice a year early.
_MAX_DAYS_OFF_IN_A_ROW = 366

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


# --- holidays -------------------------------------------------------------------------------


def holiday_set(
    years: Iterable[int], extra: Iterable[date] = (), *, defaults: bool = True
) -> frozenset[date]:
    """Vietnam's public holidays in `years` (with `defaults`), plus the `extra` dates.

    The defaults are `holidays.country_holidays("VN")` with its observed days: a holiday that
    falls on a weekend gives a day off in lieu, and the package also carries the bridge days
    the government has already announced. `extra` are taken as given, whatever their year.
    """
    days: set[date] = set()
    for day in extra:
        # A datetime would never compare equal to a date, so it would silently match nothing.
        if isinstance(day, datetime) or not isinstance(day, date):
            raise TypeError(f"holiday must be a date, not {day!r}")
        days.add(day)
    wanted = sorted(set(years))
    if defaults and wanted:
        from holidays import country_holidays  # a tenth of a second of imports, for the commands that need it

        days.update(country_holidays("VN", years=wanted))
    return frozenset(days)


def parse_dates(text: str) -> list[date]:
    """The dates of a configuration value, sorted and without repeats.

    Items are ISO dates (`2026-01-02`) or inclusive ranges (`2026-02-14..2026-02-22`),
    separated by commas and/or whitespace; spaces around `..` are allowed. An empty text
    gives no dates. A malformed item, an impossible date or a range that ends before it
    starts raises ValueError naming the item.
    """
    normalised = re.sub(r"\s*\.\.\s*", "..", text.strip())
    days: set[date] = set()
    for item in re.split(r"[,\s]+", normalised):
        if not item:
            continue
        first, sep, last = item.partition("..")
        start = _parse_iso(first, item)
        end = _parse_iso(last, item) if sep else start
        if end < start:
            raise ValueError(f"date range ends before it starts: {item!r}")
        days.update(start + timedelta(days=i) for i in range((end - start).days + 1))
    return sorted(days)


def _parse_iso(text: str, item: str) -> date:
    # date.fromisoformat alone would also take "20260214" and week dates since Python 3.11;
    # configuration should hold one spelling only.
    if not _ISO_DATE.fullmatch(text):
        raise ValueError(f"not a date (YYYY-MM-DD) or a range (YYYY-MM-DD..YYYY-MM-DD): {item!r}")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"no such date: {item!r}") from None


# --- working days ---------------------------------------------------------------------------


def is_working_day(d: date, holidays: Container[date]) -> bool:
    """Monday to Friday and not in `holidays`.

    A Saturday the government swaps in as a working day (e.g. 22/08/2026 for 31/08/2026) still
    counts as a day off here: commune offices do not all work it, and counting it could only
    make a notice later, never earlier.
    """
    return d.weekday() < 5 and d not in holidays


def working_days_before(day: date, n: int, holidays: Container[date]) -> date:
    """The date that is `n` working days before `day`.

    Counting starts from the day before `day`: the first working day strictly before `day`
    is 1, the one before it 2, and so on. `day` itself is never counted, so it does not matter
    whether it is a working day. Example: Thursday 11/06/2026, n=1 → Wednesday 10/06/2026;
    Monday 15/06/2026, n=1 → Friday 12/06/2026; Sunday 14/06/2026, n=1 → Friday 12/06/2026.

    `n` must be at least 1.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, not {n}")
    d = day
    days_off = 0
    while n:
        d -= timedelta(days=1)
        if is_working_day(d, holidays):
            n -= 1
            days_off = 0
        else:
            days_off += 1
            if days_off > _MAX_DAYS_OFF_IN_A_ROW:
                raise ValueError(
                    f"over {_MAX_DAYS_OFF_IN_A_ROW} days off in a row before {day}:"
                    " is the holiday list right?"
                )
    return d


# --- due moments ----------------------------------------------------------------------------


def notice_due(
    meeting_start: datetime,
    tz: str,
    holidays: Container[date],
    *,
    working_days: int = 7,
    at: time = time(8, 0),
) -> datetime:
    """`at` (local) on the day `working_days` working days before the meeting's local date."""
    zone = ZoneInfo(tz)
    meeting_day = _local_date(meeting_start, zone, "meeting_start")
    return _moment(working_days_before(meeting_day, working_days, holidays), at, zone)


def deadline_reminder_due(
    closes_at: datetime, tz: str, *, days: int = 2, at: time = time(8, 0)
) -> datetime:
    """`at` (local) `days` calendar days before the registration deadline's local date.

    When that moment would leave less than an hour before the deadline (a short `days`, a late
    `at` or an early deadline), the reminder goes 24 hours before the deadline instead: a
    reminder the resident has no time to act on is no reminder.
    """
    if days < 0:
        raise ValueError(f"days must not be negative, not {days}")
    zone = ZoneInfo(tz)
    deadline_day = _local_date(closes_at, zone, "closes_at")
    due = _moment(deadline_day - timedelta(days=days), at, zone)
    if due > closes_at - timedelta(hours=1):
        return (closes_at - timedelta(hours=24)).astimezone(timezone.utc)
    return due


def eve_reminder_due(meeting_start: datetime, tz: str, *, at: time = time(17, 0)) -> datetime:
    """`at` (local) on the day before the meeting's local date."""
    zone = ZoneInfo(tz)
    meeting_day = _local_date(meeting_start, zone, "meeting_start")
    return _moment(meeting_day - timedelta(days=1), at, zone)


def _require_aware(moment: datetime, name: str) -> None:
    # A naive datetime would be read as the server's local time, which is nobody's timezone.
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, not {moment!r}")


def _local_date(moment: datetime, zone: ZoneInfo, name: str) -> date:
    _require_aware(moment, name)
    return moment.astimezone(zone).date()


def _moment(day: date, at: time, zone: ZoneInfo) -> datetime:
    if at.tzinfo is not None:
        raise ValueError(f"at is a wall-clock time in the commune's timezone, not {at!r}")
    return datetime.combine(day, at, tzinfo=zone).astimezone(timezone.utc)


# --- calendar file --------------------------------------------------------------------------


def meeting_ics(
    *,
    uid: str,
    title: str,
    starts_at: datetime,
    ends_at: datetime,
    venue: str,
    description: str,
    alarm_text: str,
    tz: str,
    latitude: float | None = None,
    longitude: float | None = None,
    organizer_name: str | None = None,
    now: datetime,
) -> bytes:
    """The meeting as an RFC 5545 calendar file (UTF-8, CRLF, lines folded at 75 octets).

    One VEVENT, published (METHOD:PUBLISH) rather than an invitation, with its times in the
    commune's timezone and the matching VTIMEZONE, so calendar apps show the residents' wall
    clock whatever the phone's own setting; if icalendar cannot describe the timezone, the
    times are written in UTC instead. A display alarm fires a day before the start, showing
    `alarm_text` (the catalogue's "calendar.alarm", in the residents' language).

    `uid` must stay the same for the same meeting, so that a re-sent file updates the event
    instead of adding a second one. `organizer_name` becomes CONTACT: ORGANIZER must be an
    address (RFC 5545 §3.8.4.3), and the commune has none to give.
    """
    from icalendar import Alarm, Calendar, Event  # imported here: most commands never build a calendar

    for name, moment in (("starts_at", starts_at), ("ends_at", ends_at), ("now", now)):
        _require_aware(moment, name)
    if ends_at <= starts_at:
        raise ValueError(f"the meeting ends ({ends_at}) before it starts ({starts_at})")
    if (latitude is None) != (longitude is None):
        raise ValueError("latitude and longitude go together")
    zone = ZoneInfo(tz)

    def build(tzinfo: ZoneInfo | timezone) -> "Calendar":
        calendar = Calendar()
        calendar.add("prodid", PRODID)
        calendar.add("version", "2.0")
        calendar.add("method", "PUBLISH")

        event = Event()
        event.add("uid", uid)
        event.add("dtstamp", now.astimezone(timezone.utc))
        event.add("dtstart", starts_at.astimezone(tzinfo))
        event.add("dtend", ends_at.astimezone(tzinfo))
        event.add("summary", title)
        event.add("location", venue)
        event.add("description", description)
        if latitude is not None and longitude is not None:
            event.add("geo", (latitude, longitude))
        if organizer_name:
            event.add("contact", organizer_name)

        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("trigger", timedelta(days=-1))
        alarm.add("description", alarm_text)
        event.add_component(alarm)

        calendar.add_component(event)
        return calendar

    calendar = build(zone)
    # The definition only has to hold around the meeting and its alarm; the default span
    # (1970-2038) would carry decades of transitions for zones with daylight saving time.
    calendar.add_missing_timezones(
        first_date=starts_at.astimezone(zone).date() - timedelta(days=7),
        last_date=ends_at.astimezone(zone).date() + timedelta(days=7),
    )
    if calendar.get_missing_tzids():
        calendar = build(timezone.utc)
    data: bytes = calendar.to_ical()  # untyped in icalendar
    return data
