"""Meetings as people read them: the card residents are sent on /start, with notices and in
reminders, and the overview the operator lists."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.services.access import meetings_in_reach
from bot.services.staff import Actor
from bot.text.catalogue import Translator
from bot.text.formatting import date, local, time, weekday, when
from storage.models import Commune, Meeting
from storage.uow import UnitOfWork


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


async def overview(uow: UnitOfWork, actor: Actor, *, now: datetime) -> list[dict[str, Any]]:
    """Every meeting the actor may see, with its villages and topics, times in its commune's zone
    (the shape `doithoai meeting list --json` gives other tools)."""
    out = []
    for meeting, commune in await meetings_in_reach(uow, actor):
        assert meeting.id is not None
        out.append(
            {
                "code": meeting.code,
                "commune": commune.code,
                "commune_name": commune.name,
                "title": meeting.title,
                "starts_at": local(meeting.starts_at, commune.timezone).isoformat(),
                "ends_at": local(meeting.ends_at, commune.timezone).isoformat(),
                "venue": meeting.venue,
                "registration_closes_at": local(meeting.registration_closes_at, commune.timezone).isoformat(),
                "villages": [v.name for v in await uow.meetings.invited_villages(meeting.id)],
                "topics": [t.name for t in await uow.meetings.topics(meeting.id)],
                "registration_open": now <= meeting.registration_closes_at,
            }
        )
    return out


async def commune_code_of(uow: UnitOfWork, meeting_code: str) -> str | None:
    """The code of the commune a meeting belongs to (None: no such meeting, which the caller's next
    step refuses in its own words)."""
    meeting = await uow.meetings.by_code(meeting_code)
    commune = await uow.communes.get(meeting.commune_id) if meeting is not None else None
    return commune.code if commune is not None else None
