"""The review screen once every step is answered: the whole form to check, then "✅ Gửi", "✏️ Sửa"
(the list of fields, one to change) or "❌ Hủy"; and the sending.

Its two screens are the form's last steps, "review" and "pick" (the field list), kept in the same
stored state as the others, so a restart shows them again.
"""

from __future__ import annotations

from bot.conversation.context import Context
from bot.conversation.flows.registration import media, steps
from bot.domain.channels import platform_of
from bot.domain.choices import Choice
from bot.domain.media import draft_voice
from bot.domain.messages import Button
from bot.domain.submissions import PAPER
from bot.services import submissions
from bot.services.staff import actor_for
from bot.services.submissions import Registration
from bot.text.formatting import shorten, when

SCREENS = ("review", "pick")
# The fields the resident may go back to, each a step, with the label of its button.
FIELD_KEYS = {
    "name": "review.field_name",
    "village": "review.field_village",
    "topic": "review.field_topic",
    "question": "review.field_question",
    "speak": "review.field_speak",
    "phone": "review.field_phone",
}


def choices(ctx: Context) -> list[Choice]:
    """The current screen's buttons, in order: what a typed label or number is read against too."""
    state, tr = ctx.state, ctx.tr
    data = steps.button_data
    if state["step"] == "review":
        return [
            Choice(tr("review.send"), data=data(state, "send")),
            Choice(tr("review.edit"), data=data(state, "edit")),
            Choice(tr("review.cancel"), data=data(state, "cancel")),
        ]
    fields = [Choice(tr(key), data=data(state, "field", name)) for name, key in FIELD_KEYS.items()]
    if state["draft"].get("photos"):
        fields.append(Choice(tr("review.drop_photos"), data=data(state, "nophotos")))
    return [*fields, Choice(tr("review.back"), data=data(state, "back"))]


def _button(choice: Choice) -> Button:
    assert choice.data is not None
    return Button(choice.label, choice.data)


async def show(ctx: Context, prefix: str = "") -> None:
    """The current screen (one of SCREENS), with `prefix` above it."""
    head = steps.heading(prefix)
    buttons = [_button(c) for c in choices(ctx)]
    if ctx.state["step"] == "pick":
        ctx.say(head + ctx.tr("review.pick_field"), buttons=[[b] for b in buttons])
        return
    send, edit, cancel = buttons
    ctx.say(head + await _summary(ctx), buttons=[[send], [edit, cancel]])


async def _summary(ctx: Context) -> str:
    draft, tr = ctx.state["draft"], ctx.tr
    village = await ctx.uow.reference.village(draft["village_id"])
    topic = await ctx.uow.reference.topic(draft["topic_id"])
    return tr(
        "review.summary",
        name=draft["name"],
        village=village.name if village else "?",
        topic=topic.name if topic else "?",
        question=media.question_line(ctx, draft),
        speak=tr("form.speak_yes") if draft["speak"] else tr("form.speak_no"),
        phone=draft.get("phone") or tr("review.no_phone"),
    ) + (("\n" + tr("review.photos", count=len(draft["photos"]))) if draft.get("photos") else "")


def move(ctx: Context, action: str, value: str) -> bool:
    """Between the screens, or to the step of the field picked (back to the review once it is
    answered). False when `action` is none of the current screen's moves."""
    step = ctx.state["step"]
    if action == "edit" and step == "review":
        steps.go_to(ctx, "pick")
    elif action == "back" and step == "pick":
        steps.go_to(ctx, "review")
    elif action == "field" and step == "pick" and value in FIELD_KEYS:
        steps.go_to(ctx, value, editing=True)
    else:
        return False
    return True


async def submit(ctx: Context) -> None:
    """"✅ Gửi": store the submission and give its receipt, unless the form can no longer be sent as
    it stands (the deadline passed, or a reloaded plan dropped the chosen village or topic)."""
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
        await steps.deadline_passed(ctx)
        return
    draft = state["draft"]
    # A plan reloaded mid-form may have dropped the chosen village or topic: ask for it again.
    for step, options in steps.LISTS.items():
        if not any(o.id == draft.get(steps.FIELDS[step]) for o in await options(ctx)):
            steps.go_to(ctx, step, editing=True)
            await steps.ask(ctx, tr("form.choice_gone"))
            return
    form = Registration(
        name=draft["name"], village_id=draft["village_id"], topic_id=draft["topic_id"], question=draft["question"],
        wants_to_speak=bool(draft["speak"]), phone=draft.get("phone"), voice=draft_voice(draft), photos=list(draft.get("photos", [])),
    )
    entered_by = await actor_for(uow, ctx.staff) if ctx.paper and ctx.staff else None
    platform = PAPER if entered_by else platform_of(ctx.event.channel)
    submission = await submissions.register(uow, meeting, commune, form, platform=platform,
                                            resident=None if entered_by else ctx.resident, entered_by=entered_by, now=ctx.now)
    ref = submission.ref
    ctx.set_state({})
    ctx.toast(tr("receipt.toast", ref=ref))
    if entered_by is not None:
        ctx.say(tr("paper.receipt", ref=ref, name=draft["name"]), keyboard=ctx.menu())
        return
    key = "receipt.text_speak" if draft["speak"] else "receipt.text_written"
    ctx.say(
        tr(
            key,
            ref=ref,
            title=meeting.title,
            start=when(meeting.starts_at, commune.timezone, tr),
            venue=meeting.venue,
            channel=tr(f"channel.{platform_of(ctx.event.channel)}"),
            question=shorten(media.question_line(ctx, draft), 120),
        ),
        keyboard=ctx.menu(),
    )
