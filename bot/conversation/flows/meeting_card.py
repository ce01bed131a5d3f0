"""The meeting card: "Lịch hội nghị"."""

from __future__ import annotations

from bot.conversation.context import Context
from bot.services.meetings import card as meeting_card


async def show(ctx: Context, *, with_menu: bool = False) -> None:
    found = await ctx.meeting()
    keyboard = ctx.menu() if with_menu else None
    if found is None:
        ctx.say(ctx.tr("meeting.none"), keyboard=keyboard)
        return
    meeting, commune = found
    text = meeting_card(meeting, commune, ctx.tr)
    if not ctx.registration_open(meeting):
        text += "\n\n" + ctx.tr("meeting.registration_closed_note")
    location = (meeting.latitude, meeting.longitude) if meeting.latitude is not None and meeting.longitude is not None else None
    ctx.say(text, keyboard=keyboard, location=location)
