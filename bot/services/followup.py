"""Dân giám sát after the answer: the resident's "👍 Hài lòng" / "👎 Chưa hài lòng", what they say is
still unresolved, and the secretariat's two ways to end a follow-up.

"Chưa hài lòng" opens a follow-up on the same submission at once (so nothing hangs on a second
message); the one optional message after it says what is still unresolved. The secretariat then
answers again (`secretariat.answer`: the resident gets it as a correction, and the follow-up ends in
`record_answer`) or closes it here, and the resident is told either way. The first verdict a resident
gave stays in `first_feedback`: the statistics compare it with the verdict that stands now.
"""

from __future__ import annotations

from datetime import datetime

from bot.domain import validation as textrules
from bot.domain.channels import translator
from bot.domain.errors import ServiceError
from bot.domain.messages import Reply
from bot.domain.outbox import Purpose
from bot.domain.submissions import followup_open, is_live
from bot.services.access import Forbidden
from bot.services.answers import FEEDBACK_NO, FEEDBACK_YES, AnswerError, recipient
from bot.services.outbox import enqueue
from bot.services.secretariat import snapshot, visible
from bot.services.staff import Actor, audit
from storage.models import Submission
from storage.uow import UnitOfWork, commits

# What a resident may write about what is still unresolved: a few paragraphs, like a question.
MAX_FOLLOWUP = 2000


async def _theirs(uow: UnitOfWork, submission_id: int, resident_id: int) -> Submission | None:
    submission = await uow.submissions.get(submission_id)
    if submission is None or submission.resident_id != resident_id or not is_live(submission.status):
        return None
    return submission


@commits
async def record_feedback(uow: UnitOfWork, submission_id: int, resident_id: int, revision: int, verdict: str, now: datetime) -> Submission | None:
    """The resident's verdict on the answer they got; None when the button is not theirs or is stale.
    "Chưa hài lòng" opens a follow-up; "hài lòng" after it on the same answer ends it."""
    submission = await _theirs(uow, submission_id, resident_id)
    if submission is None or submission.answer_revision != revision or not submission.delivered_revision:
        return None
    verdict = FEEDBACK_YES if verdict == "y" else FEEDBACK_NO
    submission.feedback, submission.feedback_at = verdict, now
    submission.first_feedback = submission.first_feedback or verdict
    if verdict == FEEDBACK_NO:
        if not followup_open(submission):
            submission.followup_at, submission.followup_closed_at, submission.followup_text = now, None, None
    elif followup_open(submission):
        submission.followup_closed_at = now
    return submission


class FollowupTextError(ServiceError, ValueError):
    """What the resident wrote cannot be kept; the problem says why."""


@commits
async def add_followup_text(uow: UnitOfWork, submission_id: int, resident_id: int, text: str, now: datetime) -> Submission | None:
    """What the resident says is still unresolved, on their open follow-up; None when it is no longer
    open (the secretariat answered or closed it meanwhile). Bad text: FollowupTextError, nothing kept."""
    text = textrules.block(text)  # BadText: a ServiceError saying which character
    if not textrules.has_letters(text):
        raise FollowupTextError("problem.followup.no_words")
    if len(text) > MAX_FOLLOWUP:
        raise FollowupTextError("problem.followup.too_long", max=MAX_FOLLOWUP, length=len(text))
    submission = await _theirs(uow, submission_id, resident_id)
    if submission is None or not followup_open(submission):
        return None
    submission.followup_text = text
    return submission


@commits
async def close_followup(uow: UnitOfWork, actor: Actor, ref: str, *, now: datetime) -> Submission:
    """End a follow-up without a new answer (the answer stands); the resident is told. Audited."""
    submission = await visible(uow, actor, ref)
    if not actor.may_run_meetings():
        raise Forbidden(ref)
    if not followup_open(submission):
        raise AnswerError("problem.followup.none", ref=submission.ref)
    before = snapshot(submission)
    submission.followup_closed_at = now
    await audit(uow, actor, "submission.followup_close", f"submission {submission.ref}", before=before, after=snapshot(submission), now=now)
    resident = await recipient(uow, submission, reachable_only=False)
    if resident is not None:
        tr = translator(resident.language, resident.channel)
        assert submission.followup_at is not None
        await enqueue(uow, key=f"followup-closed:{submission.ref}:{submission.followup_at.isoformat()}", channel=resident.channel,
                      chat_id=resident.chat_id, reply=Reply(text=tr("followup.closed", ref=submission.ref)), purpose=Purpose.ANSWER,
                      meeting_id=submission.meeting_id, held=resident.unreachable_at is not None)
    return submission
