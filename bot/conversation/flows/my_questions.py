""""Câu hỏi của tôi": the resident's submissions, and withdrawing one before the deadline."""

from __future__ import annotations

from bot.conversation.context import Context
from bot.domain.messages import Button, number
from bot.text.formatting import shorten
from storage.models import Submission

WITHDRAWABLE = ("received",)


async def _can_withdraw(ctx: Context, submission: Submission) -> bool:
    if submission.status not in WITHDRAWABLE:
        return False
    meeting = await ctx.uow.meetings.get(submission.meeting_id)
    return meeting is not None and ctx.now <= meeting.registration_closes_at


async def show(ctx: Context) -> None:
    assert ctx.resident is not None and ctx.resident.id is not None
    rows = await ctx.uow.submissions.by_resident(ctx.resident.id)
    if not rows:
        ctx.say(ctx.tr("my.none"), keyboard=ctx.menu())
        return
    lines = [ctx.tr("my.header", count=len(rows))]
    buttons = []
    for row in rows:
        s = row.submission
        lines.append(
            ctx.tr("my.item", ref=s.ref, topic=row.topic, status=ctx.tr(f"status.{s.status}"), question=shorten(s.question, 80))
        )
        if await _can_withdraw(ctx, s):
            buttons.append([Button(ctx.tr("my.withdraw", ref=s.ref), f"w:{s.id}")])
    if buttons:
        lines.append(ctx.tr("my.withdraw_hint"))
    ctx.say("\n\n".join(lines), buttons=buttons)


async def _own(ctx: Context, raw_id: str) -> Submission | None:
    submission_id = number(raw_id)
    if ctx.resident is None or submission_id is None:
        return None
    submission = await ctx.uow.submissions.get(submission_id)
    return submission if submission is not None and submission.resident_id == ctx.resident.id else None


async def on_button(ctx: Context, data: str) -> None:
    action, _, raw_id = data.partition(":")
    submission = await _own(ctx, raw_id)
    if submission is None:
        ctx.toast(ctx.tr("button.expired"))
        ctx.retire_buttons()
        return
    if action == "wn":
        ctx.retire_buttons()
        ctx.toast(ctx.tr("my.kept", ref=submission.ref))
        ctx.say(ctx.tr("my.kept", ref=submission.ref))
        return
    if not await _can_withdraw(ctx, submission):
        ctx.retire_buttons()
        key = "my.already_withdrawn" if submission.status == "withdrawn" else "my.cannot_withdraw"
        ctx.toast(ctx.tr(key, ref=submission.ref))
        ctx.say(ctx.tr(key, ref=submission.ref))
        return
    if action == "w":
        ctx.say(
            ctx.tr("my.confirm_withdraw", ref=submission.ref, question=shorten(submission.question, 200)),
            buttons=[[Button(ctx.tr("my.confirm_yes"), f"wy:{submission.id}"), Button(ctx.tr("my.confirm_no"), f"wn:{submission.id}")]],
        )
        return
    ctx.retire_buttons()
    submission.status = "withdrawn"
    submission.withdrawn_at = ctx.now
    ctx.toast(ctx.tr("my.withdrawn", ref=submission.ref))
    ctx.say(ctx.tr("my.withdrawn", ref=submission.ref), keyboard=ctx.menu())
