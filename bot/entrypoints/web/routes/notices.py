"""Notices: the meeting's notice to its villages and registrants, and a notice to chosen villages."""

from __future__ import annotations

from typing import Sequence

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from bot.entrypoints.web.console import console
from bot.entrypoints.web.dependencies import Posted, Reading, SignedIn, Writing, redirect, render
from bot.entrypoints.web.forms import field, integer
from bot.entrypoints.web.session import flash
from bot.services.notices import VILLAGE_NOTICE_MAX, NoticeError, announce, announce_preview, secretariat_notice, secretariat_villages
from bot.services.staff import Actor
from storage.uow import UnitOfWork

router = APIRouter()

MAX_ANNOUNCE = 2000


# ------------------------------------------------------------------ the meeting's notice


async def announce_page(request: Request, uow: UnitOfWork, actor: Actor, code: str, *, error: str | None = None, text: str = "",
                        status: int = 200) -> Response:
    preview = await announce_preview(uow, actor, code, now=console(request).clock())
    return render(request, "announce.html", status=status, meeting=preview.meeting, commune=preview.commune, tz=preview.commune.timezone,
                  recipients=preview.residents, villages=preview.villages, error=error, text=text, over=preview.over)


@router.get("/meetings/{code}/announce", response_class=HTMLResponse)
async def announce_form(request: Request, code: str, actor: SignedIn, uow: Reading) -> Response:
    return await announce_page(request, uow, actor, code)


@router.post("/meetings/{code}/announce", response_class=HTMLResponse)
async def announce_meeting(request: Request, code: str, form: Posted, actor: SignedIn, uow: Writing) -> Response:
    c = console(request)
    text = field(form, "text")
    if len(text) > MAX_ANNOUNCE:
        return await announce_page(request, uow, actor, code, error=c.tr("web.error.too_long", max=MAX_ANNOUNCE), text=text, status=400)
    try:
        queued = await announce(uow, actor, code, now=c.clock(), text=text or None)
    except NoticeError as exc:
        if exc.key not in ("problem.notice.bad_text", "problem.notice.over"):
            raise  # no such meeting: the 404 page
        await uow.rollback()
        error = c.tr("web.error.bad_text" if exc.key == "problem.notice.bad_text" else "web.announce.over")
        return await announce_page(request, uow, actor, code, error=error, text=text, status=400)
    if queued.residents:
        flash(request, c.tr("web.announce.done", residents=queued.residents, messages=queued.messages))
    else:
        flash(request, c.tr("web.announce.nothing"), "info")
    return redirect("/meetings")


# ------------------------------------------------------------------ a notice to chosen villages


async def notices_page(request: Request, uow: UnitOfWork, actor: Actor, *, error: str | None = None, text: str = "",
                       chosen: Sequence[int] = (), status: int = 200) -> Response:
    villages = await secretariat_villages(uow, actor)
    return render(request, "notices.html", status=status, villages=villages, chosen=list(chosen), text=text, error=error,
                  max=VILLAGE_NOTICE_MAX)


@router.get("/notices", response_class=HTMLResponse)
async def notices_form(request: Request, actor: SignedIn, uow: Reading) -> Response:
    return await notices_page(request, uow, actor)


@router.post("/notices", response_class=HTMLResponse)
async def notices_send(request: Request, form: Posted, actor: SignedIn, uow: Writing) -> Response:
    c = console(request)
    chosen = [v for v in (integer(x) for x in form.getlist("village")) if v]
    text = field(form, "text")
    if not chosen:
        return await notices_page(request, uow, actor, error=c.tr("web.notices.no_village"), text=text, status=400)
    sender = actor.staff.name if actor.staff else c.tr("web.app_name")
    try:
        count = await secretariat_notice(uow, actor, chosen, text, sender=sender, now=c.clock())
    except NoticeError as exc:
        await uow.rollback()
        # The other refusals (its length, a village that is not there) have always been worded as the length's.
        error = c.tr("web.error.bad_text") if exc.key == "problem.notice.bad_text" else c.tr("web.notices.bad_text", max=VILLAGE_NOTICE_MAX)
        return await notices_page(request, uow, actor, error=error, text=text, chosen=chosen, status=400)
    flash(request, c.tr("web.notices.done", count=count))
    return redirect("/notices")
