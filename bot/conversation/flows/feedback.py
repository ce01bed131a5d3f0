"""Dân giám sát: the resident's "👍 Hài lòng" / "👎 Chưa hài lòng" on an answer they received, and the
one optional step after "chưa hài lòng": what is still unresolved (bot/services/followup.py)."""

from __future__ import annotations

from bot.conversation.context import Context
from bot.domain.callbacks import Feedback, FollowupDone
from bot.domain.errors import ServiceError
from bot.services.followup import add_followup_text, record_feedback

FLOW = "followup"


def waiting(ctx: Context) -> bool:
    """The resident was asked what is still unresolved: their next message is the answer."""
    return ctx.state.get("flow") == FLOW


def leave(ctx: Context) -> None:
    """Another command: the follow-up stands as it is, without a text."""
    if waiting(ctx):
        ctx.set_state({})


async def on_button(ctx: Context, pressed: Feedback | FollowupDone) -> None:
    if isinstance(pressed, FollowupDone):
        ctx.retire_buttons()
        if waiting(ctx) and ctx.state.get("submission") == pressed.submission_id:
            ctx.set_state({})
        ctx.say(ctx.tr("followup.sent"), keyboard=ctx.menu())
        return
    resident = ctx.resident
    submission = None
    if resident is not None and resident.id is not None:
        submission = await record_feedback(ctx.uow, pressed.submission_id, resident.id, pressed.revision, pressed.satisfied, ctx.now)
    ctx.retire_buttons()
    if submission is None:
        ctx.toast(ctx.tr("button.expired"))
        return
    ctx.toast(ctx.tr("feedback.toast"))
    if pressed.satisfied == "y":
        leave(ctx)
        ctx.say(ctx.tr("feedback.thanks_yes", ref=submission.ref))
        return
    if ctx.in_form:
        # Mid-registration the form keeps the conversation: the follow-up stands without a text.
        ctx.say(ctx.tr("feedback.thanks_no", ref=submission.ref))
        return
    ctx.set_state({"flow": FLOW, "submission": submission.id})
    assert submission.id is not None
    ctx.say(ctx.tr("followup.ask", ref=submission.ref), buttons=[[ctx.button("followup.nothing_more", FollowupDone(submission.id).pack())]])


async def on_message(ctx: Context) -> None:
    """What is still unresolved, typed (anything else than text is asked again)."""
    resident = ctx.resident
    assert resident is not None and resident.id is not None
    text = ctx.event.text.strip() if ctx.event.text else ""
    if not text:
        ctx.say(ctx.tr("followup.text_only"))
        return
    try:
        submission = await add_followup_text(ctx.uow, ctx.state["submission"], resident.id, text, ctx.now)
    except ServiceError as exc:
        ctx.say(ctx.tr("followup.again", reason=exc.text(ctx.tr)))
        return
    ctx.set_state({})
    if submission is None:
        ctx.say(ctx.tr("followup.gone"), keyboard=ctx.menu())
        return
    ctx.say(ctx.tr("followup.sent_with_text", ref=submission.ref), keyboard=ctx.menu())
