""""Câu hỏi của tôi": the resident's submissions, each with its answer once the conclusion is published
(so a resident who lost the message finds it again), and withdrawing one before the deadline."""

from __future__ import annotations

from bot.conversation.context import Context
from bot.domain.callbacks import Feedback, Withdraw, WithdrawNo, WithdrawYes
from bot.domain.messages import Button
from bot.domain.submissions import Status, Withdrawal, followup_open
from bot.services import submissions
from bot.services.answers import FEEDBACK_NO, answer_text
from bot.text.formatting import shorten
from storage.models import Submission


async def show(ctx: Context) -> None:
    assert ctx.resident is not None and ctx.resident.id is not None
    rows = await ctx.uow.submissions.by_resident(ctx.resident.id)
    if not rows:
        ctx.say(ctx.tr("my.none"), keyboard=ctx.menu())
        return
    commune = await ctx.commune()
    lines = [ctx.tr("my.header", count=len(rows))]
    buttons = []
    withdrawable = False
    for row in rows:
        s = row.submission
        meeting = await ctx.uow.meetings.get(s.meeting_id)
        published = meeting is not None and meeting.concluded_at is not None
        lines.append(ctx.tr("my.item", ref=s.ref, topic=row.topic, status=ctx.tr(f"status.{_status(s, published)}"),
                            question=shorten(s.question, 300 if published else 80)))
        if published and s.answer_revision and s.status != Status.WITHDRAWN and commune is not None:
            # The whole answer, as it was sent: a long one is cut into messages the platform takes.
            lines[-1] += "\n" + answer_text(s, commune.name, ctx.tr)
            if s.id is not None and s.feedback != FEEDBACK_NO and not followup_open(s):
                buttons.append([Button(ctx.tr("my.unsatisfied", ref=s.ref), Feedback(s.id, s.answer_revision, "n").pack())])
        elif published and s.status != Status.WITHDRAWN:
            lines[-1] += "\n" + ctx.tr("my.still_pending")
        if s.id is not None and await submissions.may_withdraw(ctx.uow, s, ctx.now) == Withdrawal.ALLOWED:
            buttons.append([Button(ctx.tr("my.withdraw", ref=s.ref), Withdraw(s.id).pack())])
            withdrawable = True
    if withdrawable:
        lines.append(ctx.tr("my.withdraw_hint"))
    ctx.say("\n\n".join(lines), buttons=buttons)


def _status(s: Submission, published: bool) -> str:
    """Answers are the residents' only once the conclusion is published: until then an answered
    question reads as received, as it would if the secretariat had not written the answer yet."""
    if not published and s.status in (Status.ANSWERED, Status.FORWARDED):
        return Status.RECEIVED
    return s.status


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
