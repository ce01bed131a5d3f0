"""The form's six steps: the question each asks, the choices it offers, and how a typed answer to a
text step is read into the draft.

The form lives in the resident's stored state (`ctx.state`): the step, the draft, and the token
the step's buttons carry. A new token is handed out whenever the step changes, so a button from
an earlier message or a finished form no longer matches and changes nothing.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Sequence

from bot.conversation.context import Context
from bot.domain import validation as textrules
from bot.domain.callbacks import Form
from bot.domain.channels import traits
from bot.domain.choices import Choice
from bot.domain.media import PHOTOS_MAX, VOICE_MAX_SECONDS
from bot.domain.messages import Button, KeyButton
from bot.services.access import may_act_in_village
from bot.services.staff import actor_for
from bot.text.catalogue import Translator
from bot.text.formatting import fold, when

# The steps in order, each with the draft field its answer fills.
FIELDS = {"name": "name", "village": "village_id", "topic": "topic_id", "question": "question", "speak": "speak", "phone": "phone"}


# --- the stored form ---------------------------------------------------------------------


def new_token() -> str:
    return secrets.token_hex(3)


def button_data(state: dict[str, Any], action: str, value: str | int = "") -> str:
    return Form(state["tok"], action, str(value)).pack()


def go_to(ctx: Context, step: str, **marks: Any) -> None:
    """Move the form to `step` (and store `marks` such as editing=True): the buttons of the step
    left behind stop working."""
    state = ctx.state
    state.update(step=step, tok=new_token(), **marks)
    ctx.set_state(state)


def set_fields(ctx: Context, **values: Any) -> None:
    state = ctx.state
    state["draft"] = {**state["draft"], **values}
    ctx.set_state(state)


def heading(prefix: str) -> str:
    """A confirmation or an error, set above the question that follows it."""
    return (prefix + "\n\n") if prefix else ""


def next_empty(draft: dict[str, Any]) -> str:
    """The first step the draft has no answer for; "review" once every step has one."""
    return next((step for step, field in FIELDS.items() if field not in draft), "review")


# --- the lists the plan defines ----------------------------------------------------------


async def villages(ctx: Context) -> Sequence[Any]:
    return await villages_for(ctx, ctx.state["meeting_id"])


async def villages_for(ctx: Context, meeting_id: int) -> Sequence[Any]:
    """The meeting's villages; on a paper form, only those the village head serves."""
    found = await ctx.uow.reference.invited_villages(meeting_id)
    if ctx.staff_mode and ctx.staff is not None:
        actor = await actor_for(ctx.uow, ctx.staff)
        found = [v for v in found if may_act_in_village(actor, v)]
    return found


async def topics(ctx: Context) -> Sequence[Any]:
    return await ctx.uow.reference.topics(ctx.state["meeting_id"])


# Steps answered from a list the plan defines, and where their choices come from.
LISTS: dict[str, Callable[[Context], Awaitable[Sequence[Any]]]] = {"village": villages, "topic": topics}


# --- asking --------------------------------------------------------------------------------


async def choices(ctx: Context) -> list[Choice]:
    """The current step's buttons, in order: what a typed label or number is read against too."""
    state, tr = ctx.state, ctx.tr
    step = state["step"]
    if step in LISTS:
        return [Choice(o.name, data=button_data(state, step, o.id)) for o in await LISTS[step](ctx)]
    if step == "speak":
        return [Choice(tr("form.speak_yes"), data=button_data(state, "speak", 1)), Choice(tr("form.speak_no"), data=button_data(state, "speak", 0))]
    return []


def _button(choice: Choice, label: str | None = None) -> Button:
    assert choice.data is not None
    return Button(label or choice.label, choice.data)


async def ask(ctx: Context, prefix: str = "") -> None:
    """Ask the current step's question (one of FIELDS), with `prefix` above it."""
    state, tr = ctx.state, ctx.tr
    head = heading(prefix)
    step = state["step"]
    if step == "name":
        buttons = []
        if ctx.resident and ctx.resident.name and not ctx.paper:
            buttons = [[Button(tr("form.use_name", name=ctx.resident.name), button_data(state, "name", "same"))]]
        ctx.say(head + tr("form.ask_name", min=textrules.NAME_MIN, max=textrules.NAME_MAX), buttons=buttons)
    elif step == "village":
        offered = await choices(ctx)
        rows = [[_button(c) for c in offered[i : i + 2]] for i in range(0, len(offered), 2)]
        ctx.say(head + tr("form.ask_village"), buttons=rows)
    elif step == "topic":
        offered = await choices(ctx)
        # Long topic names are cut short on a narrow phone's buttons: the message lists them whole,
        # numbered like the buttons. A channel without buttons numbers every list itself.
        listing = "" if tr.typed else "\n\n" + "\n".join(f"{n}. {c.label}" for n, c in enumerate(offered, 1))
        ctx.say(
            head + tr("form.ask_topic") + listing,
            buttons=[[_button(c, c.label if tr.typed else f"{n}. {c.label}")] for n, c in enumerate(offered, 1)],
        )
    elif step == "question":
        text = tr("form.ask_question", min=textrules.QUESTION_MIN, max=textrules.QUESTION_MAX)
        if traits(ctx.event.channel).voice and not ctx.paper:
            text += " " + tr("form.ask_question_voice", minutes=VOICE_MAX_SECONDS // 60, photos=PHOTOS_MAX)
        ctx.say(head + text)
    elif step == "speak":
        ctx.say(head + tr("form.ask_speak"), buttons=[[_button(c)] for c in await choices(ctx)])
    elif step == "phone":
        if ctx.paper:
            ctx.say(head + tr("paper.ask_phone"), keyboard=[[KeyButton(tr("form.phone_skip"))]], one_time_keyboard=True)
        else:
            keyboard = [[KeyButton(tr("form.phone_share"), request_contact=True)], [KeyButton(tr("form.phone_skip"))]]
            ctx.say(head + tr("form.ask_phone"), keyboard=keyboard, one_time_keyboard=True)


async def deadline_passed(ctx: Context) -> None:
    """Said instead of the form once its meeting's registration has closed."""
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


# --- reading a typed answer ------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """A text step's answer: the draft field to fill and what to say, or why it was refused (said
    above the question, asked again)."""

    filled: dict[str, Any] | None = None
    said: str = ""
    refused: str = ""


def _name(tr: Translator, text: str) -> Answer:
    name = textrules.line(text)
    problem = textrules.name_problem(name)
    if problem == "length":
        return Answer(refused=tr("form.name_length", min=textrules.NAME_MIN, max=textrules.NAME_MAX, length=len(name)))
    if problem == "digits":
        return Answer(refused=tr("form.name_invalid"))
    if problem == "letters":
        return Answer(refused=tr("form.name_letters"))
    return Answer({"name": name}, said=tr("form.chosen", value=name))


def _question(tr: Translator, text: str) -> Answer:
    question = textrules.block(text)
    problem = textrules.question_problem(question)
    if problem == "short":
        return Answer(refused=tr("form.question_short", min=textrules.QUESTION_MIN, length=len(question)))
    if problem == "long":
        return Answer(refused=tr("form.question_long", max=textrules.QUESTION_MAX, length=len(question)))
    if problem == "words":
        return Answer(refused=tr("form.question_words"))
    return Answer({"question": question}, said=tr("form.question_saved"))


def _phone(tr: Translator, text: str) -> Answer:
    # "Bỏ qua" is on the phone step's keyboard; pressing it sends the label as text.
    if fold(text) in {fold(label) for label in tr.all_labels("form.phone_skip")}:
        return Answer({"phone": None})
    phone = textrules.normalise_phone(text)
    if phone is None:
        return Answer(refused=tr("form.phone_invalid"))
    return Answer({"phone": phone})


# The steps answered by typing, each with its reader; the others are answered with buttons.
READERS: dict[str, Callable[[Translator, str], Answer]] = {
    "name": _name,
    "question": _question,
    "phone": _phone,
}
