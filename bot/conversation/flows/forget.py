"""/xoadulieu: erase the resident's name, phone and chat identity; their questions stay, anonymised."""

from __future__ import annotations

from bot.conversation.context import Context
from bot.domain.callbacks import Forget
from bot.domain.messages import Button
from bot.services import privacy


async def ask(ctx: Context) -> None:
    if ctx.resident is None:
        ctx.say(ctx.tr("forget.nothing_stored"))
        return
    ctx.say(
        ctx.tr("forget.confirm"),
        buttons=[[Button(ctx.tr("forget.yes"), Forget("y").pack())], [Button(ctx.tr("forget.no"), Forget("n").pack())]],
    )


async def on_button(ctx: Context, pressed: Forget) -> None:
    resident = ctx.resident
    if resident is None:
        ctx.toast(ctx.tr("button.expired"))
        ctx.retire_buttons()
        return
    ctx.retire_buttons()
    if pressed.answer == "n":
        ctx.toast(ctx.tr("forget.kept"))
        ctx.say(ctx.tr("forget.kept"), keyboard=ctx.menu())
        return
    count = await privacy.forget(ctx.uow, resident)
    ctx.resident = None
    ctx.toast(ctx.tr("forget.done_toast"))
    ctx.say(ctx.tr("forget.done", count=count), remove_keyboard=True)
