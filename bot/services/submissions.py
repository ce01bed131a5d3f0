"""A resident's submission: registered (by the resident, or from a paper form by a village head) and withdrawn.

The rules are the domain's (bot/domain/submissions.py); here they meet the database. The conversation
calls these inside the update's own transaction, so the submission, the resident's state and the
receipt message commit together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.domain.hall import HALL
from bot.domain.media import PHOTO, VOICE, Stashed
from bot.domain.submissions import PAPER, Status, Withdrawal, receipt_code, withdrawal
from bot.services.staff import Actor, audit
from storage.models import Commune, Meeting, Resident, Submission
from storage.uow import UnitOfWork, commits


@dataclass(frozen=True)
class Registration:
    """What the form collected, already checked by the form's own steps."""

    name: str
    village_id: int
    topic_id: int
    question: str
    wants_to_speak: bool
    phone: str | None = None
    voice: Stashed | None = None  # asked aloud: `question` holds the placeholder until it is typed in
    photos: list[int] = field(default_factory=list)  # kept photos' attachment ids


@commits
async def register(
    uow: UnitOfWork, meeting: Meeting, commune: Commune, form: Registration, *, platform: str, resident: Resident | None = None,
    entered_by: Actor | None = None, now: datetime,
) -> Submission:
    """Store the submission under the commune's next receipt code. `platform`: the resident's, or for
    someone without a chat how it came in: PAPER, a form a village head typed in, or HALL, a question
    from the floor the secretary took down; `entered_by` is then that staff member, audited as such."""
    assert commune.id is not None and meeting.id is not None and (resident is not None) != (entered_by is not None)
    assert (platform in (PAPER, HALL)) == (entered_by is not None)
    ref = receipt_code(commune.code, await uow.communes.next_ref_number(commune.id))
    submission = uow.submissions.add(
        Submission(
            ref=ref, meeting_id=meeting.id, resident_id=resident.id if resident else None, name=form.name, phone=form.phone,
            village_id=form.village_id, topic_id=form.topic_id, question=form.question, wants_to_speak=form.wants_to_speak,
            status=Status.RECEIVED,
            # The platform the person used (their resident row names the very bot, for the answer), or PAPER or HALL.
            channel=platform,
            entered_by_staff_id=entered_by.staff.id if entered_by and entered_by.staff else None,
            awaiting_transcript=form.voice is not None,
            created_at=now,
        )
    )
    if form.voice is not None or form.photos:
        await uow.flush()  # the form's kept files are the submission's from now on
        assert submission.id is not None
        if form.voice is not None:
            await uow.files.bind(submission.id, form.voice.attachment_id, VOICE, seconds=form.voice.seconds, now=now)
        for n, attachment_id in enumerate(form.photos):
            await uow.files.bind(submission.id, attachment_id, PHOTO, position=n, now=now)
    if entered_by is not None:
        await audit(uow, entered_by, f"submission.{platform}", f"submission {ref}",
                    after={"village_id": form.village_id, "topic_id": form.topic_id}, now=now)
    else:
        assert resident is not None
        # Remembered for the next form; the phone only when the resident gave one.
        resident.name = form.name
        resident.village_id = form.village_id  # whose village notices they get
        if form.phone:
            resident.phone = form.phone
    return submission


async def own(uow: UnitOfWork, resident: Resident | None, submission_id: int) -> Submission | None:
    """The resident's own submission; another's is no different from one that does not exist."""
    if resident is None:
        return None
    submission = await uow.submissions.get(submission_id)
    return submission if submission is not None and submission.resident_id == resident.id else None


async def may_withdraw(uow: UnitOfWork, submission: Submission, now: datetime) -> Withdrawal:
    meeting = await uow.meetings.get(submission.meeting_id)
    return withdrawal(submission.status, registration_open=meeting is not None and now <= meeting.registration_closes_at)


@commits
async def withdraw(uow: UnitOfWork, submission: Submission, now: datetime) -> Withdrawal:
    """Take the question back if the rules allow it now; says what happened."""
    verdict = await may_withdraw(uow, submission, now)
    if verdict == Withdrawal.ALLOWED:
        submission.status = Status.WITHDRAWN
        submission.withdrawn_at = now
    return verdict
