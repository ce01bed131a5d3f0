"""Village heads (trưởng thôn, tổ trưởng tổ dân phố) in the bot: /thongbao, /nhapphieu, /thon.

Staff commands are invisible to residents: anyone who is not a village head (or the commune's
secretariat or an admin, who may act for any village) gets the same answer as for an unknown
command. Every check is made here, on the server, against the staff member's own villages.
"""

from __future__ import annotations

import secrets

from bot.conversation.context import Context
from bot.conversation.flows import registration
from bot.domain import staff as staff_words
from bot.domain import validation as textrules
from bot.domain.callbacks import VillageNotice
from bot.domain.messages import Button, FileUnavailable, Kind, number
from bot.services.access import may_act_in_village
from bot.services.answers import to_hand_over
from bot.services.filetypes import file_name, sniff
from bot.services.notices import NOTICE_FILE_MAX, drop_notice_file, keep_notice_file, notify_villages, village_recipients
from bot.services.notices import VILLAGE_NOTICE_MAX as NOTICE_MAX
from bot.services.staff import VILLAGE_HEAD, Actor, actor_for
from bot.text.formatting import shorten


async def _actor(ctx: Context) -> Actor | None:
    """The staff member, when they work for this bot's commune: another commune's staff are residents here."""
    if ctx.staff is None or ctx.staff.role not in staff_words.COMMAND_ROLES:
        return None
    actor = await actor_for(ctx.uow, ctx.staff)
    commune = await ctx.commune()
    if commune is None or commune.id is None or not actor.may_see_commune(commune.id):
        return None
    return actor


async def _my_villages(ctx: Context, actor: Actor) -> list:
    found = await ctx.meeting()
    if found is not None:
        villages = list(await ctx.uow.meetings.invited_villages(found[0].id))  # type: ignore[arg-type]
    else:
        villages = []
    if actor.role == VILLAGE_HEAD:
        # A head's villages even when the current meeting does not invite them; only this bot's commune's.
        commune = await ctx.commune()
        own = [await ctx.uow.meetings.village(i) for i in sorted(actor.village_ids)]
        villages = [v for v in own if v is not None and commune is not None and v.commune_id == commune.id]
    return [v for v in villages if may_act_in_village(actor, v)]


async def command(ctx: Context, command: str) -> bool:
    """Handle a staff command; False when this person may not use it (the caller answers as for any unknown command)."""
    actor = await _actor(ctx)
    if actor is None:
        return False
    ctx.staff_mode = True
    await abandon(ctx)
    if command == "paper_form":
        await registration.start(ctx, paper=True)
    elif command == "village_notice":
        villages = await _my_villages(ctx, actor)
        tok = secrets.token_hex(3)
        if len(villages) == 1:
            ctx.set_state({"flow": "notice", "step": "text", "tok": tok, "village_id": villages[0].id})
            ctx.say(ctx.tr("vh.ask_notice", village=villages[0].name, max=NOTICE_MAX, file_max=_size(ctx, NOTICE_FILE_MAX)))
        else:
            ctx.set_state({"flow": "notice", "step": "village", "tok": tok})
            ctx.say(ctx.tr("vh.pick_village"), buttons=[[Button(v.name, VillageNotice(tok, "v", str(v.id)).pack())] for v in villages])
    elif command == "handover":
        await _handover(ctx, actor)
    else:
        await _figures(ctx, actor)
    return True


async def _handover(ctx: Context, actor: Actor) -> None:
    """The answers a head hands over in person: paper forms, and residents no message reaches."""
    ctx.set_state({})
    blocks = []
    for village in await _my_villages(ctx, actor):
        assert village.id is not None
        items = await to_hand_over(ctx.uow, village.id)
        if not items:
            blocks.append(ctx.tr("vh.handover_none", village=village.name))
            continue
        lines = [ctx.tr("vh.handover_head", village=village.name, count=len(items))]
        for item in items:
            s = item.submission
            lines.append(ctx.tr(
                "vh.handover_item", ref=s.ref, name=s.name or ctx.tr("vh.handover_no_name"),
                why=ctx.tr("vh.handover_paper" if item.paper else "vh.handover_unreachable"),
                question=shorten(s.question, 200), answer=shorten(s.answer or "", 600),
            ))
        blocks.append("\n\n".join(lines))
    ctx.say("\n\n".join(blocks) if blocks else ctx.tr("vh.no_villages"))


async def _recipients(ctx: Context, village_id: int) -> list:
    return await village_recipients(ctx.uow, [village_id])


async def abandon(ctx: Context) -> None:
    """Clear the staff member's state, dropping a notice's file that will now never be sent."""
    attachment_id = ctx.state.get("attachment_id")
    if attachment_id is not None:
        await drop_notice_file(ctx.uow, attachment_id)
    ctx.set_state({})


def _size(ctx: Context, n: int) -> str:
    if n < 1024 * 1024:
        return f"{max(1, round(n / 1024))} KB"
    mb = f"{n / (1024 * 1024):.1f}".removesuffix(".0")
    return (mb.replace(".", ",") if ctx.tr.lang == "vi" else mb) + " MB"


def _attachment_label(ctx: Context, state: dict) -> str:
    size = _size(ctx, state["attachment_size"])
    if state["attachment_kind"] == "photo":
        return ctx.tr("vh.photo_label", size=size)
    return ctx.tr("vh.file_label", name=state["attachment_name"], size=size)


async def on_message(ctx: Context) -> None:
    """The notice's text, or a photo or file (its caption, if any, is the text): at the text step, or to add
    or change the file while the preview waits for ✅ Gửi."""
    state = ctx.state
    event = ctx.event
    step = state.get("step")
    if step not in ("text", "confirm") or (step == "confirm" and event.file is None):
        ctx.say(ctx.tr("form.press_a_button"))
        return
    if textrules.first_refused(event.text) is not None:
        ctx.say(ctx.tr("form.bad_text"))  # before any file is kept: nothing changes, the step waits again
        return
    if event.file is not None:
        state = await _take_file(ctx, state)
        if state is None:
            return  # refused: nothing changed
        if not event.text.strip():
            if step == "confirm":
                await _preview(ctx, state, state["text"])
            else:
                ctx.set_state(state)
                ctx.say(ctx.tr("vh.file_received", attachment=_attachment_label(ctx, state), max=NOTICE_MAX))
            return
    elif event.kind != Kind.TEXT:
        ctx.say(ctx.tr("vh.text_only"))
        return
    text = textrules.block(event.text)
    if not 5 <= len(text) <= NOTICE_MAX:
        # Back to the text (a file that came with it is kept); a preview shown earlier no longer stands.
        ctx.set_state({**state, "step": "text", "tok": secrets.token_hex(3)})
        ctx.say(ctx.tr("vh.notice_length", max=NOTICE_MAX, length=len(text)))
        return
    await _preview(ctx, state, text)


async def _take_file(ctx: Context, state: dict) -> dict | None:
    """Download and keep the photo or file just sent (replacing an earlier one); None when refused."""
    file = ctx.event.file
    assert file is not None
    if file.size is not None and file.size > NOTICE_FILE_MAX:
        ctx.say(ctx.tr("vh.file_too_big", size=_size(ctx, file.size), max=_size(ctx, NOTICE_FILE_MAX)))
        return None
    try:
        data = await file.fetch()
    except FileUnavailable:
        ctx.say(ctx.tr("vh.file_failed"))
        return None
    if len(data) > NOTICE_FILE_MAX:
        ctx.say(ctx.tr("vh.file_too_big", size=_size(ctx, len(data)), max=_size(ctx, NOTICE_FILE_MAX)))
        return None
    if not data:
        ctx.say(ctx.tr("vh.file_failed"))
        return None
    kind = sniff(data)
    if kind is None:
        ctx.say(ctx.tr("vh.file_type_refused"))
        return None
    if state.get("attachment_id") is not None:
        await drop_notice_file(ctx.uow, state["attachment_id"])
    attachment_id = await keep_notice_file(ctx.uow, filename=file.filename, mime_type=file.mime_type, data=data, now=ctx.now)
    return {**state, "attachment_id": attachment_id, "attachment_kind": file.kind, "attachment_name": file_name(file.filename, kind),
            "attachment_size": len(data)}


async def _preview(ctx: Context, state: dict, text: str) -> None:
    village = await ctx.uow.meetings.village(state["village_id"])
    assert village is not None
    count = len(await _recipients(ctx, state["village_id"]))
    tok = secrets.token_hex(3)
    state = {**state, "step": "confirm", "text": text, "tok": tok}
    ctx.set_state(state)
    if state.get("attachment_id") is not None:
        preview = ctx.tr("vh.preview_with_file", village=village.name, count=count, text=text, attachment=_attachment_label(ctx, state))
    else:
        preview = ctx.tr("vh.preview", village=village.name, count=count, text=text)
    ctx.say(
        preview,
        buttons=[[Button(ctx.tr("review.send"), VillageNotice(tok, "send").pack()), Button(ctx.tr("review.cancel"), VillageNotice(tok, "cancel").pack())]],
    )


async def on_button(ctx: Context, pressed: VillageNotice) -> None:
    state = ctx.state
    actor = await _actor(ctx)
    if actor is None or state.get("flow") != "notice" or pressed.token != state.get("tok"):
        ctx.toast(ctx.tr("button.expired"))
        ctx.retire_buttons()
        return
    ctx.retire_buttons()
    action = pressed.action
    village_id = number(pressed.value)
    if action == "v" and state.get("step") == "village" and village_id is not None:
        village = await ctx.uow.meetings.village(village_id)
        if village is not None and may_act_in_village(actor, village):
            ctx.set_state({**state, "step": "text", "village_id": village.id, "tok": secrets.token_hex(3)})
            ctx.say(ctx.tr("vh.ask_notice", village=village.name, max=NOTICE_MAX, file_max=_size(ctx, NOTICE_FILE_MAX)))
            return
    if action == "cancel":
        await abandon(ctx)
        ctx.say(ctx.tr("vh.cancelled"))
        return
    if action == "send" and state.get("step") == "confirm" and actor.may_act_for_village(state["village_id"]):
        await _send(ctx, actor, state)
        return
    ctx.toast(ctx.tr("button.expired"))


async def _send(ctx: Context, actor: Actor, state: dict) -> None:
    village = await ctx.uow.meetings.village(state["village_id"])
    assert village is not None and ctx.staff is not None
    count = await notify_villages(ctx.uow, actor, [state["village_id"]], state["text"], sender=ctx.staff.name, now=ctx.now,
                                  attachment_id=state.get("attachment_id"))
    ctx.set_state({})  # the file, if any, now belongs to the queued messages
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
