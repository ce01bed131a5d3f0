"""How to use the bot: "Hướng dẫn"."""

from __future__ import annotations

from bot.conversation.context import Context


async def show(ctx: Context) -> None:
    ctx.say(ctx.tr("help.text"), keyboard=ctx.menu() if ctx.resident else None)
