"""The meeting's public page, which anyone may read without signing in once the conclusion is
published, and the secretariat's say over which questions it shows (bot/services/public.py)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from bot.entrypoints.web.console import console
from bot.entrypoints.web.dependencies import NotFound, Posted, SignedIn, Writing, redirect
from bot.entrypoints.web.forms import field, integer
from bot.entrypoints.web.public import SERVED_STYLESHEET, page_html
from bot.entrypoints.web.routes.submissions import submission_page
from bot.entrypoints.web.session import flash
from bot.services import public
from bot.services.filetypes import UNKNOWN, content_disposition, sniff
from bot.services.public import PublicError
from storage.uow import UnitOfWork

router = APIRouter()

# Public and the same for everyone: a proxy or the browser may keep it a minute (a question hidden
# by the secretariat is gone from it by then); the refusal pages stay no-store.
CACHE = "public, max-age=60"


@router.get("/cong-khai/{code}", response_class=HTMLResponse)
async def public_page(request: Request, code: str) -> Response:
    """No sign-in and no session: an unknown code, a malformed one and a meeting not yet published
    all get the same 404, so the page says nothing of what exists before publication."""
    c = console(request)
    async with UnitOfWork(c.db, readonly=True) as uow:
        page = await public.public_page(uow, code, now=c.clock())
    if page is None:
        # Not the console's 404 page: that one starts a session, and a visitor here is given none.
        missing = c.templates.get_template("public_missing.html").render(stylesheet=SERVED_STYLESHEET)
        return HTMLResponse(missing, status_code=404)
    return HTMLResponse(page_html(page, stylesheet=SERVED_STYLESHEET, templates=c.templates), headers={"Cache-Control": CACHE})


@router.get("/cong-khai/{code}/tep/{file_id}/{name}")
async def public_file(request: Request, code: str, file_id: str, name: str) -> Response:
    """An answer's file the page links: only one the secretariat marked public, of an answer on this
    meeting's published page; anything else is the same 404."""
    c = console(request)
    async with UnitOfWork(c.db, readonly=True) as uow:
        found = await public.public_file(uow, code, integer(file_id) or 0)
    if found is None:
        raise NotFound()
    filename, data = found
    kind = sniff(data) or UNKNOWN
    return Response(data, media_type=kind.mime, headers={"Content-Disposition": content_disposition(filename, kind),
                                                         "X-Content-Type-Options": "nosniff", "Cache-Control": CACHE})


def _back(request: Request, ref: str, text: str) -> Response:
    flash(request, text)
    return redirect(f"/submissions/{ref.strip().upper()}#public")


@router.post("/submissions/{ref}/public/hide", response_class=HTMLResponse)
async def hide(request: Request, ref: str, form: Posted, actor: SignedIn, uow: Writing) -> Response:
    c = console(request)
    reason = field(form, "reason")
    try:
        done = await public.hide(uow, actor, ref, reason, now=c.clock())
    except PublicError as exc:
        await uow.rollback()
        return await submission_page(request, uow, actor, ref, error=c.tr("web.error.refused", reason=exc.text(c.tr)),
                                     values={"public_reason": reason}, status=400)
    return _back(request, ref, c.tr("web.public.hidden_done", ref=done.ref))


@router.post("/submissions/{ref}/public/show", response_class=HTMLResponse)
async def show(request: Request, ref: str, form: Posted, actor: SignedIn, uow: Writing) -> Response:
    c = console(request)
    done = await public.show(uow, actor, ref, now=c.clock())
    return _back(request, ref, c.tr("web.public.shown_done", ref=done.ref))


@router.post("/submissions/{ref}/answer-files/{file_id}/public", response_class=HTMLResponse)
async def file_public(request: Request, ref: str, file_id: str, form: Posted, actor: SignedIn, uow: Writing) -> Response:
    """Link one of the answer's files from the public page ("1"), or stop linking it."""
    c = console(request)
    shown = form.get("public") == "1"
    try:
        done = await public.file_public(uow, actor, ref, integer(file_id) or 0, shown, now=c.clock())
    except PublicError as exc:
        await uow.rollback()
        return await submission_page(request, uow, actor, ref, error=c.tr("web.error.refused", reason=exc.text(c.tr)), status=400)
    flash(request, c.tr("web.answer.file_public_done" if shown else "web.answer.file_private_done", ref=done.ref))
    return redirect(f"/submissions/{done.ref}#answer")
