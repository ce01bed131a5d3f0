"""What the secretariat (and answering departments) do to submissions: classify, assign, answer,
merge duplicates, find them, and what they see of them. Every action is checked against the actor's
role here and audited.

The web console and the command line are doors into these functions; none of them checks
permissions itself.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, Sequence

from rapidfuzz import fuzz

from bot.domain.media import ANSWER
from bot.domain.submissions import is_live
from bot.services.access import Forbidden, in_reach, may_run_meetings, meetings_in_reach, submission_in_reach
from bot.services.answers import (
    AnswerError,
    answer_files,
    answer_with_duplicates,
    clean_field,
    current_files,
    files_summary,
    no_such_code,
    record_answer,
)
from bot.services.staff import Actor, audit
from bot.text.formatting import collation_key
from storage.models import Commune, Meeting, Submission, Topic
from storage.repositories import SubmissionFilter, SubmissionRow
from storage.repositories.files import KeptFile
from storage.uow import UnitOfWork, commits

SIMILAR_AT = 60  # rapidfuzz token_set_ratio: above this two questions likely ask the same thing


def snapshot(s: Submission) -> dict[str, Any]:
    return {
        "topic_id": s.topic_id,
        "department": s.department,
        "status": s.status,
        "answer": s.answer,
        "answered_by": s.answered_by,
        "forwarded_to": s.forwarded_to,
        "expected_by": s.expected_by.isoformat() if s.expected_by else None,
        "duplicate_of_id": s.duplicate_of_id,
    }


async def _submission(uow: UnitOfWork, ref: str) -> Submission:
    submission = None if no_such_code(ref) else await uow.submissions.by_ref(ref.strip().upper())
    if submission is None:
        raise AnswerError("problem.answer.no_code", ref=ref)
    return submission


async def visible(uow: UnitOfWork, actor: Actor, ref: str) -> Submission:
    """A submission the actor may see: their commune's, all for the secretariat, only assigned ones for a department.

    Every action on one submission looks it up here and nowhere else: another commune's is
    refused (NotYours) before anything about it, its department included, is considered."""
    submission = await _submission(uow, ref)
    await submission_in_reach(uow, actor, submission)
    if not (actor.may_run_meetings() or actor.may_answer(submission.department)):
        raise Forbidden(ref)
    return submission


async def search(uow: UnitOfWork, actor: Actor, flt: SubmissionFilter) -> tuple[Sequence[SubmissionRow], int]:
    if actor.role == "department":
        assert actor.staff is not None
        flt = flt.restricted_to(actor.staff.department or "")
    elif not actor.may_run_meetings():
        raise Forbidden("submissions")
    if actor.commune_id is not None:
        flt = flt.in_commune(actor.commune_id)
    return await uow.submissions.search(flt)


async def listing(uow: UnitOfWork, actor: Actor, meeting_code: str | None = None) -> list[dict[str, Any]]:
    """Every submission in the actor's reach, of one meeting or of all, phones included: the
    secretariat's list (the shape `doithoai submissions list --json` gives other tools)."""
    may_run_meetings(actor)
    if meeting_code is not None:
        meeting = await uow.meetings.by_code(meeting_code)
        if meeting is None:
            raise AnswerError("problem.no_meeting", code=meeting_code)
        in_reach(actor, meeting.commune_id)
    rows = await uow.submissions.listing(meeting_code)
    if actor.commune_id is not None:
        own = {meeting.code for meeting, _ in await meetings_in_reach(uow, actor)}
        rows = [r for r in rows if r.meeting_code in own]
    return [
        {
            "ref": r.submission.ref,
            "meeting": r.meeting_code,
            "name": r.submission.name,
            "village": r.village,
            "topic": r.topic,
            "question": r.submission.question,
            "wants_to_speak": r.submission.wants_to_speak,
            "phone": r.submission.phone,
            "status": r.submission.status,
            "channel": r.submission.channel,
            "created_at": r.submission.created_at.isoformat(),
        }
        for r in rows
    ]


@commits
async def classify(uow: UnitOfWork, actor: Actor, ref: str, *, topic_id: int | None = None, department: str | None = None, now: datetime) -> Submission:
    """Change the topic and/or assign an answering department (empty string: unassign)."""
    submission = await visible(uow, actor, ref)  # another commune's is refused as unknown before the role is looked at
    if not actor.may_run_meetings():
        raise Forbidden(ref)
    before = snapshot(submission)
    if topic_id is not None:
        topic = await uow.meetings.topic(topic_id)
        if topic is None or topic.meeting_id != submission.meeting_id:
            raise AnswerError("problem.answer.other_topic", ref=ref)
        submission.topic_id = topic_id
    if department is not None:
        submission.department = clean_field(department, "problem.field.department", ref)
    await audit(uow, actor, "submission.classify", f"submission {submission.ref}", before=before, after=snapshot(submission), now=now)
    return submission


@commits
async def answer(
    uow: UnitOfWork, actor: Actor, ref: str, *, text: str | None, by: str | None = None, forward_to: str | None = None,
    expected_by: date | None = None, now: datetime, files: list[tuple[str, bytes]] | None = None,
) -> Submission:
    """Record an answer (a department only for what is assigned to it); duplicates get the same answer.
    `files` (name, bytes): what the answer carries from now on ([]: none); None keeps its current files."""
    submission = await visible(uow, actor, ref)
    if submission.duplicate_of_id is not None:
        raise AnswerError("problem.answer.is_duplicate", ref=ref)
    checked = None if files is None else answer_files(files, submission.ref)  # every file judged before anything changes
    if actor.role == "department" and actor.staff is not None:
        by = by or actor.staff.department
    before = snapshot(submission)
    assert submission.id is not None
    files_before = files_summary(await uow.files.of([submission.id], ANSWER))
    await answer_with_duplicates(uow, submission, text=text, by=by, forward_to=forward_to, expected_by=expected_by, now=now, files=checked)
    after = snapshot(submission)
    files_after = files_summary(await uow.files.of([submission.id], ANSWER))
    if files_before or files_after:
        before, after = {**before, "files": files_before}, {**after, "files": files_after}
    await audit(uow, actor, "submission.answer", f"submission {submission.ref}", before=before, after=after, now=now)
    return submission


async def submission_file(uow: UnitOfWork, actor: Actor, ref: str, file_id: int, roles: tuple[str, ...]) -> tuple[KeptFile, bytes] | None:
    """One of the files of a submission the actor may see, of one of `roles` (an answer's, or the
    resident's recording and photos), with its bytes; None when the submission has no such file."""
    submission = await visible(uow, actor, ref)
    kept = next((f for f in await uow.files.of([submission.id]) if f.id == file_id and f.role in roles), None)  # type: ignore[list-item]
    attachment = await uow.files.attachment(kept.attachment_id) if kept is not None else None
    return (kept, bytes(attachment.data)) if kept is not None and attachment is not None else None


@commits
async def mark_duplicate(uow: UnitOfWork, actor: Actor, ref: str, original_ref: str, *, now: datetime) -> Submission:
    """`ref` asks what `original_ref` asks: answering the original answers it, addressed to its own code."""
    submission = await visible(uow, actor, ref)  # as in classify: the commune first, then the role
    if not actor.may_run_meetings():
        raise Forbidden(ref)
    original = await visible(uow, actor, original_ref)
    if original.id == submission.id:
        raise AnswerError("problem.answer.self_duplicate", ref=ref)
    if original.meeting_id != submission.meeting_id:
        raise AnswerError("problem.answer.other_meeting", ref=ref, original=original.ref)
    while original.duplicate_of_id is not None:  # point at the root, never at a chain
        parent = await uow.submissions.get(original.duplicate_of_id)
        assert parent is not None
        original = parent
    if original.id == submission.id:
        raise AnswerError("problem.answer.circular", ref=ref, original=original_ref)
    before = snapshot(submission)
    submission.duplicate_of_id = original.id
    for child in await uow.submissions.duplicates_of(submission.id):  # type: ignore[arg-type]
        child.duplicate_of_id = original.id
    await audit(uow, actor, "submission.duplicate", f"submission {submission.ref}", before=before, after=snapshot(submission), now=now)
    if original.answer_revision and is_live(submission.status):
        await record_answer(uow, submission.ref, text=original.answer, by=original.answered_by, forward_to=original.forwarded_to,
                            expected_by=original.expected_by, now=now, files=await current_files(uow, original))
    return submission


@dataclass(frozen=True)
class Similar:
    ref: str
    question: str
    score: int


async def similar(uow: UnitOfWork, submission: Submission, limit: int = 5) -> list[Similar]:
    """Other questions of the same meeting that probably ask the same thing, best first."""
    found = []
    for other in await uow.submissions.for_meeting(submission.meeting_id):
        if other.id == submission.id or not is_live(other.status):
            continue
        score = int(fuzz.token_set_ratio(submission.question.lower(), other.question.lower()))
        if score >= SIMILAR_AT:
            found.append(Similar(other.ref, other.question, score))
    return sorted(found, key=lambda s: -s.score)[:limit]


async def current_meeting(uow: UnitOfWork, actor: Actor, now: datetime) -> Meeting | None:
    """The meeting a list shows when none is asked for: the current one of the person's commune (of the only one there is)."""
    commune = await uow.communes.get(actor.commune_id) if actor.commune_id is not None else await uow.communes.resolve(None)
    return await uow.meetings.current(now, commune.id) if commune is not None and commune.id is not None else None


async def departments(uow: UnitOfWork) -> list[str]:
    """The answering departments staff can be assigned to, in Vietnamese order."""
    return sorted({s.department for s in await uow.staff.all() if s.department}, key=collation_key)


@dataclass(frozen=True)
class ListPage:
    """One page of the submissions the actor may see, with what the list can be narrowed by."""

    rows: Sequence[SubmissionRow]
    total: int
    meeting_id: int | None  # the meeting listed; None: every meeting in reach
    meetings: list[tuple[Meeting, Commune]]
    villages: list[tuple[int, str]]  # (id, name) of the listed meetings' communes' villages
    topics: list[tuple[int, str]]  # (id, name) of the listed meetings' topics
    duplicates: dict[int, str]  # the code of each listed duplicate's original, by the original's id
    departments: list[str]  # empty for those who cannot assign


async def list_page(uow: UnitOfWork, actor: Actor, flt: SubmissionFilter, *, now: datetime, current: bool = False) -> ListPage:
    """`flt`'s page of the list; with `current`, of the actor's current meeting whatever `flt` names."""
    if current:
        meeting = await current_meeting(uow, actor, now)
        flt = replace(flt, meeting_id=meeting.id if meeting else None)
    rows, total = await search(uow, actor, flt)
    meetings = await meetings_in_reach(uow, actor)
    chosen = [(m, commune) for m, commune in meetings if flt.meeting_id in (None, m.id)]
    # Names alone are ambiguous once the list spans several communes or meetings.
    several_communes = len({commune.id for _, commune in meetings}) > 1
    communes = {commune.id: commune for _, commune in chosen}
    villages: list[tuple[int, str]] = []
    for commune_id, found in (await uow.communes.villages_of(list(communes))).items():  # type: ignore[arg-type]
        for v in found:
            villages.append((v.id, f"{v.name} ({communes[commune_id].name})" if several_communes else v.name))  # type: ignore[arg-type]
    topics: list[tuple[int, str]] = []
    by_meeting = await uow.meetings.topics_of([m.id for m, _ in chosen])  # type: ignore[misc]
    for m, _ in chosen:
        for topic in by_meeting[m.id]:  # type: ignore[index]
            topics.append((topic.id, f"{m.code}: {topic.name}" if len(chosen) > 1 else topic.name))  # type: ignore[arg-type]
    duplicates: dict[int, str] = {}
    for s in (r.submission for r in rows):
        if s.duplicate_of_id is not None and s.duplicate_of_id not in duplicates:
            original = await uow.submissions.get(s.duplicate_of_id)
            duplicates[s.duplicate_of_id] = original.ref if original else ""
    return ListPage(rows=rows, total=total, meeting_id=flt.meeting_id, meetings=meetings, villages=villages, topics=topics,
                   duplicates=duplicates, departments=await departments(uow) if actor.may_run_meetings() else [])


@dataclass(frozen=True)
class SubmissionView:
    """One submission with everything its page shows about it."""

    submission: Submission
    meeting: Meeting
    commune: Commune
    village: str
    topic: str
    topics: Sequence[Topic]  # its meeting's, retired ones included: it may be filed under one
    original: Submission | None
    duplicates: Sequence[Submission]
    similar: list[Similar]
    departments: list[str]


async def submission_view(uow: UnitOfWork, actor: Actor, ref: str) -> SubmissionView:
    submission = await visible(uow, actor, ref)
    meeting = await uow.meetings.get(submission.meeting_id)
    assert meeting is not None
    commune = await uow.communes.get(meeting.commune_id)
    assert commune is not None
    village = await uow.meetings.village(submission.village_id)
    topic = await uow.meetings.topic(submission.topic_id)
    runs = actor.may_run_meetings()
    return SubmissionView(
        submission=submission, meeting=meeting, commune=commune, village=village.name if village else "",
        topic=topic.name if topic else "", topics=await uow.meetings.topics(meeting.id, active_only=False),  # type: ignore[arg-type]
        original=await uow.submissions.get(submission.duplicate_of_id) if submission.duplicate_of_id else None,
        duplicates=await uow.submissions.duplicates_of(submission.id),  # type: ignore[arg-type]
        # Suggestions show other residents' questions: only to those who may merge them.
        similar=await similar(uow, submission) if runs and submission.duplicate_of_id is None else [],
        departments=await departments(uow) if runs else [],
    )
