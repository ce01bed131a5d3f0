"""Greeting and consent to personal-data processing (Law 91/2025/QH15, Decree 13/2023/NĐ-CP).

Nothing about a person is stored before they press "Đồng ý": a village chosen through a deep
link travels inside the consent button's data, not in the database.
"""

from __future__ import annotations

from bot.conversation.context import Context
from bot.conversation.flows import registration
from bot.domain.callbacks import Consent
from bot.domain.choices import Choice
from bot.domain.messages import Button, number
from bot.services.meetings import card as meeting_card
from storage.models import Resident


async def village_from_payload(ctx: Context, payload: str) -> int | None:
    """A deep link "v12" names village 12; only a village the open meeting invites counts."""
    payload = payload.strip()
    village_id = number(payload[1:]) if payload.startswith("v") else None
    if village_id is None:
        return None
    found = await ctx.meeting()
    if found is None:
        return None
    villages = await ctx.uow.meetings.invited_villages(found[0].id)  # type: ignore[arg-type]
    return village_id if any(v.id == village_id for v in villages) else None


async def greet(ctx: Context, payload: str = "") -> None:
    """/start for someone who has not consented: who we are, the meeting, then the consent question."""
    found = await ctx.meeting()
    if found is None:
        intro = ctx.tr("start.greeting_no_meeting")
    else:
        meeting, commune = found
        intro = ctx.tr("start.greeting", commune=commune.name) + "\n\n" + meeting_card(meeting, commune, ctx.tr)
    ctx.say(intro)
    await ask(ctx, await village_from_payload(ctx, payload))


def _buttons(ctx: Context, village_id: int | None = None) -> list[Button]:
    accept = Consent("y", f"v{village_id}" if village_id else "")
    return [Button(ctx.tr("consent.accept"), accept.pack()), Button(ctx.tr("consent.decline"), Consent("n").pack())]


def choices(ctx: Context) -> list[Choice]:
    """Consent's choices, typed back on a channel without buttons (where nothing is remembered for
    someone who has not consented)."""
    return [Choice(b.label, data=b.data) for b in _buttons(ctx)]


async def ask(ctx: Context, village_id: int | None = None) -> None:
    ctx.say(ctx.tr("consent.text"), buttons=[_buttons(ctx, village_id)])


async def on_button(ctx: Context, pressed: Consent) -> None:
    if ctx.resident is not None:
        ctx.toast(ctx.tr("consent.already"))
        ctx.retire_buttons()
        return
    ctx.retire_buttons()
    if pressed.answer == "n":
        ctx.say(ctx.tr("consent.declined"))
        return
    event = ctx.event
    ctx.resident = ctx.uow.residents.add(
        Resident(
            channel=event.channel,
            external_id=event.user_id,
            chat_id=event.chat_id,
            language=ctx.tr.lang,
            consented_at=ctx.now,
            created_at=ctx.now,
            state={},
        )
    )
    await ctx.uow.flush()
    ctx.toast(ctx.tr("consent.thanks_toast"))
    # Consent given from a poster's link goes straight on to the form, that village chosen
    # (if the plan still invites it): the thanks then says so, rather than pointing to the menu.
    village = await village_from_payload(ctx, pressed.start) if pressed.start else None
    if village is None:
        ctx.say(ctx.tr("consent.thanks"), keyboard=ctx.menu())
        return
    ctx.resident.village_id = village
    found = await ctx.meeting()
    opens = found is not None and ctx.registration_open(found[0])
    ctx.say(ctx.tr("consent.thanks_form" if opens else "consent.thanks"), keyboard=ctx.menu())
    await registration.start(ctx, preset_village=village)  # past the deadline: says so
