"""Publishing a meeting's conclusion: what it would do, then doing it."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import UploadFile

from bot.entrypoints.web.console import console
from bot.entrypoints.web.dependencies import Posted, Reading, SignedIn, Writing, redirect, render
from bot.entrypoints.web.forms import field
from bot.entrypoints.web.session import flash
from bot.services.answers import AnswerError, publication_preview, publish_conclusion
from bot.services.staff import Actor
from bot.text.catalogue import Translator
from storage.uow import UnitOfWork

router = APIRouter()

MAX_DOCUMENT_BYTES = 20 * 1024 * 1024


async def publish_page(request: Request, uow: UnitOfWork, actor: Actor, code: str, *, error: str | None = None,
                       values: dict[str, str] | None = None, status: int = 200) -> Response:
    preview = await publication_preview(uow, actor, code, now=console(request).clock())
    return render(request, "publish.html", status=status, meeting=preview.meeting, commune=preview.commune, tz=preview.commune.timezone,
                  preview=preview, error=error, values=values or {})


@router.get("/meetings/{code}/publish", response_class=HTMLResponse)
async def publish_form(request: Request, code: str, actor: SignedIn, uow: Reading) -> Response:
    return await publish_page(request, uow, actor, code)


def _refusal(exc: AnswerError, tr: Translator) -> tuple[str, int] | None:
    """The page's words for what staff can fix, by the refusal's kind; None for no such meeting (the 404 page)."""
    if exc.key == "problem.answer.unanswered":
        return tr("web.publish.unanswered", refs=exc.params["refs"]), 409
    if exc.key == "problem.answer.not_over":
        return tr("web.publish.not_over"), 409
    if exc.key == "problem.answer.bad_text":
        return tr("web.error.bad_text"), 400
    return None


@router.post("/meetings/{code}/publish", response_class=HTMLResponse)
async def publish(request: Request, code: str, form: Posted, actor: SignedIn, uow: Writing) -> Response:
    c = console(request)
    allow, force = form.get("allow_unanswered") == "1", form.get("force") == "1"
    summary = field(form, "summary") or None
    values = {"summary": summary or "", "allow_unanswered": "1" if allow else "", "force": "1" if force else ""}
    document = None
    upload = form.get("document")
    if isinstance(upload, UploadFile) and upload.filename:
        data = await upload.read(MAX_DOCUMENT_BYTES + 1)
        if len(data) > MAX_DOCUMENT_BYTES or not data.startswith(b"%PDF-"):
            return await publish_page(request, uow, actor, code, error=c.tr("web.publish.bad_document"), values=values, status=400)
        document = (Path(upload.filename).name, data)
    try:
        report = await publish_conclusion(uow, actor, code, now=c.clock(), summary=summary, document=document, allow_unanswered=allow,
                                          force=force)
    except AnswerError as exc:
        refusal = _refusal(exc, c.tr)
        if refusal is None:
            raise
        await uow.rollback()
        return await publish_page(request, uow, actor, code, error=refusal[0], values=values, status=refusal[1])
    key = "web.publish.done_again" if report.already_published else "web.publish.done"
    flash(request, c.tr(key, code=report.meeting_code, answers=report.answers_queued, summaries=report.summaries_queued,
                        pending=len(report.still_pending)))
    return redirect("/meetings")
