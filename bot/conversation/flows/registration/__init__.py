"""Registering to speak (phiếu đăng ký phát biểu), one step a message.

name → village → topic → question → speaking or written → phone (optional) → review → send.
The form lives in the resident's stored state, so a restart resumes it at the same step. Each
step's buttons carry a token; a button whose token is not the current one is from an old
message or a finished form and changes nothing.
"""

from __future__ import annotations

import re
import secrets
from typing import Any, Awaitable, Callable, Sequence

from bot.conversation.context import Context
from bot.domain import validation as textrules
from bot.domain.callbacks import Form
from bot.domain.channels import platform_of
from bot.domain.messages import Button, KeyButton, Kind, number
from bot.services import submissions
from bot.services.access import may_act_in_village
from bot.services.staff import actor_for
from bot.services.submissions import Registration
from bot.text.formatting import fold, shorten, when

NAME_MIN, NAME_MAX = 2, 100
QUESTION_MIN, QUESTION_MAX = 10, 3000
STEPS = ("name", "village", "topic", "question", "speak", "phone")
FIELD_KEYS = {
    "name": "review.field_name",
    "village": "review.field_village",
    "topic": "review.field_topic",
    "question": "review.field_question",
    "speak": "review.field_speak",
    "phone": "review.field_phone",
}


def _token() -> str:
    return secrets.token_hex(3)


def _data(state: dict[str, Any], action: str, value: str | int = "") -> str:
    return Form(state["tok"], action, str(value)).pack()


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
        villages = await _villages_for(ctx, meeting.id)  # type: ignore[arg-type]
        if len(villages) == 1:
            draft["village_id"] = villages[0].id  # a head of one village: nothing to choose
    state = {"flow": "register", "meeting_id": meeting.id, "step": "name", "tok": _token(), "draft": draft, "editing": False}
    if paper:
        state["paper"] = True
    if preset:
        state["preset"] = True  # shown where its step would be, once the name is given
    ctx.set_state(state)
    if paper:
        ctx.say(ctx.tr("paper.intro"))
    await prompt(ctx)


async def deadline_passed(ctx: Context) -> None:
    found = await ctx.meeting()
    assert found is not None
    meeting, commune = found
    ctx.say(
        ctx.tr(
            "form.deadline_passed",
            deadline=when(meeting.registration_closes_at, commune.timezone, ctx.tr),
            start=when(meeting.starts_at, commune.timezone, ctx.tr),
            venue=meeting.venue,
        ),
        keyboard=ctx.menu(),
    )


async def cancel(ctx: Context) -> None:
    if not ctx.in_form:
        ctx.say(ctx.tr("form.nothing_to_cancel"), keyboard=ctx.menu())
        return
    ctx.set_state({})
    ctx.say(ctx.tr("form.cancelled"), keyboard=ctx.menu())


# --- prompts ----------------------------------------------------------------------------


async def _villages(ctx: Context) -> Sequence[Any]:
    return await _villages_for(ctx, ctx.state["meeting_id"])


async def _villages_for(ctx: Context, meeting_id: int) -> Sequence[Any]:
    """The meeting's villages; on a paper form, only those the village head serves."""
    villages = await ctx.uow.meetings.invited_villages(meeting_id)
    if ctx.staff_mode and ctx.staff is not None:
        actor = await actor_for(ctx.uow, ctx.staff)
        villages = [v for v in villages if may_act_in_village(actor, v)]
    return villages


async def _topics(ctx: Context) -> Sequence[Any]:
    return await ctx.uow.meetings.topics(ctx.state["meeting_id"])


def _skip_labels(ctx: Context) -> set[str]:
    return {fold(label) for label in ctx.tr.all_labels("form.phone_skip")}


async def prompt(ctx: Context, prefix: str = "") -> None:
    """(Re)ask the current step. `prefix` carries a confirmation or an error above the question."""
    state = ctx.state
    step = state["step"]
    head = (prefix + "\n\n") if prefix else ""
    tr = ctx.tr
    if step == "name":
        buttons = []
        if ctx.resident and ctx.resident.name and not ctx.paper:
            buttons = [[Button(tr("form.use_name", name=ctx.resident.name), _data(state, "name", "same"))]]
        ctx.say(head + tr("form.ask_name", min=NAME_MIN, max=NAME_MAX), buttons=buttons)
    elif step == "village":
        villages = await _villages(ctx)
        rows = [[Button(v.name, _data(state, "village", v.id)) for v in villages[i : i + 2]] for i in range(0, len(villages), 2)]
        ctx.say(head + tr("form.ask_village"), buttons=rows)
    elif step == "topic":
        topics = await _topics(ctx)
        # Long topic names are cut short on a narrow phone's buttons: the message lists them whole,
        # numbered like the buttons. A channel without buttons numbers every list itself.
        listing = "" if tr.typed else "\n\n" + "\n".join(f"{n}. {t.name}" for n, t in enumerate(topics, 1))
        ctx.say(
            head + tr("form.ask_topic") + listing,
            buttons=[[Button(t.name if tr.typed else f"{n}. {t.name}", _data(state, "topic", t.id))] for n, t in enumerate(topics, 1)],
        )
    elif step == "question":
        ctx.say(head + tr("form.ask_question", min=QUESTION_MIN, max=QUESTION_MAX))
    elif step == "speak":
        ctx.say(
            head + tr("form.ask_speak"),
            buttons=[[Button(tr("form.speak_yes"), _data(state, "speak", 1))], [Button(tr("form.speak_no"), _data(state, "speak", 0))]],
        )
    elif step == "phone":
        if ctx.paper:
            ctx.say(head + tr("paper.ask_phone"), keyboard=[[KeyButton(tr("form.phone_skip"))]], one_time_keyboard=True)
        else:
            keyboard = [[KeyButton(tr("form.phone_share"), request_contact=True)], [KeyButton(tr("form.phone_skip"))]]
            ctx.say(head + tr("form.ask_phone"), keyboard=keyboard, one_time_keyboard=True)
    elif step == "pick":
        rows = [[Button(tr(key), _data(state, "field", name))] for name, key in FIELD_KEYS.items()]
        rows.append([Button(tr("review.back"), _data(state, "back"))])
        ctx.say(head + tr("review.pick_field"), buttons=rows)
    else:
        await _review(ctx, head)


async def _review(ctx: Context, head: str) -> None:
    state, tr = ctx.state, ctx.tr
    draft = state["draft"]
    village = await ctx.uow.meetings.village(draft["village_id"])
    topic = await ctx.uow.meetings.topic(draft["topic_id"])
    text = tr(
        "review.summary",
        name=draft["name"],
        village=village.name if village else "?",
        topic=topic.name if topic else "?",
        question=draft["question"],
        speak=tr("form.speak_yes") if draft["speak"] else tr("form.speak_no"),
        phone=draft.get("phone") or tr("review.no_phone"),
    )
    buttons = [
        [Button(tr("review.send"), _data(state, "send"))],
        [Button(tr("review.edit"), _data(state, "edit")), Button(tr("review.cancel"), _data(state, "cancel"))],
    ]
    ctx.say(head + text, buttons=buttons)


# --- moving on ---------------------------------------------------------------------------


async def _advance(ctx: Context, confirmation: str = "") -> None:
    """After a field is filled: back to the review when editing, else the next empty step."""
    state = ctx.state
    draft = state["draft"]
    if state.get("editing"):
        nxt = "review"
    else:
        filled = {
            "name": "name" in draft,
            "village": "village_id" in draft,
            "topic": "topic_id" in draft,
            "question": "question" in draft,
            "speak": "speak" in draft,
            "phone": "phone" in draft,
        }
        nxt = next((s for s in STEPS if not filled[s]), "review")
        if state.pop("preset", False) and filled["village"]:
            # The village came with the QR code: its step is shown done, so the steps count on 1, 2, 3.
            village = await ctx.uow.meetings.village(draft["village_id"])
            if village is not None:
                confirmation = "\n\n".join(filter(None, (confirmation, ctx.tr("form.village_preset", village=village.name))))
    state.update(step=nxt, tok=_token(), editing=False)
    ctx.set_state(state)
    await prompt(ctx, confirmation)


def _set(ctx: Context, **values: Any) -> None:
    state = ctx.state
    state["draft"] = {**state["draft"], **values}
    ctx.set_state(state)


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
        _set(ctx, phone=normalise_phone(event.phone or "", from_contact=True))
        await _after_phone(ctx)
        return
    if event.kind == Kind.UNSUPPORTED:
        await prompt(ctx, tr("form.text_only"))
        return
    handler = _TEXT_STEPS.get(step)
    if handler is not None and textrules.first_refused(event.text) is not None:
        # A NUL or another control character: stored, it would break PostgreSQL or the Word report.
        await prompt(ctx, tr("form.bad_text"))
        return
    if handler is None:
        # A step answered with buttons; a typed label or number counts as pressing it.
        if not await _typed_choice(ctx, event.text):
            await prompt(ctx, tr("form.press_a_button"))
        return
    await handler(ctx, event.text)


async def _name_text(ctx: Context, text: str) -> None:
    name = textrules.line(text)
    if not (NAME_MIN <= len(name) <= NAME_MAX):
        await prompt(ctx, ctx.tr("form.name_length", min=NAME_MIN, max=NAME_MAX, length=len(name)))
        return
    if textrules.has_digits(name):
        await prompt(ctx, ctx.tr("form.name_invalid"))
        return
    if not textrules.is_name(name) or name.startswith("/"):
        await prompt(ctx, ctx.tr("form.name_letters"))
        return
    _set(ctx, name=name)
    await _advance(ctx, ctx.tr("form.chosen", value=name))


async def _question_text(ctx: Context, text: str) -> None:
    question = textrules.block(text)
    if len(question) < QUESTION_MIN:
        await prompt(ctx, ctx.tr("form.question_short", min=QUESTION_MIN, length=len(question)))
        return
    if len(question) > QUESTION_MAX:
        await prompt(ctx, ctx.tr("form.question_long", max=QUESTION_MAX, length=len(question)))
        return
    if not textrules.has_letters(question):
        # Emoji or punctuation alone: nothing staff could read out or answer.
        await prompt(ctx, ctx.tr("form.question_words"))
        return
    _set(ctx, question=question)
    await _advance(ctx, ctx.tr("form.question_saved"))


async def _phone_text(ctx: Context, text: str) -> None:
    if fold(text) in _skip_labels(ctx):
        _set(ctx, phone=None)
        await _after_phone(ctx)
        return
    phone = normalise_phone(text)
    if phone is None:
        await prompt(ctx, ctx.tr("form.phone_invalid"))
        return
    _set(ctx, phone=phone)
    await _after_phone(ctx)


async def _after_phone(ctx: Context) -> None:
    # The phone keyboard is a reply keyboard: put the main menu back before the review's inline buttons.
    phone = ctx.state["draft"].get("phone")
    ctx.say(ctx.tr("form.phone_saved", phone=phone) if phone else ctx.tr("form.phone_skipped"), keyboard=ctx.menu())
    await _advance(ctx)


_TEXT_STEPS: dict[str, Callable[[Context, str], Awaitable[None]]] = {
    "name": _name_text,
    "question": _question_text,
    "phone": _phone_text,
}

_VN_MOBILE = re.compile(r"^0[35789]\d{8}$")
_VN_LANDLINE = re.compile(r"^02\d{9}$")


def normalise_phone(raw: str, *, from_contact: bool = False) -> str | None:
    """Vietnamese numbers as 0xxxxxxxxx; others as +digits. None when it is not a phone number."""
    raw = raw.strip()
    if not re.fullmatch(r"\+?[\d\s().-]{8,20}", raw):
        return None
    digits = re.sub(r"\D", "", raw)
    if digits.startswith("84") and len(digits) in (11, 12) and (raw.startswith("+") or from_contact or len(digits) == 11):
        digits = "0" + digits[2:]
    if _VN_MOBILE.match(digits) or _VN_LANDLINE.match(digits):
        return digits
    if (raw.startswith("+") or from_contact) and 8 <= len(digits) <= 15:
        return "+" + digits
    return None


# --- buttons -------------------------------------------------------------------------------


async def _choices(ctx: Context) -> list[tuple[str, str, str]]:
    """(action, value, label) of the current step's choices, for matching typed answers."""
    state, tr = ctx.state, ctx.tr
    step = state["step"]
    if step == "village":
        return [("village", str(v.id), v.name) for v in await _villages(ctx)]
    if step == "topic":
        return [("topic", str(t.id), t.name) for t in await _topics(ctx)]
    if step == "speak":
        return [("speak", "1", tr("form.speak_yes")), ("speak", "0", tr("form.speak_no"))]
    if step == "review":
        return [("send", "", tr("review.send")), ("edit", "", tr("review.edit")), ("cancel", "", tr("review.cancel"))]
    if step == "pick":
        return [("field", name, tr(key)) for name, key in FIELD_KEYS.items()] + [("back", "", tr("review.back"))]
    return []


async def _typed_choice(ctx: Context, text: str) -> bool:
    choices = await _choices(ctx)
    typed = fold(text)
    exact = [c for i, c in enumerate(choices, start=1) if typed in (str(i), fold(c[2]))]
    # "phong lam" for "Thôn Phong Lâm", but only when it names one choice.
    partial = [c for c in choices if len(typed) >= 3 and fold(c[2]).endswith(" " + typed)]
    match = exact[:1] or (partial if len(partial) == 1 else [])
    if not match:
        return False
    action, value, _ = match[0]
    await _act(ctx, action, value)
    return True


async def on_button(ctx: Context, pressed: Form) -> None:
    if not ctx.in_form or pressed.token != ctx.state.get("tok"):
        ctx.toast(ctx.tr("button.expired"))
        ctx.retire_buttons()
        return
    ctx.retire_buttons()
    await _act(ctx, pressed.action, pressed.value)


async def _act(ctx: Context, action: str, value: str) -> None:
    tr = ctx.tr
    state = ctx.state
    if action == "name" and value == "same" and ctx.resident and ctx.resident.name and not ctx.paper and state["step"] == "name":
        _set(ctx, name=ctx.resident.name)
        await _advance(ctx, tr("form.chosen", value=ctx.resident.name))
    elif action in _LISTS and state["step"] == action and (picked := number(value)) is not None:
        options, field = _LISTS[action]
        chosen = next((o for o in await options(ctx) if o.id == picked), None)
        if chosen is None:
            await prompt(ctx, tr("form.choice_gone"))
            return
        _set(ctx, **{field: chosen.id})
        await _advance(ctx, tr("form.chosen", value=chosen.name))
    elif action == "speak" and state["step"] == "speak" and value in ("0", "1"):
        _set(ctx, speak=value == "1")
        await _advance(ctx, tr("form.chosen", value=tr("form.speak_yes") if value == "1" else tr("form.speak_no")))
    elif action == "send" and state["step"] == "review":
        await _submit(ctx)
    elif action == "cancel" and state["step"] == "review":
        await cancel(ctx)
    elif action == "edit" and state["step"] == "review":
        state.update(step="pick", tok=_token())
        ctx.set_state(state)
        await prompt(ctx)
    elif action == "back" and state["step"] == "pick":
        state.update(step="review", tok=_token())
        ctx.set_state(state)
        await prompt(ctx)
    elif action == "field" and state["step"] == "pick" and value in FIELD_KEYS:
        state.update(step=value, tok=_token(), editing=True)
        ctx.set_state(state)
        await prompt(ctx)
    else:
        ctx.toast(tr("button.expired"))


# Steps answered from a list the plan defines: (where the choices come from, the draft field).
_LISTS: dict[str, tuple[Callable[[Context], Awaitable[Sequence[Any]]], str]] = {
    "village": (_villages, "village_id"),
    "topic": (_topics, "topic_id"),
}


async def _submit(ctx: Context) -> None:
    state, tr, uow = ctx.state, ctx.tr, ctx.uow
    meeting = await uow.meetings.get(state["meeting_id"])
    if meeting is None:
        ctx.set_state({})
        ctx.say(tr("meeting.none"), keyboard=ctx.menu())
        return
    commune = await uow.communes.get(meeting.commune_id)
    assert commune is not None and commune.id is not None and (ctx.resident is not None or ctx.paper)
    if ctx.now > meeting.registration_closes_at:
        ctx.set_state({})
        ctx.use_meeting(meeting, commune)
        await deadline_passed(ctx)
        return
    draft = state["draft"]
    # A plan reloaded mid-form may have dropped the chosen village or topic: ask for it again.
    if not any(v.id == draft.get("village_id") for v in await _villages(ctx)):
        state.update(step="village", tok=_token(), editing=True)
        ctx.set_state(state)
        await prompt(ctx, tr("form.choice_gone"))
        return
    if not any(t.id == draft.get("topic_id") for t in await _topics(ctx)):
        state.update(step="topic", tok=_token(), editing=True)
        ctx.set_state(state)
        await prompt(ctx, tr("form.choice_gone"))
        return
    form = Registration(
        name=draft["name"], village_id=draft["village_id"], topic_id=draft["topic_id"], question=draft["question"],
        wants_to_speak=bool(draft["speak"]), phone=draft.get("phone"),
    )
    entered_by = await actor_for(uow, ctx.staff) if ctx.paper and ctx.staff else None
    submission = await submissions.register(uow, meeting, commune, form, platform=platform_of(ctx.event.channel),
                                            resident=None if entered_by else ctx.resident, entered_by=entered_by, now=ctx.now)
    ref = submission.ref
    if entered_by is not None:
        ctx.set_state({})
        ctx.toast(tr("receipt.toast", ref=ref))
        ctx.say(tr("paper.receipt", ref=ref, name=draft["name"]), keyboard=ctx.menu())
        return
    ctx.set_state({})
    ctx.toast(tr("receipt.toast", ref=ref))
    key = "receipt.text_speak" if draft["speak"] else "receipt.text_written"
    ctx.say(
        tr(
            key,
            ref=ref,
            title=meeting.title,
            start=when(meeting.starts_at, commune.timezone, tr),
            venue=meeting.venue,
            channel=tr(f"channel.{platform_of(ctx.event.channel)}"),
            question=shorten(draft["question"], 120),
        ),
        keyboard=ctx.menu(),
    )
