"""A village head links their own Zalo account: the console shows them a one-time code, they send it
to the Zalo bot or OA ("/lienket K7MX-29QP", or the code alone), and from then on the head's
commands work from that chat. Only where staff are known by a Zalo id (bot/domain/channels.py)."""

from __future__ import annotations

from bot.conversation.context import Context
from bot.domain import staff as staff_words
from bot.domain.channels import staff_binding
from bot.domain.messages import Kind
from bot.services.staff import LINK_CODE, link_zalo

COMMANDS = ("lienket", "link")


def wanted(ctx: Context) -> bool:
    """This message asks to link the chat: the command, or a message that is nothing but a code."""
    event = ctx.event
    if not event.private or staff_binding(event.channel) != "zalo":
        return False
    if event.kind == Kind.COMMAND:
        return event.command in COMMANDS
    return event.kind == Kind.TEXT and LINK_CODE.fullmatch(event.text.strip()) is not None


async def on_message(ctx: Context) -> None:
    event = ctx.event
    code = event.args if event.kind == Kind.COMMAND else event.text
    if not code.strip():
        ctx.say(ctx.tr("link.how"))
        return
    linked = await link_zalo(ctx.uow, code, channel=event.channel, user_id=event.user_id, now=ctx.now)  # type: ignore[arg-type]
    if linked.staff is None:
        ctx.say(ctx.tr(f"link.{linked.outcome}"))
        return
    ctx.staff = linked.staff
    ctx.say(ctx.tr("link.done", name=linked.staff.name))
    if linked.staff.role in staff_words.COMMAND_ROLES:
        ctx.say(ctx.tr("vh.help"))
