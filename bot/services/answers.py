"""Answers and the conclusion (Thông báo kết luận): recording answers, publishing, delivering them.

Before publication an answer is only recorded (changing it just replaces it). Publishing the
conclusion queues, for every submission, one message to its submitter; an answer recorded or
changed after publication is queued at once (a change is marked as a correction). Each
submission's answer revision is delivered once: publishing twice sends nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from bot.domain import validation as textrules
from bot.domain.callbacks import Feedback
from bot.domain.channels import translator
from bot.domain.errors import Problem, ServiceError
from bot.domain.media import ANSWER
from bot.domain.messages import Button, Reply
from bot.domain.outbox import Purpose
from bot.domain.submissions import Status, after_answer, followup_open, is_live
from bot.services.access import meeting_to_run
from bot.services.filetypes import file_name, sniff
from bot.services.outbox import enqueue
from bot.services.staff import staff_address
from bot.text.catalogue import Translator
from bot.text.formatting import date as fmt_date
from bot.text.formatting import local, shorten
from storage.models import Attachment, Commune, Meeting, Resident, Submission
from storage.repositories.files import KeptFile
from storage.uow import UnitOfWork, commits

if TYPE_CHECKING:
    from bot.services.staff import Actor

FEEDBACK_YES, FEEDBACK_NO = "satisfied", "unsatisfied"


class AnswerError(ServiceError, ValueError):
    """What staff asked for cannot be done; the problem says why, naming the code."""


def clean_field(text: str | None, field: str, ref: str, *, lines: bool = False) -> str | None:
    """A staff-written text by the text rules, or AnswerError naming `field` (its name's catalogue key); empty: None."""
    try:
        text = (textrules.block if lines else textrules.line)(text or "")
    except textrules.BadText as exc:
        raise AnswerError("problem.answer.bad_text", ref=ref, field=Problem(field), reason=exc.problem) from None
    return text or None


# The files an answer may carry (a decision, a map, a photo of the site): what a resident's phone opens.
# Telegram takes uploads up to 50 MB; deploy/nginx lets one console form carry the five at their largest.
ANSWER_FILES_MAX = 5
ANSWER_FILE_MAX_BYTES = 20 * 1024 * 1024
ANSWER_FILE_TYPES = frozenset({
    "application/pdf", "image/jpeg", "image/png", "image/webp",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
})
NAME_MAX = 120  # a file's name as kept and sent (Attachment.filename holds 255)


@dataclass(frozen=True)
class AnswerFile:
    """A file checked to go with an answer: its name ends with the extension of what its bytes are."""

    name: str
    mime_type: str
    data: bytes


def _shown_name(name: str) -> str:
    """The name as staff gave it, without folders or characters no text may hold, to name it in a refusal."""
    name = textrules.printable(PurePosixPath((name or "").replace("\\", "/")).name).replace("\n", " ").strip()
    return name[:NAME_MAX] or "tep"


def answer_files(files: list[tuple[str, bytes]], ref: str) -> list[AnswerFile]:
    """Staff's files for an answer, each checked (type from its bytes, size), or AnswerError naming the first wrong one."""
    if len(files) > ANSWER_FILES_MAX:
        raise AnswerError("problem.answer.files_many", ref=ref, most=ANSWER_FILES_MAX, count=len(files))
    checked = []
    for name, data in files:
        shown = _shown_name(name)
        if not data:
            raise AnswerError("problem.answer.file_empty", ref=ref, file=shown)
        if len(data) > ANSWER_FILE_MAX_BYTES:
            raise AnswerError("problem.answer.file_size", ref=ref, file=shown, mb=ANSWER_FILE_MAX_BYTES // (1024 * 1024))
        kind = sniff(data)  # the name's extension is the sender's word only
        if kind is None or kind.mime not in ANSWER_FILE_TYPES:
            raise AnswerError("problem.answer.file_kind", ref=ref, file=shown)
        stem = shown[: NAME_MAX - len(kind.extension)] if not shown.lower().endswith(kind.extension) else shown
        checked.append(AnswerFile(file_name(stem, kind), kind.mime, data))
    return checked


def files_summary(files: list[KeptFile]) -> list[dict[str, object]]:
    """What the audit log keeps of an answer's files: names and sizes, never the bytes."""
    return [{"name": f.filename, "bytes": f.size, **({"public": True} if f.public else {})} for f in files]


async def current_files(uow: UnitOfWork, submission: Submission) -> list[AnswerFile]:
    """The files a submission's answer carries, bytes included: to give a duplicate the same."""
    out = []
    for f in await uow.files.of([submission.id], ANSWER):  # type: ignore[list-item]
        attachment = await uow.files.attachment(f.attachment_id)
        if attachment is not None:
            out.append(AnswerFile(f.filename, f.mime_type, bytes(attachment.data)))
    return out


async def _same_files(uow: UnitOfWork, kept: list[KeptFile], files: list[AnswerFile]) -> bool:
    if [(f.filename, f.size) for f in kept] != [(f.name, len(f.data)) for f in files]:
        return False
    for old, new in zip(kept, files):
        attachment = await uow.files.attachment(old.attachment_id)
        if attachment is None or bytes(attachment.data) != new.data:
            return False
    return True


async def _replace_files(uow: UnitOfWork, submission: Submission, kept: list[KeptFile], files: list[AnswerFile], now: datetime) -> None:
    """The answer's files become `files`; one that was public and comes again unchanged stays public."""
    public: set[tuple[str, bytes]] = set()
    for old in kept:
        attachment = await uow.files.attachment(old.attachment_id) if old.public else None
        if attachment is not None:
            public.add((old.filename, bytes(attachment.data)))
    await uow.files.remove([f.id for f in kept])
    assert submission.id is not None
    for n, f in enumerate(files):
        new = await uow.files.keep(submission.id, ANSWER, filename=f.name, mime_type=f.mime_type, data=f.data, now=now, position=n)
        new.public = (f.name, f.data) in public


def no_such_code(ref: str) -> bool:
    """A code holding characters no code has: not looked up, since PostgreSQL refuses a NUL even in a query."""
    return textrules.first_refused(ref) is not None


async def record_answer(
    uow: UnitOfWork,
    ref: str,
    *,
    text: str | None,
    by: str | None = None,
    forward_to: str | None = None,
    expected_by: date | None = None,
    now: datetime,
    files: list[tuple[str, bytes]] | list[AnswerFile] | None = None,
) -> Submission:
    """Record (or replace) a submission's answer; after publication, queue it to the resident. Commits.

    `files`: what the answer carries from now on ([]: nothing); None keeps those it has. Other files
    are a new answer: a new revision, sent again with them."""
    submission = None if no_such_code(ref) else await uow.submissions.by_ref(ref.strip().upper())
    if submission is None:
        raise AnswerError("problem.answer.no_code", ref=ref)
    # Read again under a row lock: two staff answering at once must not both write revision N+1,
    # or a correction would count as delivered and never reach the resident.
    await uow.session.refresh(submission, with_for_update=True)
    if submission.status == Status.WITHDRAWN:
        raise AnswerError("problem.answer.withdrawn", ref=ref)
    text = clean_field(text, "problem.field.answer", ref, lines=True)
    by, forward_to = clean_field(by, "problem.field.by", ref), clean_field(forward_to, "problem.field.forward", ref)
    if forward_to is None and expected_by is not None:
        raise AnswerError("problem.answer.date_without_forward", ref=ref)
    if forward_to is not None and expected_by is None:
        raise AnswerError("problem.answer.forward_without_date", ref=ref, office=forward_to)
    if text is None and forward_to is None:
        raise AnswerError("problem.answer.empty", ref=ref)
    checked = None if files is None else [f if isinstance(f, AnswerFile) else answer_files([f], ref)[0] for f in files]
    if checked is not None and len(checked) > ANSWER_FILES_MAX:
        raise AnswerError("problem.answer.files_many", ref=ref, most=ANSWER_FILES_MAX, count=len(checked))
    kept = await uow.files.of([submission.id], ANSWER) if checked is not None else []  # type: ignore[list-item]
    other_files = checked is not None and not await _same_files(uow, kept, checked)
    new = (text, by, forward_to, expected_by)
    if new == (submission.answer, submission.answered_by, submission.forwarded_to, submission.expected_by) and not other_files:
        return submission  # nothing changed: no new revision, nothing re-sent
    if other_files:
        assert checked is not None
        await _replace_files(uow, submission, kept, checked, now)
    submission.answer, submission.answered_by, submission.forwarded_to, submission.expected_by = new
    submission.answered_at = now
    submission.status = after_answer(forwarded=bool(forward_to))
    submission.answer_revision += 1
    if followup_open(submission):
        # Answered again after "chưa hài lòng": the follow-up ends, and the verdict that is counted
        # from now on is the one on this answer (the first stays in first_feedback).
        submission.followup_closed_at = now
        submission.feedback = submission.feedback_at = None
    meeting = await uow.meetings.get(submission.meeting_id)
    assert meeting is not None
    if meeting.concluded_at is not None:
        await deliver_answer(uow, submission, meeting)
    return submission


async def answer_with_duplicates(
    uow: UnitOfWork, submission: Submission, *, text: str | None, by: str | None, forward_to: str | None = None,
    expected_by: date | None = None, now: datetime, files: list[AnswerFile] | None = None,
) -> None:
    """`record_answer` for `submission` and, each under its own code, the live questions marked as asking the same."""
    assert submission.id is not None
    await record_answer(uow, submission.ref, text=text, by=by, forward_to=forward_to, expected_by=expected_by, now=now, files=files)
    for duplicate in await uow.submissions.duplicates_of(submission.id):
        if is_live(duplicate.status):
            await record_answer(uow, duplicate.ref, text=text, by=by, forward_to=forward_to, expected_by=expected_by, now=now, files=files)


def answer_text(submission: Submission, commune_name: str, tr: Translator) -> str:
    """The answer itself as its submitter reads it, in the answer's message and under "Câu hỏi của tôi":
    what was answered and by whom, or where it was forwarded and when to expect news."""
    if submission.forwarded_to:
        body = tr(
            "answer.forwarded",
            to=submission.forwarded_to,
            expected=fmt_date(datetime.combine(submission.expected_by, datetime.min.time())) if submission.expected_by else "",
        )
        if submission.answer:
            body += "\n\n" + submission.answer
        return body
    return tr("answer.body", answer=submission.answer, by=submission.answered_by or tr("answer.by_commune", commune=commune_name))


def answer_reply(submission: Submission, commune: Commune, tr: Translator, *, correction: bool, feedback: bool = True,
                 files: list[str] | None = None) -> Reply:
    """The answer as its submitter reads it; `feedback=False` for a village head who reads it out (no buttons).
    `files`: the names of the files that follow it, one message each."""
    question = shorten(submission.question, 300)
    head = tr("answer.correction_head", ref=submission.ref) if correction else tr("answer.head", ref=submission.ref)
    text = f"{head}\n❓ {question}\n\n{answer_text(submission, commune.name, tr)}"
    if files:
        text += "\n\n" + tr("answer.files", count=len(files), names=", ".join(files))
    if not feedback:
        return Reply(text=text)
    text += f"\n\n{tr('answer.feedback_ask')}"
    assert submission.id is not None
    yes, no = (Feedback(submission.id, submission.answer_revision, answer).pack() for answer in ("y", "n"))
    return Reply(text=text, buttons=[[Button(tr("answer.satisfied"), yes), Button(tr("answer.unsatisfied"), no)]])


async def recipient(uow: UnitOfWork, submission: Submission, *, reachable_only: bool = True) -> Resident | None:
    """Who gets this submission's messages: nobody once withdrawn or erased (/xoadulieu); with
    `reachable_only`, nobody while their chat cannot be reached."""
    if submission.status == Status.WITHDRAWN or submission.resident_id is None:
        return None
    resident = await uow.residents.get(submission.resident_id)
    if resident is None or (reachable_only and resident.unreachable_at is not None):
        return None
    return resident


async def deliver_answer(uow: UnitOfWork, submission: Submission, meeting: Meeting) -> bool:
    """Queue the current answer revision to the submitter, once. True when something was queued."""
    if submission.answer_revision == 0 or submission.delivered_revision >= submission.answer_revision:
        return False
    if submission.channel == "paper":
        return await _deliver_to_heads(uow, submission, meeting)
    resident = await recipient(uow, submission, reachable_only=False)
    correction = submission.delivered_revision > 0
    # Recorded as handled even when nobody can receive it, so a later publish does not try again.
    submission.delivered_revision = submission.answer_revision
    if resident is None:
        return False
    commune = await uow.communes.get(meeting.commune_id)
    assert commune is not None
    files = await uow.files.of([submission.id], ANSWER)  # type: ignore[list-item]
    reply = answer_reply(submission, commune, translator(resident.language, resident.channel), correction=correction,
                         files=[f.filename for f in files])
    key = f"answer:{submission.ref}:r{submission.answer_revision}:{resident.channel}:{resident.chat_id}"
    # Someone who cannot be reached now still gets it, the next time they write.
    held = resident.unreachable_at is not None
    await enqueue(uow, key=key, channel=resident.channel, chat_id=resident.chat_id, reply=reply, purpose=Purpose.ANSWER, meeting_id=meeting.id,
                  held=held)
    await _send_files(uow, files, key=key, channel=resident.channel, chat_id=resident.chat_id, meeting=meeting, held=held)
    return True


async def _send_files(uow: UnitOfWork, files: list[KeptFile], *, key: str, channel: str, chat_id: str, meeting: Meeting,
                      held: bool = False) -> None:
    """One message per file after the answer's text (Telegram: a photo or a document; Zalo: a signed link),
    each under the answer's key: once per revision, as the text."""
    for f in files:
        await enqueue(uow, key=f"{key}:file{f.position}", channel=channel, chat_id=chat_id, reply=Reply(document=f.attachment_id),
                      purpose=Purpose.ANSWER, meeting_id=meeting.id, held=held)


async def _deliver_to_heads(uow: UnitOfWork, submission: Submission, meeting: Meeting) -> bool:
    """A paper form's resident has no chat: the answer goes to their village's heads, to read out or hand over."""
    correction = submission.delivered_revision > 0
    submission.delivered_revision = submission.answer_revision
    if submission.status == Status.WITHDRAWN:
        return False
    commune = await uow.communes.get(meeting.commune_id)
    village = await uow.meetings.village(submission.village_id)
    assert commune is not None and village is not None
    queued = False
    files = await uow.files.of([submission.id], ANSWER)  # type: ignore[list-item]
    for head in await uow.staff.heads_of(submission.village_id):
        address = staff_address(head)  # on Telegram or on Zalo, wherever they last worked as staff
        if address is None:
            continue
        channel, chat_id = address
        tr = translator("vi", channel)
        answer = answer_reply(submission, commune, tr, correction=correction, feedback=False, files=[f.filename for f in files])
        text = tr("paper.answer_head", ref=submission.ref, name=submission.name or "", village=village.name) + "\n\n" + answer.text
        key = f"answer:{submission.ref}:r{submission.answer_revision}:head:{head.id}"
        queued |= bool(await enqueue(uow, key=key, channel=channel, chat_id=chat_id, reply=Reply(text=text),
                                     purpose=Purpose.ANSWER, meeting_id=meeting.id))
        await _send_files(uow, files, key=key, channel=channel, chat_id=chat_id, meeting=meeting)
    return queued


@dataclass
class PublishReport:
    meeting_code: str
    answers_queued: int = 0
    still_pending: list[str] = field(default_factory=list)
    summaries_queued: int = 0
    already_published: bool = False


class Unanswered(AnswerError):
    def __init__(self, refs: list[str]) -> None:
        super().__init__("problem.answer.unanswered", refs=", ".join(refs))
        self.refs = refs


class NotOver(AnswerError):
    """The meeting has not ended: its conclusion cannot be known yet, unless staff force it."""

    def __init__(self, meeting: Meeting, tz: str) -> None:
        super().__init__("problem.answer.not_over", code=meeting.code, ends=local(meeting.ends_at, tz))
        self.ends_at = meeting.ends_at


def _early(meeting: Meeting, now: datetime) -> bool:
    """Not held yet and never published: publishing now needs forcing."""
    return meeting.concluded_at is None and now < meeting.ends_at


@commits
async def publish_conclusion(
    uow: UnitOfWork,
    actor: "Actor",
    meeting_code: str,
    *,
    now: datetime,
    summary: str | None = None,
    document: tuple[str, bytes] | None = None,
    allow_unanswered: bool = False,
    force: bool = False,
) -> PublishReport:
    """Mark the meeting concluded and queue every answer, the summary and the document; audited. Commits.

    Refused (NotOver) before the meeting ends unless `force`: residents would be told the
    conclusion of a meeting that has not been held."""
    from bot.services.staff import audit

    meeting = await meeting_to_run(uow, actor, meeting_code, AnswerError)
    if summary is not None:  # what staff typed is judged before the meeting's state: they fix it either way
        summary = clean_field(summary, "problem.field.summary", meeting_code, lines=True) or ""
    if _early(meeting, now) and not force:
        commune = await uow.communes.get(meeting.commune_id)
        raise NotOver(meeting, commune.timezone if commune is not None else "Asia/Ho_Chi_Minh")
    rows = await uow.submissions.for_meeting(meeting.id)
    live = [s for s in rows if is_live(s.status)]
    unanswered = [s.ref for s in live if s.answer_revision == 0]
    if unanswered and not allow_unanswered:
        raise Unanswered(unanswered)
    report = PublishReport(meeting_code=meeting.code, already_published=meeting.concluded_at is not None)
    if meeting.concluded_at is None:
        meeting.concluded_at = now
    if summary is not None:
        meeting.conclusion_summary = summary.strip() or None
    if document is not None:
        name, data = document
        attachment = uow.meetings.add(Attachment(filename=name, mime_type="application/pdf", data=data, created_at=now))
        await uow.flush()
        meeting.conclusion_document_id = attachment.id
    commune = await uow.communes.get(meeting.commune_id)
    assert commune is not None
    for submission in live:
        if submission.answer_revision:
            report.answers_queued += await deliver_answer(uow, submission, meeting)
            continue
        report.still_pending.append(submission.ref)
        resident = await recipient(uow, submission)
        if resident is not None:
            tr = translator(resident.language, resident.channel)
            await enqueue(
                uow, key=f"pending:{submission.ref}:{resident.channel}:{resident.chat_id}", channel=resident.channel,
                chat_id=resident.chat_id, reply=Reply(text=tr("answer.pending", ref=submission.ref, question=shorten(submission.question, 200))),
                purpose=Purpose.ANSWER, meeting_id=meeting.id,
            )
    report.summaries_queued = await _send_conclusion(uow, meeting, commune, [s for s in rows if is_live(s.status)])
    await audit(uow, actor, "meeting.publish", f"meeting {meeting.code}",
                after={"answers_queued": report.answers_queued, "summaries_queued": report.summaries_queued,
                       "still_pending": report.still_pending, "again": report.already_published,
                       "early": now < meeting.ends_at}, now=now)
    return report


async def _send_conclusion(uow: UnitOfWork, meeting: Meeting, commune: Commune, submissions: list[Submission]) -> int:
    """The summary and the conclusion document, once to each person who registered for the meeting."""
    if not meeting.conclusion_summary and meeting.conclusion_document_id is None:
        return 0
    sent = 0
    seen: set[int] = set()
    for submission in submissions:
        resident = await recipient(uow, submission)
        if resident is None or resident.id in seen:
            continue
        seen.add(resident.id)  # type: ignore[arg-type]
        tr = translator(resident.language, resident.channel)
        text = tr("conclusion.head", title=meeting.title, commune=commune.name)
        if meeting.conclusion_summary:
            text += "\n\n" + meeting.conclusion_summary
        reply = Reply(text=text, document=meeting.conclusion_document_id)
        # The key carries the document, so publishing again with a new document sends just that.
        key = f"conclusion:{meeting.code}:d{meeting.conclusion_document_id or 0}:{resident.channel}:{resident.chat_id}"
        sent += bool(await enqueue(uow, key=key, channel=resident.channel, chat_id=resident.chat_id, reply=reply, purpose=Purpose.SUMMARY, meeting_id=meeting.id))
    return sent


@dataclass
class HandOver:
    submission: Submission
    paper: bool  # else: the resident's chat could not be reached


async def to_hand_over(uow: UnitOfWork, village_id: int) -> list[HandOver]:
    """Published answers of a village that no message has brought to the asker: paper forms (no chat
    at all) and residents who blocked the bot or are outside the Zalo OA's window. The answer still
    goes out by message the next time such a resident writes; until then the head can bring it."""
    released = [s for s in await uow.submissions.for_village(village_id)
                if is_live(s.status) and s.answer_revision and s.delivered_revision]
    stuck = await uow.outbox.answers_not_delivered([s.ref for s in released])
    out = []
    for s in released:
        if s.channel == "paper":
            out.append(HandOver(s, paper=True))
            continue
        resident = await uow.residents.get(s.resident_id) if s.resident_id else None
        if resident is not None and (resident.unreachable_at is not None or s.ref in stuck):
            out.append(HandOver(s, paper=False))
    return out


@dataclass
class PublicationPreview:
    meeting: Meeting
    commune: Commune
    answered: int
    unanswered: list[str]
    residents: int  # distinct people who will be messaged (paper forms: their village heads)
    early: bool = False  # the meeting has not ended: publishing needs forcing


async def publication_preview(uow: UnitOfWork, actor: "Actor", meeting_code: str, *, now: datetime) -> PublicationPreview:
    """What publishing would do, for the confirmation staff see before they publish."""
    meeting = await meeting_to_run(uow, actor, meeting_code, AnswerError)
    live = [s for s in await uow.submissions.for_meeting(meeting.id) if is_live(s.status)]
    people: set[str] = set()
    for s in live:
        if s.channel == "paper":
            people |= {f"staff:{h.id}" for h in await uow.staff.heads_of(s.village_id) if staff_address(h)}
        elif await recipient(uow, s) is not None:
            people.add(f"resident:{s.resident_id}")
    commune = await uow.communes.get(meeting.commune_id)
    assert commune is not None
    return PublicationPreview(
        meeting=meeting, commune=commune, answered=sum(1 for s in live if s.answer_revision),
        unanswered=[s.ref for s in live if not s.answer_revision], residents=len(people), early=_early(meeting, now),
    )
