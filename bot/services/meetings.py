"""A meeting as residents read it: the card sent on /start, with notices and in reminders."""

from __future__ import annotations

from bot.text.catalogue import Translator
from bot.text.formatting import date, local, time, weekday, when
from storage.models import Commune, Meeting


def card(meeting: Meeting, commune: Commune, tr: Translator) -> str:
    start = local(meeting.starts_at, commune.timezone)
    end = local(meeting.ends_at, commune.timezone)
    return tr(
        "meeting.card",
        title=meeting.title,
        commune=commune.name,
        weekday=weekday(start, tr.lang),
        date=date(start),
        start=time(start),
        end=time(end),
        venue=meeting.venue,
        deadline=when(meeting.registration_closes_at, commune.timezone, tr),
    )
