"""The submissions: the list with its filters, one submission's page, and what staff do to it
(classify, answer or forward, mark as a duplicate)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import UploadFile

from bot.domain import validation as textrules
from bot.domain.media import ANSWER, PHOTO, VOICE
from bot.domain.submissions import STATUSES
from bot.entrypoints.web.console import console
from bot.entrypoints.web.dependencies import NotFound, Posted, Reading, SignedIn, Writing, redirect, render
from bot.entrypoints.web.forms import MAX_NAME, field, integer, unreadable
from bot.entrypoints.web.session import flash
from bot.services import followup, secretariat
from bot.services.answers import ANSWER_FILE_MAX_BYTES, ANSWER_FILES_MAX, AnswerError
from bot.services.filetypes import UNKNOWN, content_disposition, sniff, sniff_audio
from bot.services.staff import Actor
from bot.text.catalogue import Translator
from bot.text.formatting import parse_day
from storage.repositories import SubmissionFilter
from storage.uow import UnitOfWork

router = APIRouter()

CHANNELS = ("telegram", "zalo", "zalo_oa", "paper", "hall", "console")
MODES = {"speak": True, "written": False}
# The list narrowed by the resident's verdict: open follow-ups first, the secretariat's to-do.
FEEDBACK = ("followup", "unsatisfied", "satisfied")


# ------------------------------------------------------------------ the list


@dataclass
class ListQuery:
    """The list's filters as the URL carries them. A missing meeting means the current one; an empty one, all."""

    meeting: int | None = None
    current: bool = False  # the URL names no meeting: the current one is listed
    village: int | None = None
    topic: int | None = None
    status: str = ""
    mode: str = ""
    channel: str = ""
    department: str = ""
    feedback: str = ""
    q: str = ""
    page: int = 1

    @classmethod
    def parse(cls, params: Any) -> "ListQuery":
        return cls(
            meeting=integer(params.get("meeting")),
            current="meeting" not in params,
            village=integer(params.get("village")),
            topic=integer(params.get("topic")),
            status=params.get("status", "") if params.get("status") in STATUSES else "",
            mode=params.get("mode", "") if params.get("mode") in MODES else "",
            channel=params.get("channel", "") if params.get("channel") in CHANNELS else "",
            department=textrules.printable(params.get("department") or "").strip()[:MAX_NAME],
            feedback=params.get("feedback", "") if params.get("feedback") in FEEDBACK else "",
            q=textrules.printable(params.get("q") or "").strip()[:200],
            page=integer(params.get("page")) or 1,
        )

    def filter(self, page_size: int) -> SubmissionFilter:
        return SubmissionFilter(
            meeting_id=self.meeting, village_id=self.village, topic_id=self.topic, status=self.status or None,
            wants_to_speak=MODES[self.mode] if self.mode else None, channel=self.channel or None,
            department=self.department or None, feedback=self.feedback or None, text=self.q or None, offset=(self.page - 1) * page_size, limit=page_size,
        )

    def url(self, **override: Any) -> str:
        values = {
            "meeting": self.meeting or "", "village": self.village or "", "topic": self.topic or "", "status": self.status,
            "mode": self.mode, "channel": self.channel, "department": self.department, "feedback": self.feedback, "q": self.q, "page": self.page,
        }
        values.update(override)
        # The meeting stays even when empty ("all meetings"); other empty filters and page 1 are left out.
        kept = {k: v for k, v in values.items() if k == "meeting" or (v not in ("", None) and not (k == "page" and v == 1))}
        return "/submissions?" + urlencode(kept)


@router.get("/submissions", response_class=HTMLResponse)
async def submissions(request: Request, actor: SignedIn, uow: Reading) -> Response:
    c = console(request)
    query = ListQuery.parse(request.query_params)
    found = await secretariat.list_page(uow, actor, query.filter(c.page_size), now=c.clock(), current=query.current)
    query = replace(query, meeting=found.meeting_id)  # the current meeting, when the URL named none
    return render(
        request, "submissions.html", rows=found.rows, total=found.total, query=query, page=query.page,
        pages=max(1, -(-found.total // c.page_size)), tz={m.id: commune.timezone for m, commune in found.meetings},
        meetings=found.meetings, villages=found.villages, topics=found.topics, statuses=STATUSES, channels=CHANNELS,
        verdicts=FEEDBACK, departments=found.departments, duplicates=found.duplicates,
    )


# ------------------------------------------------------------------ one submission


async def submission_page(
    request: Request, uow: UnitOfWork, actor: Actor, ref: str, *, error: str | None = None, values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    """The page, with what was wrong with the form sent to it. Its own look-up refuses first: another
    commune's code or one the actor may not see is refused (404, 403) before any complaint about the form."""
    view = await secretariat.submission_view(uow, actor, ref)
    return render(
        request, "submission.html", status=status, s=view.submission, meeting=view.meeting, commune=view.commune,
        tz=view.commune.timezone, village=view.village, topic=view.topic, topics=view.topics, original=view.original,
        duplicates=view.duplicates, similar=view.similar, departments=view.departments, error=error, values=values or {},
        answer_files=await uow.files.of([view.submission.id], ANSWER),  # type: ignore[list-item]
        files_most=ANSWER_FILES_MAX, files_mb=ANSWER_FILE_MAX_BYTES // (1024 * 1024),
        resident_files=[f for f in await uow.files.of([view.submission.id]) if f.role in (VOICE, PHOTO)],  # type: ignore[list-item]
    )


async def _refused(request: Request, uow: UnitOfWork, actor: Actor, ref: str, exc: AnswerError, values: dict[str, str]) -> Response:
    """The page again, with the service's reason; nothing the action did is kept."""
    await uow.rollback()
    tr = console(request).tr
    return await submission_page(request, uow, actor, ref, error=tr("web.error.refused", reason=exc.text(tr)), values=values, status=400)


def _done(request: Request, ref: str, text: str) -> Response:
    flash(request, text)
    return redirect(f"/submissions/{ref.upper()}")


@router.get("/submissions/{ref}", response_class=HTMLResponse)
async def submission(request: Request, ref: str, actor: SignedIn, uow: Reading) -> Response:
    return await submission_page(request, uow, actor, ref)


@router.post("/submissions/{ref}/classify", response_class=HTMLResponse)
async def classify(request: Request, ref: str, form: Posted, actor: SignedIn, uow: Writing) -> Response:
    c = console(request)
    department = field(form, "department") if "department" in form else None
    if department is not None and len(department) > MAX_NAME:
        return await submission_page(request, uow, actor, ref, error=c.tr("web.error.too_long", max=MAX_NAME), status=400)
    if department is not None and unreadable(department):
        return await submission_page(request, uow, actor, ref, error=c.tr("web.error.bad_text"), status=400)
    try:
        await secretariat.classify(uow, actor, ref, topic_id=integer(form.get("topic")), department=department, now=c.clock())
    except AnswerError as exc:
        return await _refused(request, uow, actor, ref, exc, {})
    return _done(request, ref, c.tr("web.submission.classified", ref=ref.upper()))


@dataclass(frozen=True)
class AnswerForm:
    mode: str  # "answer", or "forward" to another office
    text: str
    by: str
    forward_to: str
    expected: str  # the date the other office answers by, as typed

    @classmethod
    def read(cls, form: Any) -> "AnswerForm":
        return cls(field(form, "mode"), field(form, "text"), field(form, "by"), field(form, "forward_to"), field(form, "expected_by"))

    @property
    def values(self) -> dict[str, str]:
        """What the page shows again when something is wrong."""
        return {"mode": self.mode, "text": self.text, "by": self.by, "forward_to": self.forward_to, "expected_by": self.expected}

    def problem(self, tr: Translator) -> str | None:
        """What staff are asked to fix, in the words of this page; None when the service can be asked."""
        if self.mode == "forward":
            if not self.forward_to:
                return tr("web.answer.error_no_forward")
            if not self.expected:
                return tr("web.answer.error_no_date")
            if parse_day(self.expected) is None:
                return tr("web.answer.error_bad_date", value=self.expected)
        elif self.mode != "answer" or not self.text:
            return tr("web.answer.error_empty")
        forward_to = self.forward_to if self.mode == "forward" else ""
        if len(self.by) > MAX_NAME or len(forward_to) > MAX_NAME:
            return tr("web.error.too_long", max=MAX_NAME)
        if unreadable(self.text, self.by, forward_to):
            return tr("web.error.bad_text")
        return None


async def _answer_files(uow: UnitOfWork, actor: Actor, ref: str, form: Any) -> list[tuple[str, bytes]] | None:
    """The files the answer carries once saved: the current ones not ticked "xóa", then the uploaded
    ones; None when neither changes (the files stay as they are). Each upload is read to one byte
    past the limit, enough for the service to refuse it by name."""
    uploads = [u for u in form.getlist("files") if isinstance(u, UploadFile) and u.filename]
    dropped = {integer(v) for v in form.getlist("drop_file")} - {None}
    if not uploads and not dropped:
        return None
    submission = await secretariat.visible(uow, actor, ref)
    files = []
    for kept in await uow.files.of([submission.id], ANSWER):  # type: ignore[list-item]
        attachment = await uow.files.attachment(kept.attachment_id) if kept.id not in dropped else None
        if attachment is not None:
            files.append((kept.filename, bytes(attachment.data)))
    for upload in uploads:
        files.append((upload.filename or "", await upload.read(ANSWER_FILE_MAX_BYTES + 1)))
    return files


@router.post("/submissions/{ref}/answer", response_class=HTMLResponse)
async def answer(request: Request, ref: str, form: Posted, actor: SignedIn, uow: Writing) -> Response:
    c = console(request)
    sent = AnswerForm.read(form)
    problem = sent.problem(c.tr)
    if problem:
        return await submission_page(request, uow, actor, ref, error=problem, values=sent.values, status=400)
    forward = sent.mode == "forward"
    try:
        files = await _answer_files(uow, actor, ref, form)
        await secretariat.answer(uow, actor, ref, text=sent.text or None, by=sent.by or None,
                                 forward_to=sent.forward_to if forward else None,
                                 expected_by=parse_day(sent.expected) if forward else None, now=c.clock(), files=files)
    except AnswerError as exc:
        return await _refused(request, uow, actor, ref, exc, sent.values)
    return _done(request, ref, c.tr("web.submission.forwarded" if forward else "web.submission.answered", ref=ref.upper()))


@router.post("/submissions/{ref}/duplicate", response_class=HTMLResponse)
async def duplicate(request: Request, ref: str, form: Posted, actor: SignedIn, uow: Writing) -> Response:
    c = console(request)
    original = field(form, "original").upper()
    if not original:
        return await submission_page(request, uow, actor, ref, error=c.tr("web.duplicate.error_empty"), status=400)
    if unreadable(original):  # no code holds one: said as such, not as an unknown code
        return await submission_page(request, uow, actor, ref, error=c.tr("web.error.bad_text"), status=400)
    try:
        await secretariat.mark_duplicate(uow, actor, ref, original, now=c.clock())
    except AnswerError as exc:
        return await _refused(request, uow, actor, ref, exc, {"original": original})
    return _done(request, ref, c.tr("web.submission.duplicate", ref=ref.upper(), original=original))


@router.post("/submissions/{ref}/followup/close", response_class=HTMLResponse)
async def close_followup(request: Request, ref: str, form: Posted, actor: SignedIn, uow: Writing) -> Response:
    """The answer stands: the resident's "chưa hài lòng" is closed without a new answer, and they are told."""
    c = console(request)
    try:
        await followup.close_followup(uow, actor, ref, now=c.clock())
    except AnswerError as exc:
        return await _refused(request, uow, actor, ref, exc, {})
    return _done(request, ref, c.tr("web.followup.closed", ref=ref.upper()))


@router.get("/submissions/{ref}/answer-files/{file_id}/{name}")
async def answer_file(request: Request, ref: str, file_id: str, name: str, actor: SignedIn, uow: Reading) -> Response:
    """One of the answer's files, as the resident receives it."""
    return await _file(uow, actor, ref, file_id, (ANSWER,))


@router.get("/submissions/{ref}/media/{file_id}/{name}")
async def resident_file(request: Request, ref: str, file_id: str, name: str, actor: SignedIn, uow: Reading) -> Response:
    """The resident's recording (played on the page) or one of their photos (shown)."""
    return await _file(uow, actor, ref, file_id, (VOICE, PHOTO))


async def _file(uow: UnitOfWork, actor: Actor, ref: str, file_id: str, roles: tuple[str, ...]) -> Response:
    """Under the type its bytes are, never the one it was sent with: an image or a sound inline,
    anything else downloaded."""
    found = await secretariat.submission_file(uow, actor, ref, integer(file_id) or 0, roles)
    if found is None:
        raise NotFound()
    kept, data = found
    kind = sniff_audio(data) or sniff(data) or UNKNOWN
    return Response(data, media_type=kind.mime, headers={"Content-Disposition": content_disposition(kept.filename, kind),
                                                         "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"})
