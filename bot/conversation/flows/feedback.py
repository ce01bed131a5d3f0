"""Dân giám sát: the resident's "👍 Hài lòng" / "👎 Chưa hài lòng" on an answer they received."""

from __future__ import annotations

from bot.conversation.context import Context
from bot.domain.callbacks import Feedback
from bot.services.answers import record_feedback


async def on_button(ctx: Context, pressed: Feedback) -> None:
    resident = ctx.resident
    submission = None
    if resident is not None and resident.id is not None:
        submission = await record_feedback(ctx.uow, pressed.submission_id, resident.id, pressed.revision, pressed.satisfied, ctx.now)
    ctx.retire_buttons()
    if submission is None:
        ctx.toast(ctx.tr("button.expired"))
        return
    key = "feedback.thanks_yes" if pressed.satisfied == "y" else "feedback.thanks_no"
    ctx.toast(ctx.tr("feedback.toast"))
    ctx.say(ctx.tr(key, ref=submission.ref))
