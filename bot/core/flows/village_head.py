"""Village heads (trưởng thôn, tổ trưởng tổ dân phố) in the bot: /thongbao, /nhapphieu, /thon.

Staff commands are invisible to residents: anyone who is not a village head (or the commune's
secretariat or an admin, who may act for any village) gets the same answer as for an unknown
command. Every check is made here, on the server, against the staff member's own villages.
"""

from __future__ import annotations

import secrets

from bot.core.context import Context
from bot.core.flows import registration
from bot.core.io import Button, Kind
from bot.services.notices import VILLAGE_NOTICE_MAX as NOTICE_MAX
from bot.services.notices import notify_villages, village_recipients
from bot.services.staff import ADMIN, SECRETARIAT, VILLAGE_HEAD, Actor, actor_for

COMMANDS = {"thongbao": "village_notice", "nhapphieu": "paper_form", "thon": "village_figures"}
STAFF_ROLES = (VILLAGE_HEAD, SECRETARIAT, ADMIN)


async def _actor(ctx: Context) -> Actor | None:
    if ctx.staff is None or ctx.staff.role not in STAFF_ROLES:
        return None
    return await actor_for(ctx.uow, ctx.staff)


async def _my_villages(ctx: Context, actor: Actor) -> list:
    found = await ctx.meeting()
    if found is not None:
        villages = list(await ctx.uow.meetings.invited_villages(found[0].id))  # type: ignore[arg-type]
    else:
        villages = []
    if actor.role == VILLAGE_HEAD:
        # A head's villages even when the current meeting does not invite them.
        own = [v for v in [await ctx.uow.meetings.village(i) for i in sorted(actor.village_ids)] if v is not None]
        villages = own
    return villages


async def command(ctx: Context, command: str) -> bool:
    """Handle a staff command; False when this person may not use it (the caller answers as for any unknown command)."""
    actor = await _actor(ctx)
    if actor is None:
        return False
    ctx.staff_mode = True
    ctx.set_state({})
    if command == "paper_form":
        await registration.start(ctx, paper=True)
    elif command == "village_notice":
        villages = await _my_villages(ctx, actor)
        tok = secrets.token_hex(3)
        if len(villages) == 1:
            ctx.set_state({"flow": "notice", "step": "text", "tok": tok, "village_id": villages[0].id})
            ctx.say(ctx.tr("vh.ask_notice", village=villages[0].name, max=NOTICE_MAX))
        else:
            ctx.set_state({"flow": "notice", "step": "village", "tok": tok})
            ctx.say(ctx.tr("vh.pick_village"), buttons=[[Button(v.name, f"vh:{tok}:v:{v.id}")] for v in villages])
    else:
        await _figures(ctx, actor)
    return True


async def _recipients(ctx: Context, village_id: int) -> list:
    return await village_recipients(ctx.uow, [village_id])


async def on_message(ctx: Context) -> None:
    state = ctx.state
    if state.get("step") != "text":
        ctx.say(ctx.tr("form.press_a_button"))
        return
    if ctx.event.kind != Kind.TEXT:
        ctx.say(ctx.tr("vh.text_only"))
        return
    text = ctx.event.text.strip()
    if not 5 <= len(text) <= NOTICE_MAX:
        ctx.say(ctx.tr("vh.notice_length", max=NOTICE_MAX, length=len(text)))
        return
    village = await ctx.uow.meetings.village(state["village_id"])
    assert village is not None
    count = len(await _recipients(ctx, state["village_id"]))
    tok = secrets.token_hex(3)
    ctx.set_state({**state, "step": "confirm", "text": text, "tok": tok})
    ctx.say(
        ctx.tr("vh.preview", village=village.name, count=count, text=text),
        buttons=[[Button(ctx.tr("review.send"), f"vh:{tok}:send:"), Button(ctx.tr("review.cancel"), f"vh:{tok}:cancel:")]],
    )


async def on_button(ctx: Context, data: str) -> None:
    parts = data.split(":")
    state = ctx.state
    actor = await _actor(ctx)
    if actor is None or len(parts) != 4 or state.get("flow") != "notice" or parts[1] != state.get("tok"):
        ctx.toast(ctx.tr("button.expired"))
        ctx.retire_buttons()
        return
    ctx.retire_buttons()
    action, value = parts[2], parts[3]
    if action == "v" and state.get("step") == "village" and value.isdigit() and actor.may_act_for_village(int(value)):
        village = await ctx.uow.meetings.village(int(value))
        if village is not None:
            ctx.set_state({**state, "step": "text", "village_id": village.id, "tok": secrets.token_hex(3)})
            ctx.say(ctx.tr("vh.ask_notice", village=village.name, max=NOTICE_MAX))
            return
    if action == "cancel":
        ctx.set_state({})
        ctx.say(ctx.tr("vh.cancelled"))
        return
    if action == "send" and state.get("step") == "confirm" and actor.may_act_for_village(state["village_id"]):
        await _send(ctx, actor, state)
        return
    ctx.toast(ctx.tr("button.expired"))


async def _send(ctx: Context, actor: Actor, state: dict) -> None:
    village = await ctx.uow.meetings.village(state["village_id"])
    assert village is not None and ctx.staff is not None
    count = await notify_villages(ctx.uow, actor, [state["village_id"]], state["text"], sender=ctx.staff.name, now=ctx.now)
    ctx.set_state({})
    ctx.toast(ctx.tr("vh.queued_toast"))
    ctx.say(ctx.tr("vh.queued", count=count, village=village.name))


async def _figures(ctx: Context, actor: Actor) -> None:
    ctx.set_state({})
    villages = await _my_villages(ctx, actor)
    blocks = []
    for village in villages:
        residents = await ctx.uow.residents.in_villages([village.id])
        subs = [s for s in await ctx.uow.submissions.for_village(village.id)]
        by_status: dict[str, int] = {}
        for s in subs:
            by_status[s.status] = by_status.get(s.status, 0) + 1
        statuses = ", ".join(f"{ctx.tr('status.' + k)}: {v}" for k, v in sorted(by_status.items())) or ctx.tr("vh.none")
        delivered = await ctx.uow.outbox.answers_sent([s.ref for s in subs])
        paper = sum(1 for s in subs if s.channel == "paper")
        blocks.append(ctx.tr("vh.figures", village=village.name, residents=len(residents), submissions=len(subs),
                             paper=paper, statuses=statuses, delivered=delivered))
    ctx.say("\n\n".join(blocks) if blocks else ctx.tr("vh.no_villages"))
