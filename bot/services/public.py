"""The meeting's public page (/cong-khai/<code> on the console, `doithoai public export` for the
commune's portal): once the conclusion is published, anyone may read what was asked and what the
commune answered, without signing in.

What it shows: the meeting card, the counts, and each published question (not withdrawn, not kept
off by the secretariat) under its topic, with its village and its answer, or where it was
forwarded and by when, or that it still waits. Duplicates show their original's answer, as the
report does.

What it never shows: who asked. No name, phone or chat identity is read into the page at all, so
a resident who erased their data (/xoadulieu) is as anonymous as everyone else. What residents
wrote about themselves inside the question is covered too (bot/domain/disclosure.py): every
resident's stored name and phone, and anything shaped like a phone or ID card number.

The receipt code (GP-0001) is shown: it is a running number, names nobody by itself, and it is
what a resident holds (the receipt message, the paper slip) to find their own answer on the page,
also when the message with the answer is lost. It opens nothing: no door takes a code from the
public and answers with anything about the person.

Which questions are shown is the secretariat's to change: `hide` (a reason is required; the
reason stays in the console and the audit log, never on the page) and `show`, for those who run
the meeting's commune only, audited as public.hide and public.show.

An answer's files (a decision, a map) are linked from the page only when the secretariat marked
each one public (`file_public`, audited as public.file); `public_file` serves no other.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime

from bot.domain import validation as textrules
from bot.domain.disclosure import Masker, Person
from bot.domain.errors import ServiceError
from bot.domain.media import ANSWER, PHOTO
from bot.domain.submissions import is_live
from bot.services.access import meeting_to_run
from bot.services.secretariat import visible
from bot.services.staff import Actor, audit
from storage.models import Meeting, Submission, SubmissionFile
from storage.uow import UnitOfWork, commits

REASON_MAX = 500
CODE_MAX = 64  # Meeting.code's column


class PublicError(ServiceError, ValueError):
    """The public page cannot be made, or a question cannot be hidden or shown; the problem says why."""


ANSWERED, FORWARDED, PENDING = "answered", "forwarded", "pending"


@dataclass(frozen=True)
class PublicFile:
    """A file of a published answer that the secretariat marked public."""

    id: int  # the SubmissionFile's: the address names it, never the attachment
    name: str
    size: int

    @property
    def exported_name(self) -> str:
        """Its name next to the exported index.html: ASCII, so any portal's server and any zip keep it."""
        folded = unicodedata.normalize("NFKD", self.name.replace("đ", "d").replace("Đ", "D")).encode("ascii", "ignore").decode()
        return f"tep-{self.id}-" + (re.sub(r"[^A-Za-z0-9._-]+", "-", folded).strip("-.") or "tep")


@dataclass(frozen=True)
class PublicItem:
    """One question as the public reads it: nothing in it says who asked."""

    ref: str
    village: str
    question: str
    outcome: str  # ANSWERED, FORWARDED or PENDING
    answer: str | None  # the answer; when forwarded, a note that may come with it
    answered_by: str | None  # who answered (the commune when staff named nobody)
    forwarded_to: str | None
    expected_by: date | None
    in_hall: bool  # answered in the hall, on the day
    files: list[PublicFile] = field(default_factory=list)  # the answer's files marked public


@dataclass(frozen=True)
class PublicTopic:
    name: str
    items: list[PublicItem]


@dataclass(frozen=True)
class PublicCounts:
    received: int  # every question not withdrawn, those kept off the page included
    answered: int
    forwarded: int
    in_hall: int  # of the answered, those answered in the hall
    pending: int
    hidden: int  # kept off the page by the secretariat: counted, not shown


@dataclass(frozen=True)
class PublicPage:
    code: str
    title: str
    commune: str
    host: str
    venue: str
    starts_at: datetime
    ends_at: datetime
    timezone: str
    published_at: datetime
    summary: str | None
    counts: PublicCounts
    topics: list[PublicTopic]
    generated_at: datetime

    @property
    def shown(self) -> int:
        return sum(len(t.items) for t in self.topics)


def _outcome(s: Submission) -> str:
    if not s.answer_revision:
        return PENDING
    return FORWARDED if s.forwarded_to else ANSWERED


async def published(uow: UnitOfWork, code: str, *, now: datetime) -> PublicPage:
    """The public page of meeting `code`; PublicError when there is no such meeting or its conclusion
    is not published yet (the command line says which; the web says neither)."""
    code = (code or "").strip()
    meeting = None if textrules.first_refused(code) is not None or len(code) > CODE_MAX else await uow.meetings.by_code(code)
    if meeting is None:
        raise PublicError("problem.no_meeting", code=code)
    if meeting.concluded_at is None:
        raise PublicError("problem.public.not_published", code=meeting.code)
    return await _page(uow, meeting, now)


async def public_page(uow: UnitOfWork, code: str, *, now: datetime) -> PublicPage | None:
    """As `published`, None for every refusal alike: the web does not tell an unknown meeting from an unpublished one."""
    try:
        return await published(uow, code, now=now)
    except PublicError:
        return None


async def _page(uow: UnitOfWork, meeting: Meeting, now: datetime) -> PublicPage:
    assert meeting.id is not None and meeting.concluded_at is not None
    commune = await uow.communes.get(meeting.commune_id)
    assert commune is not None and commune.id is not None
    live = [s for s in await uow.submissions.for_meeting(meeting.id) if is_live(s.status)]
    by_id = {s.id: s for s in live}
    residents = {r.id: r for r in await uow.residents.by_ids(sorted({s.resident_id for s in live if s.resident_id is not None}))}
    # Everyone who wrote to this meeting: a question may name its asker or a neighbour who registered too.
    people = [Person(s.name, s.phone) for s in live]
    people += [Person(r.name, r.phone) for r in residents.values()]
    mask = Masker(people)
    villages = {v.id: v.name for v in (await uow.communes.villages_of([commune.id])).get(commune.id, [])}
    topics = list(await uow.meetings.topics(meeting.id, active_only=False))

    def root(s: Submission) -> Submission:
        """Whose answer `s` has: a duplicate's original's, while the original is on the record."""
        return by_id.get(s.duplicate_of_id, s) if s.duplicate_of_id else s

    shown = [s for s in live if not s.public_hidden_reason]
    public_files: dict[int, list[PublicFile]] = {}
    public_photos: dict[int, list[PublicFile]] = {}  # a resident's photo the secretariat chose to show
    for f in await uow.files.of([s.id for s in live]):  # type: ignore[misc]
        if f.public and f.role in (ANSWER, PHOTO):
            (public_files if f.role == ANSWER else public_photos).setdefault(f.submission_id, []).append(PublicFile(f.id, f.filename, f.size))

    def item(s: Submission) -> PublicItem:
        answered, outcome = root(s), _outcome(root(s))
        return PublicItem(
            ref=s.ref, village=villages.get(s.village_id, ""), question=mask(s.question), outcome=outcome,
            answer=mask(answered.answer, any_number=False) if answered.answer and outcome != PENDING else None,
            answered_by=(mask(answered.answered_by, any_number=False) if answered.answered_by else commune.name)
            if outcome == ANSWERED else None,
            forwarded_to=answered.forwarded_to if outcome == FORWARDED else None,
            expected_by=answered.expected_by if outcome == FORWARDED else None,
            in_hall=outcome == ANSWERED and answered.answered_in_hall,
            files=public_photos.get(s.id, []) + (public_files.get(answered.id, []) if outcome != PENDING else []),  # type: ignore[arg-type,operator]
        )

    items = {s.id: item(s) for s in shown}
    grouped = [PublicTopic(t.name, [items[s.id] for s in shown if s.topic_id == t.id]) for t in topics]
    outcomes = [_outcome(root(s)) for s in live]
    counts = PublicCounts(
        received=len(live), answered=outcomes.count(ANSWERED), forwarded=outcomes.count(FORWARDED),
        in_hall=sum(1 for s, o in zip(live, outcomes) if o == ANSWERED and root(s).answered_in_hall), pending=outcomes.count(PENDING),
        hidden=len(live) - len(shown),
    )
    return PublicPage(
        code=meeting.code, title=meeting.title, commune=commune.name, host=meeting.host, venue=meeting.venue,
        starts_at=meeting.starts_at, ends_at=meeting.ends_at, timezone=commune.timezone, published_at=meeting.concluded_at,
        summary=meeting.conclusion_summary, counts=counts, topics=[t for t in grouped if t.items], generated_at=now,
    )


# ------------------------------------------------------------------ the secretariat's say over it


async def _to_change(uow: UnitOfWork, actor: Actor, ref: str) -> Submission:
    """The submission, if the actor runs its meeting: another commune's is unknown (NotYours) before
    anything else is looked at; a department or a village head is refused (Forbidden)."""
    submission = await visible(uow, actor, ref)
    meeting = await uow.meetings.get(submission.meeting_id)
    assert meeting is not None
    await meeting_to_run(uow, actor, meeting.code, PublicError)
    return submission


@commits
async def hide(uow: UnitOfWork, actor: Actor, ref: str, reason: str | None, *, now: datetime) -> Submission:
    """Keep `ref` off the public page, for `reason` (required; seen by staff and in the audit log only).
    Hiding again with another reason replaces it."""
    submission = await _to_change(uow, actor, ref)
    try:
        reason = textrules.line(reason or "")
    except textrules.BadText as exc:
        raise PublicError("problem.public.bad_text", ref=submission.ref, reason=exc.problem) from None
    if not reason:
        raise PublicError("problem.public.no_reason", ref=submission.ref)
    if len(reason) > REASON_MAX:
        raise PublicError("problem.public.reason_long", ref=submission.ref, most=REASON_MAX)
    before = submission.public_hidden_reason
    if before == reason:
        return submission
    submission.public_hidden_reason = reason
    await audit(uow, actor, "public.hide", f"submission {submission.ref}", before={"hidden": before}, after={"hidden": reason}, now=now)
    return submission


@commits
async def show(uow: UnitOfWork, actor: Actor, ref: str, *, now: datetime) -> Submission:
    """Put `ref` back on the public page (nothing to do when it is not kept off)."""
    submission = await _to_change(uow, actor, ref)
    before = submission.public_hidden_reason
    if before is None:
        return submission
    submission.public_hidden_reason = None
    await audit(uow, actor, "public.show", f"submission {submission.ref}", before={"hidden": before}, after={"hidden": None}, now=now)
    return submission


async def public_file(uow: UnitOfWork, code: str, file_id: int) -> tuple[str, bytes] | None:
    """The name and bytes of a file the public page of `code` links: one marked public, of an answer
    on the page of that meeting, once its conclusion is published. None for anything else alike."""
    try:
        page = await published(uow, code, now=datetime.min)
    except PublicError:
        return None
    if not any(f.id == file_id for t in page.topics for i in t.items for f in i.files):
        return None
    kept = await uow.session.get(SubmissionFile, file_id)
    attachment = await uow.files.attachment(kept.attachment_id) if kept is not None else None
    return (attachment.filename, bytes(attachment.data)) if attachment is not None else None


async def exported_files(uow: UnitOfWork, page: PublicPage) -> dict[str, bytes]:
    """The files the page links, by their exported name: `doithoai public export` writes them next to index.html."""
    out = {}
    for f in (f for t in page.topics for i in t.items for f in i.files):
        found = await public_file(uow, page.code, f.id)
        if found is not None:
            out[f.exported_name] = found[1]
    return out


@commits
async def file_public(uow: UnitOfWork, actor: Actor, ref: str, file_id: int, public: bool, *, now: datetime) -> Submission:
    """Link (or stop linking) one of `ref`'s answer files, or a photo the resident sent, from the public
    page; those who run the meeting only. A resident's photo is never there unless chosen here."""
    submission = await _to_change(uow, actor, ref)
    kept = await uow.session.get(SubmissionFile, file_id)
    if kept is None or kept.submission_id != submission.id or kept.role not in (ANSWER, PHOTO):
        raise PublicError("problem.public.no_file", ref=submission.ref)
    if kept.public == public:
        return submission
    attachment = await uow.files.attachment(kept.attachment_id)
    name = attachment.filename if attachment is not None else str(file_id)
    kept.public = public
    await audit(uow, actor, "public.file", f"submission {submission.ref}", before={"file": name, "public": not public},
                after={"file": name, "public": public}, now=now)
    return submission
