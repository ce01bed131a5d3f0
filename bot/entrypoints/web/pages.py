"""The console's pages. Each one reads through the repositories or acts through a service, and
leaves every decision about who may do what to the services (bot.services.secretariat and the
Actor of bot.services.staff).
"""

from __future__ import annotations

import tempfile
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import UploadFile

from bot.domain import validation as textrules
from bot.domain.messages import number
from bot.entrypoints.web.app import (
    NotFound,
    console,
    flash,
    open_session,
    posted,
    redirect,
    render,
    safe_next,
    sign_in,
    sign_out,
    signed_in,
)
from bot.services import secretariat
from bot.services.access import may_act_in_village
from bot.services.answers import AnswerError, NotOver, Unanswered, publication_preview, publish_conclusion
from bot.services.notices import VILLAGE_NOTICE_MAX, NoticeError, announce, announce_preview, notify_villages
from bot.services.plans import OtherCommune, PlanError, load_plan, parse_plan
from bot.services.queue import queue_counts
from bot.services.report import ReportError, build_report
from bot.services.secretariat import Forbidden
from bot.services.spreadsheet import SpreadsheetError, export_answers
from bot.services.staff import Actor, check_login
from bot.text.formatting import collation_key, parse_day
from storage.models import Commune, Meeting, Submission
from storage.repositories import SubmissionFilter, SubmissionRow
from storage.uow import UnitOfWork

router = APIRouter()

STATUSES = ("received", "answered", "forwarded", "withdrawn")
CHANNELS = ("telegram", "zalo", "zalo_oa", "paper", "console")
MODES = {"speak": True, "written": False}
OUTBOX_STATES = ("pending", "sent", "failed", "unreachable")
MAX_PLAN_BYTES = 256 * 1024
MAX_DOCUMENT_BYTES = 20 * 1024 * 1024
MAX_NAME = 200  # String(200) columns: answered_by, forwarded_to, department
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


# ------------------------------------------------------------------ who may use which page


def _console_user(actor: Actor) -> None:
    """Secretariat, admins and answering departments use the console; village heads work in Telegram."""
    own = actor.staff.department if actor.staff is not None else None
    if not (actor.may_run_meetings() or actor.may_answer(own)):
        raise Forbidden("console")


# ------------------------------------------------------------------ small helpers


def _int(value: Any) -> int | None:
    # Not int(): it takes "١٢", " 12" and "1_000", and a 30-digit page or id that PostgreSQL refuses with a 500.
    found = number(value) if isinstance(value, str) else None
    return found if found else None


def _text(form: Any, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _bad(*values: str) -> bool:
    """A NUL or another control character, refused at this door rather than stored (bot/domain/validation.py)."""
    return any(textrules.first_refused(v) is not None for v in values)


async def _meetings(uow: UnitOfWork, actor: Actor) -> Sequence[tuple[Meeting, Commune]]:
    """The meetings this person may see: their own commune's (every commune's for a province admin)."""
    return [(m, c) for m, c in await uow.meetings.all() if actor.may_see_commune(m.commune_id)]


async def _shown(uow: UnitOfWork, code: str) -> tuple[Meeting, Commune]:
    """The meeting a page shows, once its service has let the actor see it."""
    meeting = await uow.meetings.by_code(code.strip())
    assert meeting is not None
    commune = await uow.communes.get(meeting.commune_id)
    assert commune is not None
    return meeting, commune


async def _current(uow: UnitOfWork, actor: Actor, now: datetime) -> Meeting | None:
    """The meeting a page shows first: the current one of the person's commune (of the only one there is)."""
    commune = await uow.communes.get(actor.commune_id) if actor.commune_id is not None else await uow.communes.resolve(None)
    return await uow.meetings.current(now, commune.id) if commune is not None and commune.id is not None else None


async def _departments(uow: UnitOfWork) -> list[str]:
    return sorted({s.department for s in await uow.staff.all() if s.department}, key=collation_key)


async def _all_rows(uow: UnitOfWork, actor: Actor, flt: SubmissionFilter) -> list[SubmissionRow]:
    """Every submission the actor may see under `flt`, page by page through the service."""
    out: list[SubmissionRow] = []
    while True:
        rows, total = await secretariat.search(uow, actor, replace(flt, offset=len(out), limit=500))
        out += rows
        if not rows or len(out) >= total:
            return out


# ------------------------------------------------------------------ sign-in


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, next: str = "/") -> Response:
    return render(request, "login.html", next=safe_next(next), error=None, login="")


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    form = await posted(request)
    c = console(request)
    name, password = _text(form, "login"), form.get("password")
    token = None
    if name and isinstance(password, str) and password:
        async with UnitOfWork(c.db) as uow:
            staff = await check_login(uow, name, password, now=c.clock())
            if staff is not None and staff.id is not None:
                token = await open_session(uow, staff.id, c.clock())
            await uow.commit()  # failures count towards the lock-out
    if token is None:
        return render(request, "login.html", status=401, next=safe_next(_text(form, "next")), error=c.tr("web.login.failed"), login=name)
    sign_in(request, token)
    return redirect(safe_next(_text(form, "next")))


@router.post("/logout")
async def logout(request: Request) -> Response:
    await posted(request)
    await sign_out(request)  # the session's row goes: a copy of the cookie opens nothing
    return redirect("/login")


@router.get("/", response_class=HTMLResponse)
async def home(request: Request) -> Response:
    actor = await signed_in(request)
    try:
        _console_user(actor)
    except Forbidden:
        return redirect("/secretariat-only")
    return redirect("/submissions")


@router.get("/secretariat-only", response_class=HTMLResponse)
async def secretariat_only(request: Request) -> Response:
    await signed_in(request)
    return render(request, "secretariat_only.html")


# ------------------------------------------------------------------ meetings and plans


async def _meetings_page(request: Request, actor: Actor, *, problems: list[str] | None = None, status: int = 200) -> Response:
    c = console(request)
    now = c.clock()
    items = []
    async with UnitOfWork(c.db, readonly=True) as uow:
        for meeting, commune in await _meetings(uow, actor):
            _, count = await secretariat.search(uow, actor, SubmissionFilter(meeting_id=meeting.id, limit=1))
            items.append({
                "meeting": meeting, "commune": commune, "tz": commune.timezone, "count": count,
                "open": now < meeting.registration_closes_at, "over": now > meeting.ends_at,
            })
    return render(request, "meetings.html", status=status, items=items, problems=problems)


@router.get("/meetings", response_class=HTMLResponse)
async def meetings(request: Request) -> Response:
    actor = await signed_in(request)
    _console_user(actor)
    return await _meetings_page(request, actor)


@router.post("/meetings/plan", response_class=HTMLResponse)
async def upload_plan(request: Request) -> Response:
    """A plan that would tell residents of a changed time or venue is first shown with how many
    will be told; it is loaded when staff confirm (the plan's text comes back with the form)."""
    form = await posted(request)
    actor = await signed_in(request)
    c = console(request)
    confirmed = isinstance(form.get("plan_text"), str) and form.get("confirm") == "1"
    if confirmed:
        text, filename = str(form.get("plan_text")), _text(form, "filename")[:MAX_NAME]
        if len(text.encode()) > MAX_PLAN_BYTES:
            return await _meetings_page(request, actor, problems=[c.tr("web.plan.too_big")], status=400)
    else:
        upload = form.get("plan")
        if not isinstance(upload, UploadFile) or not upload.filename:
            return await _meetings_page(request, actor, problems=[c.tr("web.plan.no_file")], status=400)
        data = await upload.read(MAX_PLAN_BYTES + 1)
        if len(data) > MAX_PLAN_BYTES:
            return await _meetings_page(request, actor, problems=[c.tr("web.plan.too_big")], status=400)
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            return await _meetings_page(request, actor, problems=[c.tr("web.plan.not_text")], status=400)
        filename = Path(upload.filename).name[:MAX_NAME]
    try:
        plan = parse_plan(text)
        async with UnitOfWork(c.db) as uow:
            report = await load_plan(uow, actor, plan, source=filename, now=c.clock(), confirmed=confirmed)
            if report.awaiting_confirmation:
                return render(request, "plan_confirm.html", code=report.meeting_code, residents=report.notified,
                              plan_text=text, filename=filename)
            await uow.commit()
    except OtherCommune as exc:
        return await _meetings_page(request, actor, problems=[c.tr("web.plan.other_commune", code=exc.code)], status=403)
    except PlanError as exc:
        return await _meetings_page(request, actor, problems=[p.text(c.tr) for p in exc.problems], status=400)
    key = "web.plan.created" if report.created else "web.plan.updated"
    flash(request, c.tr(key, code=report.meeting_code))
    if report.kept:
        flash(request, c.tr("web.plan.kept", items=", ".join(p.text(c.tr) for p in report.kept_named)), "info")
    if report.notified:
        flash(request, c.tr("web.plan.notified", residents=report.notified, messages=report.notified_messages), "info")
    return redirect("/meetings")


# ------------------------------------------------------------------ the submissions list


@dataclass
class ListQuery:
    """The list's filters as the URL carries them. A missing meeting means the current one; an empty one, all."""

    meeting: int | None = None
    village: int | None = None
    topic: int | None = None
    status: str = ""
    mode: str = ""
    channel: str = ""
    department: str = ""
    q: str = ""
    page: int = 1

    @classmethod
    def parse(cls, params: Any, current: int | None) -> "ListQuery":
        meeting = _int(params["meeting"]) if "meeting" in params else current
        return cls(
            meeting=meeting,
            village=_int(params.get("village")),
            topic=_int(params.get("topic")),
            status=params.get("status", "") if params.get("status") in STATUSES else "",
            mode=params.get("mode", "") if params.get("mode") in MODES else "",
            channel=params.get("channel", "") if params.get("channel") in CHANNELS else "",
            department=textrules.printable(params.get("department") or "").strip()[:MAX_NAME],
            q=textrules.printable(params.get("q") or "").strip()[:200],
            page=_int(params.get("page")) or 1,
        )

    def filter(self, page_size: int) -> SubmissionFilter:
        return SubmissionFilter(
            meeting_id=self.meeting, village_id=self.village, topic_id=self.topic, status=self.status or None,
            wants_to_speak=MODES[self.mode] if self.mode else None, channel=self.channel or None,
            department=self.department or None, text=self.q or None, offset=(self.page - 1) * page_size, limit=page_size,
        )

    def url(self, **override: Any) -> str:
        values = {
            "meeting": self.meeting or "", "village": self.village or "", "topic": self.topic or "", "status": self.status,
            "mode": self.mode, "channel": self.channel, "department": self.department, "q": self.q, "page": self.page,
        }
        values.update(override)
        # The meeting stays even when empty ("all meetings"); other empty filters and page 1 are left out.
        kept = {k: v for k, v in values.items() if k == "meeting" or (v not in ("", None) and not (k == "page" and v == 1))}
        return "/submissions?" + urlencode(kept)


async def _duplicate_refs(uow: UnitOfWork, submissions: list[Submission]) -> dict[int, str]:
    refs: dict[int, str] = {}
    for s in submissions:
        if s.duplicate_of_id is not None and s.duplicate_of_id not in refs:
            original = await uow.submissions.get(s.duplicate_of_id)
            refs[s.duplicate_of_id] = original.ref if original else ""
    return refs


@router.get("/submissions", response_class=HTMLResponse)
async def submissions(request: Request) -> Response:
    actor = await signed_in(request)
    c = console(request)
    async with UnitOfWork(c.db, readonly=True) as uow:
        current = await _current(uow, actor, c.clock())
        query = ListQuery.parse(request.query_params, current.id if current else None)
        rows, total = await secretariat.search(uow, actor, query.filter(c.page_size))
        meetings = await _meetings(uow, actor)
        tz = {m.id: commune.timezone for m, commune in meetings}
        chosen = [(m, commune) for m, commune in meetings if query.meeting in (None, m.id)]
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
        duplicates = await _duplicate_refs(uow, [r.submission for r in rows])
        departments = await _departments(uow) if actor.may_run_meetings() else []
    pages = max(1, -(-total // c.page_size))
    return render(
        request, "submissions.html", rows=rows, total=total, query=query, page=query.page, pages=pages, tz=tz,
        meetings=meetings, villages=villages, topics=topics, statuses=STATUSES, channels=CHANNELS, departments=departments,
        duplicates=duplicates,
    )


# ------------------------------------------------------------------ one submission


async def _submission_page(
    request: Request, actor: Actor, ref: str, *, error: str | None = None, values: dict[str, str] | None = None, status: int = 200
) -> Response:
    c = console(request)
    async with UnitOfWork(c.db, readonly=True) as uow:
        try:
            s = await secretariat.visible(uow, actor, ref)
        except AnswerError:
            raise NotFound(ref) from None
        meeting = await uow.meetings.get(s.meeting_id)
        assert meeting is not None
        commune = await uow.communes.get(meeting.commune_id)
        village = await uow.meetings.village(s.village_id)
        topic = await uow.meetings.topic(s.topic_id)
        topics = await uow.meetings.topics(meeting.id, active_only=False)  # type: ignore[arg-type]
        original = await uow.submissions.get(s.duplicate_of_id) if s.duplicate_of_id else None
        duplicates = await uow.submissions.duplicates_of(s.id)  # type: ignore[arg-type]
        # Suggestions show other residents' questions: only to those who may merge them.
        similar = await secretariat.similar(uow, s) if actor.may_run_meetings() and s.duplicate_of_id is None else []
        departments = await _departments(uow) if actor.may_run_meetings() else []
    assert commune is not None
    return render(
        request, "submission.html", status=status, s=s, meeting=meeting, commune=commune, tz=commune.timezone,
        village=village.name if village else "", topic=topic.name if topic else "", topics=topics, original=original,
        duplicates=duplicates, similar=similar, departments=departments, error=error, values=values or {},
    )


@router.get("/submissions/{ref}", response_class=HTMLResponse)
async def submission(request: Request, ref: str) -> Response:
    actor = await signed_in(request)
    return await _submission_page(request, actor, ref)


async def _visible(request: Request, actor: Actor, ref: str) -> None:
    """The service's refusal (403) or an unknown code (404) comes before any complaint about the form."""
    async with UnitOfWork(console(request).db, readonly=True) as uow:
        try:
            await secretariat.visible(uow, actor, ref)
        except AnswerError:
            raise NotFound(ref) from None


async def _act(request: Request, actor: Actor, ref: str, work: Any, values: dict[str, str]) -> Response | None:
    """Run a secretariat action and commit it; the page again, with the service's reason, when it refuses."""
    c = console(request)
    try:
        async with UnitOfWork(c.db) as uow:
            await work(uow)
            await uow.commit()
    except AnswerError as exc:
        return await _submission_page(request, actor, ref, error=c.tr("web.error.refused", reason=exc.text(c.tr)), values=values, status=400)
    return None


@router.post("/submissions/{ref}/classify", response_class=HTMLResponse)
async def classify(request: Request, ref: str) -> Response:
    form = await posted(request)
    actor = await signed_in(request)
    c = console(request)
    await _visible(request, actor, ref)
    topic_id = _int(form.get("topic"))
    department = _text(form, "department") if "department" in form else None
    if department is not None and len(department) > MAX_NAME:
        return await _submission_page(request, actor, ref, error=c.tr("web.error.too_long", max=MAX_NAME), status=400)
    if department is not None and _bad(department):
        return await _submission_page(request, actor, ref, error=c.tr("web.error.bad_text"), status=400)

    async def work(uow: UnitOfWork) -> None:
        await secretariat.classify(uow, actor, ref, topic_id=topic_id, department=department, now=c.clock())

    failed = await _act(request, actor, ref, work, {})
    if failed:
        return failed
    flash(request, c.tr("web.submission.classified", ref=ref.upper()))
    return redirect(f"/submissions/{ref.upper()}")


@router.post("/submissions/{ref}/answer", response_class=HTMLResponse)
async def answer(request: Request, ref: str) -> Response:
    form = await posted(request)
    actor = await signed_in(request)
    c = console(request)
    mode = _text(form, "mode")
    text, by, forward_to, expected = _text(form, "text"), _text(form, "by"), _text(form, "forward_to"), _text(form, "expected_by")
    values = {"mode": mode, "text": text, "by": by, "forward_to": forward_to, "expected_by": expected}
    await _visible(request, actor, ref)
    problem = None
    expected_by = None
    if mode == "forward":
        expected_by = parse_day(expected) if expected else None
        if not forward_to:
            problem = c.tr("web.answer.error_no_forward")
        elif not expected:
            problem = c.tr("web.answer.error_no_date")
        elif expected_by is None:
            problem = c.tr("web.answer.error_bad_date", value=expected)
    elif mode == "answer":
        forward_to = ""
        if not text:
            problem = c.tr("web.answer.error_empty")
    else:
        problem = c.tr("web.answer.error_empty")
    if problem is None and (len(by) > MAX_NAME or len(forward_to) > MAX_NAME):
        problem = c.tr("web.error.too_long", max=MAX_NAME)
    if problem is None and _bad(text, by, forward_to):
        problem = c.tr("web.error.bad_text")
    if problem:
        return await _submission_page(request, actor, ref, error=problem, values=values, status=400)

    async def work(uow: UnitOfWork) -> None:
        await secretariat.answer(uow, actor, ref, text=text or None, by=by or None, forward_to=forward_to or None,
                                 expected_by=expected_by, now=c.clock())

    failed = await _act(request, actor, ref, work, values)
    if failed:
        return failed
    flash(request, c.tr("web.submission.forwarded" if mode == "forward" else "web.submission.answered", ref=ref.upper()))
    return redirect(f"/submissions/{ref.upper()}")


@router.post("/submissions/{ref}/duplicate", response_class=HTMLResponse)
async def duplicate(request: Request, ref: str) -> Response:
    form = await posted(request)
    actor = await signed_in(request)
    c = console(request)
    await _visible(request, actor, ref)
    original = _text(form, "original").upper()
    if not original:
        return await _submission_page(request, actor, ref, error=c.tr("web.duplicate.error_empty"), status=400)
    if _bad(original):
        return await _submission_page(request, actor, ref, error=c.tr("web.error.bad_text"), status=400)

    async def work(uow: UnitOfWork) -> None:
        await secretariat.mark_duplicate(uow, actor, ref, original, now=c.clock())

    failed = await _act(request, actor, ref, work, {"original": original})
    if failed:
        return failed
    flash(request, c.tr("web.submission.duplicate", ref=ref.upper(), original=original))
    return redirect(f"/submissions/{ref.upper()}")


# ------------------------------------------------------------------ the conclusion


async def _publish_page(request: Request, code: str, *, error: str | None = None, values: dict[str, str] | None = None,
                        status: int = 200) -> Response:
    actor = await signed_in(request)
    c = console(request)
    async with UnitOfWork(c.db, readonly=True) as uow:
        try:
            preview = await publication_preview(uow, actor, code, now=c.clock())
        except AnswerError:
            raise NotFound(code) from None
        meeting, commune = await _shown(uow, code)
    return render(request, "publish.html", status=status, meeting=meeting, commune=commune, tz=commune.timezone, preview=preview,
                  error=error, values=values or {})


@router.get("/meetings/{code}/publish", response_class=HTMLResponse)
async def publish_form(request: Request, code: str) -> Response:
    return await _publish_page(request, code)


@router.post("/meetings/{code}/publish", response_class=HTMLResponse)
async def publish(request: Request, code: str) -> Response:
    form = await posted(request)
    actor = await signed_in(request)
    c = console(request)
    allow, force = form.get("allow_unanswered") == "1", form.get("force") == "1"
    summary = _text(form, "summary") or None
    values = {"summary": summary or "", "allow_unanswered": "1" if allow else "", "force": "1" if force else ""}
    document = None
    upload = form.get("document")
    if isinstance(upload, UploadFile) and upload.filename:
        data = await upload.read(MAX_DOCUMENT_BYTES + 1)
        if len(data) > MAX_DOCUMENT_BYTES or not data.startswith(b"%PDF-"):
            return await _publish_page(request, code, error=c.tr("web.publish.bad_document"), values=values, status=400)
        document = (Path(upload.filename).name, data)
    if summary is not None and _bad(summary):
        return await _publish_page(request, code, error=c.tr("web.error.bad_text"), values=values, status=400)
    try:
        async with UnitOfWork(c.db) as uow:
            report = await publish_conclusion(uow, actor, code, now=c.clock(), summary=summary, document=document,
                                              allow_unanswered=allow, force=force)
            await uow.commit()
    except Unanswered as exc:
        return await _publish_page(request, code, error=c.tr("web.publish.unanswered", refs=", ".join(exc.refs)), values=values, status=409)
    except NotOver:
        return await _publish_page(request, code, error=c.tr("web.publish.not_over"), values=values, status=409)
    except AnswerError:
        raise NotFound(code) from None
    key = "web.publish.done_again" if report.already_published else "web.publish.done"
    flash(request, c.tr(key, code=report.meeting_code, answers=report.answers_queued, summaries=report.summaries_queued,
                        pending=len(report.still_pending)))
    return redirect("/meetings")


# ------------------------------------------------------------------ notices


async def _announce_page(request: Request, code: str, *, error: str | None = None, text: str = "", status: int = 200) -> Response:
    actor = await signed_in(request)
    c = console(request)
    async with UnitOfWork(c.db, readonly=True) as uow:
        try:
            preview = await announce_preview(uow, actor, code, now=c.clock())
        except NoticeError:
            raise NotFound(code) from None
        meeting, commune = await _shown(uow, code)
    return render(request, "announce.html", status=status, meeting=meeting, commune=commune, tz=commune.timezone,
                  recipients=preview.residents, villages=preview.villages, error=error, text=text, over=preview.over)


@router.get("/meetings/{code}/announce", response_class=HTMLResponse)
async def announce_form(request: Request, code: str) -> Response:
    return await _announce_page(request, code)


@router.post("/meetings/{code}/announce", response_class=HTMLResponse)
async def announce_meeting(request: Request, code: str) -> Response:
    form = await posted(request)
    actor = await signed_in(request)
    c = console(request)
    text = _text(form, "text")
    if len(text) > 2000:
        return await _announce_page(request, code, error=c.tr("web.error.too_long", max=2000), text=text, status=400)
    if _bad(text):
        return await _announce_page(request, code, error=c.tr("web.error.bad_text"), text=text, status=400)
    try:
        async with UnitOfWork(c.db) as uow:
            queued = await announce(uow, actor, code, now=c.clock(), text=text or None)
            await uow.commit()
    except NoticeError:
        return await _announce_page(request, code, error=c.tr("web.announce.over"), text=text, status=400)
    if queued.residents:
        flash(request, c.tr("web.announce.done", residents=queued.residents, messages=queued.messages))
    else:
        flash(request, c.tr("web.announce.nothing"), "info")
    return redirect("/meetings")


# ------------------------------------------------------------------ notices to chosen villages


async def _notices_page(request: Request, *, error: str | None = None, text: str = "", chosen: Sequence[int] = (), status: int = 200) -> Response:
    c = console(request)
    actor = await signed_in(request)
    async with UnitOfWork(c.db, readonly=True) as uow:
        communes = {commune.id: commune for _, commune in await uow.meetings.all()}
        villages = [v for found in (await uow.communes.villages_of(list(communes))).values() for v in found if v.active]  # type: ignore[arg-type]
    villages = [v for v in villages if may_act_in_village(actor, v)]
    return render(request, "notices.html", status=status, villages=villages, chosen=list(chosen), text=text, error=error,
                  max=VILLAGE_NOTICE_MAX)


@router.get("/notices", response_class=HTMLResponse)
async def notices_form(request: Request) -> Response:
    if not (await signed_in(request)).may_run_meetings():
        raise Forbidden("notices")  # village heads send theirs from Telegram
    return await _notices_page(request)


@router.post("/notices", response_class=HTMLResponse)
async def notices_send(request: Request) -> Response:
    form = await posted(request)
    actor = await signed_in(request)
    c = console(request)
    if not actor.may_run_meetings():
        raise Forbidden("notices")  # village heads send theirs from Telegram
    chosen = [v for v in (_int(x) for x in form.getlist("village")) if v]
    text = _text(form, "text")
    if not chosen:
        return await _notices_page(request, error=c.tr("web.notices.no_village"), text=text, status=400)
    if _bad(text):
        return await _notices_page(request, error=c.tr("web.error.bad_text"), text=text, chosen=chosen, status=400)
    try:
        async with UnitOfWork(c.db) as uow:
            sender = actor.staff.name if actor.staff else c.tr("web.app_name")
            count = await notify_villages(uow, actor, chosen, text, sender=sender, now=c.clock())
            await uow.commit()
    except NoticeError:
        return await _notices_page(request, error=c.tr("web.notices.bad_text", max=VILLAGE_NOTICE_MAX), text=text, chosen=chosen, status=400)
    flash(request, c.tr("web.notices.done", count=count))
    return redirect("/notices")


# ------------------------------------------------------------------ the delivery queue


@router.get("/outbox", response_class=HTMLResponse)
async def outbox(request: Request) -> Response:
    actor = await signed_in(request)
    c = console(request)
    async with UnitOfWork(c.db, readonly=True) as uow:
        counts = await queue_counts(uow, actor, home_commune=c.commune)
    table: dict[tuple[str, str], dict[str, int]] = {}
    states = list(OUTBOX_STATES)
    for code, kind, state, count in counts:
        table.setdefault((code or "", kind), {})[state] = count
        if state not in states:
            states.append(state)
    totals = {state: sum(row.get(state, 0) for row in table.values()) for state in states}
    return render(request, "outbox.html", table=table, states=states, totals=totals)


# ------------------------------------------------------------------ figures


def _tally(rows: list[SubmissionRow], key: Any) -> list[dict[str, Any]]:
    groups: dict[str, list[Submission]] = {}
    for r in rows:
        groups.setdefault(key(r), []).append(r.submission)
    out = [
        {"name": name, "count": len(subs), "speak": sum(s.wants_to_speak for s in subs),
         # A forwarded question is not answered yet: it went to a higher level, which answers later.
         "answered": sum(s.status == "answered" for s in subs), "forwarded": sum(s.status == "forwarded" for s in subs)}
        for name, subs in groups.items()
    ]
    return sorted(out, key=lambda g: (-g["count"], collation_key(g["name"])))


@router.get("/stats", response_class=HTMLResponse)
async def stats(request: Request) -> Response:
    actor = await signed_in(request)
    _console_user(actor)
    c = console(request)
    async with UnitOfWork(c.db, readonly=True) as uow:
        current = await _current(uow, actor, c.clock())
        meeting_id = _int(request.query_params["meeting"]) if "meeting" in request.query_params else (current.id if current else None)
        rows = await _all_rows(uow, actor, SubmissionFilter(meeting_id=meeting_id))
        meetings = await _meetings(uow, actor)
    live = [r for r in rows if r.submission.status != "withdrawn"]
    statuses = Counter(r.submission.status for r in rows)
    delivered = [r.submission for r in live if r.submission.delivered_revision > 0]
    feedback = Counter(s.feedback or "none" for s in delivered)
    channels = Counter(r.submission.channel for r in live)
    return render(
        request, "stats.html", meetings=meetings, meeting_id=meeting_id, total=len(rows), live=len(live),
        villages=_tally(live, lambda r: r.village), topics=_tally(live, lambda r: r.topic),
        statuses=[(s, statuses.get(s, 0)) for s in STATUSES] + [(s, n) for s, n in statuses.items() if s not in STATUSES],
        speak=sum(r.submission.wants_to_speak for r in live), delivered=len(delivered),
        feedback=[(k, feedback.get(k, 0)) for k in ("satisfied", "unsatisfied", "none")],
        channels=sorted(channels.items(), key=lambda kv: -kv[1]),
    )


# ------------------------------------------------------------------ exports


@router.get("/meetings/{code}/answers.xlsx")
async def answers_sheet(request: Request, code: str) -> Response:
    actor = await signed_in(request)
    c = console(request)
    with tempfile.TemporaryDirectory(prefix="doithoai-web-") as tmp:
        path = Path(tmp) / "answers.xlsx"
        async with UnitOfWork(c.db) as uow:  # the export is audited: who took residents' data out, and when
            try:
                await export_answers(uow, actor, code, path, now=c.clock())
            except SpreadsheetError:
                raise NotFound(code) from None
            await uow.commit()
        data = path.read_bytes()
    return Response(data, media_type=XLSX, headers={"content-disposition": f'attachment; filename="{_file_code(code)}-tra-loi.xlsx"'})


def _file_code(code: str) -> str:
    """The meeting's code as a file name carries it (codes are letters, digits, . _ -; anything else goes)."""
    return "".join(ch for ch in code.strip() if ch.isascii() and (ch.isalnum() or ch in "._-")) or "hoi-nghi"


@router.get("/meetings/{code}/report.docx")
async def report(request: Request, code: str, grouped_by: str = "") -> Response:
    actor = await signed_in(request)
    c = console(request)
    async with UnitOfWork(c.db) as uow:
        try:
            built = await build_report(uow, actor, code, grouped_by=grouped_by if grouped_by in ("topic", "answer") else None, now=c.clock())
        except ReportError:
            raise NotFound(code) from None
        await uow.commit()
    name = f"{_file_code(code)}-bao-cao-theo-{'linh-vuc' if built.grouped_by == 'topic' else 'tra-loi'}.docx"
    return Response(built.data, media_type=DOCX, headers={"content-disposition": f'attachment; filename="{name}"'})
