"""/tatthongbao and /batthongbao: a resident turns meeting notices off or on.

Answers to their own questions are delivered either way.
"""

from __future__ import annotations

from bot.conversation.context import Context


async def switch(ctx: Context, on: bool) -> None:
    assert ctx.resident is not None
    ctx.resident.notices = on
    ctx.say(ctx.tr("notices.on" if on else "notices.off"), keyboard=ctx.menu() if not ctx.in_form else None)
