"""/xoadulieu: erase the resident's name, phone and chat identity; their questions stay, anonymised."""

from __future__ import annotations

from bot.conversation.context import Context
from bot.domain.messages import Button

CONFIRM = "x:y"
KEEP = "x:n"


async def ask(ctx: Context) -> None:
    if ctx.resident is None:
        ctx.say(ctx.tr("forget.nothing_stored"))
        return
    ctx.say(
        ctx.tr("forget.confirm"),
        buttons=[[Button(ctx.tr("forget.yes"), CONFIRM)], [Button(ctx.tr("forget.no"), KEEP)]],
    )


async def on_button(ctx: Context, data: str) -> None:
    resident = ctx.resident
    if resident is None:
        ctx.toast(ctx.tr("button.expired"))
        ctx.retire_buttons()
        return
    ctx.retire_buttons()
    if data == KEEP:
        ctx.toast(ctx.tr("forget.kept"))
        ctx.say(ctx.tr("forget.kept"), keyboard=ctx.menu())
        return
    assert resident.id is not None
    count = await ctx.uow.submissions.anonymise_for(resident.id)
    # Queued messages carry the resident's name and questions: they go too.
    await ctx.uow.outbox.forget_chat(resident.channel, resident.chat_id)
    await ctx.uow.choices.forget(resident.channel, resident.chat_id)
    await ctx.uow.residents.delete(resident)
    ctx.resident = None
    ctx.toast(ctx.tr("forget.done_toast"))
    ctx.say(ctx.tr("forget.done", count=count), remove_keyboard=True)
