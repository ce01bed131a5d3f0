"""Dân giám sát: the resident's "👍 Hài lòng" / "👎 Chưa hài lòng" on an answer they received."""

from __future__ import annotations

from bot.conversation.context import Context
from bot.domain.messages import number
from bot.services.answers import record_feedback


async def on_button(ctx: Context, data: str) -> None:
    """`fb:<submission id>:<answer revision>:<y|n>`: a button on an older revision of the answer is stale."""
    parts = data.split(":")
    resident = ctx.resident
    submission_id, revision = (number(parts[1]), number(parts[2])) if len(parts) == 4 else (None, None)
    valid = submission_id is not None and revision is not None and parts[3] in ("y", "n")
    submission = None
    if valid and resident is not None and resident.id is not None:
        submission = await record_feedback(ctx.uow, submission_id, resident.id, revision, parts[3], ctx.now)  # type: ignore[arg-type]
    ctx.retire_buttons()
    if submission is None:
        ctx.toast(ctx.tr("button.expired"))
        return
    key = "feedback.thanks_yes" if parts[3] == "y" else "feedback.thanks_no"
    ctx.toast(ctx.tr("feedback.toast"))
    ctx.say(ctx.tr(key, ref=submission.ref))
