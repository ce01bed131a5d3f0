""""Câu hỏi của tôi": the resident's submissions, and withdrawing one before the deadline."""

from __future__ import annotations

from bot.conversation.context import Context
from bot.domain.callbacks import Withdraw, WithdrawNo, WithdrawYes
from bot.domain.messages import Button
from bot.domain.submissions import Withdrawal
from bot.services import submissions
from bot.text.formatting import shorten


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
        if s.id is not None and await submissions.may_withdraw(ctx.uow, s, ctx.now) == Withdrawal.ALLOWED:
            buttons.append([Button(ctx.tr("my.withdraw", ref=s.ref), Withdraw(s.id).pack())])
    if buttons:
        lines.append(ctx.tr("my.withdraw_hint"))
    ctx.say("\n\n".join(lines), buttons=buttons)


async def on_button(ctx: Context, pressed: Withdraw | WithdrawYes | WithdrawNo) -> None:
    submission = await submissions.own(ctx.uow, ctx.resident, pressed.submission_id)
    if submission is None:
        ctx.toast(ctx.tr("button.expired"))
        ctx.retire_buttons()
        return
    if isinstance(pressed, WithdrawNo):
        ctx.retire_buttons()
        ctx.toast(ctx.tr("my.kept", ref=submission.ref))
        ctx.say(ctx.tr("my.kept", ref=submission.ref))
        return
    verdict = await submissions.may_withdraw(ctx.uow, submission, ctx.now)
    if verdict != Withdrawal.ALLOWED:
        ctx.retire_buttons()
        key = "my.already_withdrawn" if verdict == Withdrawal.ALREADY else "my.cannot_withdraw"
        ctx.toast(ctx.tr(key, ref=submission.ref))
        ctx.say(ctx.tr(key, ref=submission.ref))
        return
    if isinstance(pressed, Withdraw):
        ctx.say(
            ctx.tr("my.confirm_withdraw", ref=submission.ref, question=shorten(submission.question, 200)),
            buttons=[[Button(ctx.tr("my.confirm_yes"), WithdrawYes(pressed.submission_id).pack()),
                      Button(ctx.tr("my.confirm_no"), WithdrawNo(pressed.submission_id).pack())]],
        )
        return
    ctx.retire_buttons()
    await submissions.withdraw(ctx.uow, submission, ctx.now)
    ctx.toast(ctx.tr("my.withdrawn", ref=submission.ref))
    ctx.say(ctx.tr("my.withdrawn", ref=submission.ref), keyboard=ctx.menu())
