"""Registering to speak (phiếu đăng ký phát biểu), one step a message.

name → village → topic → question → speaking or written → phone (optional) → review → send.
The form lives in the resident's stored state, so a restart resumes it at the same step. Each
step's buttons carry a token; a button whose token is not the current one is from an old
message or a finished form and changes nothing.

Here: entering and leaving the form, and what each message or button does to it. The steps'
questions and typed answers are in `steps`, the review screen and the sending in `review`.
"""

from __future__ import annotations

from typing import Any

from bot.conversation.context import Context
from bot.conversation.flows.registration import media, review, steps
from bot.conversation.flows.registration.steps import deadline_passed
from bot.domain.callbacks import Form
from bot.domain.choices import Choice, pick
from bot.domain.messages import Kind, number
from bot.domain.validation import first_refused, normalise_phone

# --- entering and leaving the form -------------------------------------------------------


async def start(ctx: Context, preset_village: int | None = None, *, paper: bool = False) -> None:
    if ctx.in_form:
        ctx.say(ctx.tr("form.already_started"))
        await prompt(ctx)
        return
    found = await ctx.meeting()
    if found is None:
        ctx.say(ctx.tr("meeting.none"), keyboard=ctx.menu())
        return
    meeting, _ = found
    if not ctx.registration_open(meeting):
        await deadline_passed(ctx)
        return
    draft: dict[str, Any] = {}
    preset = preset_village is not None
    if preset:
        draft["village_id"] = preset_village
    if paper:
        villages = await steps.villages_for(ctx, meeting.id)  # type: ignore[arg-type]
        if len(villages) == 1:
            draft["village_id"] = villages[0].id  # a head of one village: nothing to choose
    state = {"flow": "register", "meeting_id": meeting.id, "step": "name", "tok": steps.new_token(), "draft": draft, "editing": False}
    if paper:
        state["paper"] = True
    if preset:
        state["preset"] = True  # shown where its step would be, once the name is given
    ctx.set_state(state)
    if paper:
        ctx.say(ctx.tr("paper.intro"))
    await prompt(ctx)


async def cancel(ctx: Context) -> None:
    if not ctx.in_form:
        ctx.say(ctx.tr("form.nothing_to_cancel"), keyboard=ctx.menu())
        return
    await media.drop_all(ctx)
    ctx.set_state({})
    ctx.say(ctx.tr("form.cancelled"), keyboard=ctx.menu())


# --- asking ------------------------------------------------------------------------------


async def prompt(ctx: Context, prefix: str = "") -> None:
    """(Re)ask the current step. `prefix` carries a confirmation or an error above the question."""
    if ctx.state["step"] in review.SCREENS:
        await review.show(ctx, prefix)
    else:
        await steps.ask(ctx, prefix)


async def _advance(ctx: Context, confirmation: str = "") -> None:
    """After a field is filled: back to the review when editing, else the next empty step."""
    state = ctx.state
    draft = state["draft"]
    if state.get("editing"):
        nxt = "review"
    else:
        nxt = steps.next_empty(draft)
        if state.pop("preset", False) and "village_id" in draft:
            # The village came with the QR code: its step is shown done, so the steps count on 1, 2, 3.
            village = await ctx.uow.reference.village(draft["village_id"])
            if village is not None:
                confirmation = "\n\n".join(filter(None, (confirmation, ctx.tr("form.village_preset", village=village.name))))
    state.update(step=nxt, tok=steps.new_token(), editing=False)
    ctx.set_state(state)
    await prompt(ctx, confirmation)


# --- free text, contacts and unsupported content ------------------------------------------


async def on_message(ctx: Context) -> None:
    event, tr = ctx.event, ctx.tr
    step = ctx.state["step"]
    if event.kind == Kind.CONTACT:
        if step != "phone" or ctx.paper:
            await prompt(ctx, tr("form.unexpected_contact"))
            return
        if not event.contact_is_own:
            await prompt(ctx, tr("form.phone_not_own"))
            return
        steps.set_fields(ctx, phone=normalise_phone(event.phone or "", from_contact=True))
        await _after_phone(ctx)
        return
    if event.kind == Kind.UNSUPPORTED:
        await _file(ctx)
        return
    read = steps.READERS.get(step)
    if read is not None and first_refused(event.text) is not None:
        # A NUL or another control character: stored, it would break PostgreSQL or the Word report.
        await prompt(ctx, tr("form.bad_text"))
        return
    if read is None:
        # A step answered with buttons; a typed label or number counts as pressing it.
        if not await _typed_choice(ctx, event.text):
            await prompt(ctx, tr("form.press_a_button"))
        return
    answer = read(tr, event.text)
    if answer.filled is None:
        await prompt(ctx, answer.refused)
        return
    if step == "question":
        await media.forget_voice(ctx)  # typed, the question replaces one said aloud
    steps.set_fields(ctx, **answer.filled)
    if step == "phone":
        await _after_phone(ctx)
    else:
        await _advance(ctx, answer.said)


async def _file(ctx: Context) -> None:
    """A voice note at the question step, a photo from the question step on (its caption, at the
    question step, is the question); anything else, or on a paper form, is not read."""
    event, tr, step = ctx.event, ctx.tr, ctx.state["step"]
    file = event.file
    if file is None or ctx.paper:
        await prompt(ctx, tr("form.text_only"))
        return
    if file.kind == "voice":
        if step != "question":
            await prompt(ctx, tr("form.voice_at_question"))
            return
        kept, said = await media.take_voice(ctx)
        await (_advance(ctx, said) if kept else prompt(ctx, said))
        return
    if step in ("name", "village", "topic"):
        # Before the question a photo is more likely sent by mistake: the question step offers it.
        await prompt(ctx, tr("form.text_only"))
        return
    kept, said = await media.take_photo(ctx)
    if kept and event.text.strip() and step == "question":
        # The caption is the question, read as if typed.
        await on_message_text(ctx, event.text, said)
        return
    await prompt(ctx, said)


async def on_message_text(ctx: Context, text: str, said: str) -> None:
    answer = steps.READERS["question"](ctx.tr, text) if first_refused(text) is None else steps.Answer(refused=ctx.tr("form.bad_text"))
    if answer.filled is None:
        await prompt(ctx, "\n\n".join((said, answer.refused)))
        return
    await media.forget_voice(ctx)
    steps.set_fields(ctx, **answer.filled)
    await _advance(ctx, "\n\n".join((said, answer.said)))


async def _after_phone(ctx: Context) -> None:
    # The phone keyboard is a reply keyboard: put the main menu back before the review's inline buttons.
    phone = ctx.state["draft"].get("phone")
    ctx.say(ctx.tr("form.phone_saved", phone=phone) if phone else ctx.tr("form.phone_skipped"), keyboard=ctx.menu())
    await _advance(ctx)


async def _typed_choice(ctx: Context, text: str) -> bool:
    """Read a typed answer against the current step's buttons the way every typed choice is read
    (bot/domain/choices.py), and act as if the button it names was pressed. False when it names none."""
    offered: list[Choice] = review.choices(ctx) if ctx.state["step"] in review.SCREENS else await steps.choices(ctx)
    chosen = pick(text, offered).choice
    pressed = Form.unpack(chosen.data) if chosen is not None and chosen.data is not None else None
    if not isinstance(pressed, Form):
        return False
    await _act(ctx, pressed.action, pressed.value)
    return True


# --- buttons -------------------------------------------------------------------------------


async def on_button(ctx: Context, pressed: Form) -> None:
    if not ctx.in_form or pressed.token != ctx.state.get("tok"):
        ctx.toast(ctx.tr("button.expired"))
        ctx.retire_buttons()
        return
    ctx.retire_buttons()
    await _act(ctx, pressed.action, pressed.value)


async def _act(ctx: Context, action: str, value: str) -> None:
    tr = ctx.tr
    step = ctx.state["step"]
    if action == "name" and value == "same" and ctx.resident and ctx.resident.name and not ctx.paper and step == "name":
        steps.set_fields(ctx, name=ctx.resident.name)
        await _advance(ctx, tr("form.chosen", value=ctx.resident.name))
    elif action in steps.LISTS and step == action and (picked := number(value)) is not None:
        chosen = next((o for o in await steps.LISTS[action](ctx) if o.id == picked), None)
        if chosen is None:
            await prompt(ctx, tr("form.choice_gone"))
            return
        steps.set_fields(ctx, **{steps.FIELDS[action]: chosen.id})
        await _advance(ctx, tr("form.chosen", value=chosen.name))
    elif action == "speak" and step == "speak" and value in ("0", "1"):
        steps.set_fields(ctx, speak=value == "1")
        await _advance(ctx, tr("form.chosen", value=tr("form.speak_yes") if value == "1" else tr("form.speak_no")))
    elif action == "send" and step == "review":
        await review.submit(ctx)
    elif action == "cancel" and step == "review":
        await cancel(ctx)
    elif action == "nophotos" and step == "pick":
        await media.drop_photos(ctx)
        steps.go_to(ctx, "review")
        await prompt(ctx)
    elif review.move(ctx, action, value):
        await prompt(ctx)
    else:
        ctx.toast(tr("button.expired"))
