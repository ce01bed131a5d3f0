"""One's own account: the chats the bot knows one by, and a one-time code to link one's Zalo account
(a village head who uses Zalo only sends it to the Zalo bot or OA)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from bot.entrypoints.web.console import console
from bot.entrypoints.web.dependencies import Posted, Reading, SignedIn, Writing, redirect, render
from bot.entrypoints.web.session import flash
from bot.services.staff import link_code, shown_code

router = APIRouter()


@router.get("/account", response_class=HTMLResponse)
async def account(request: Request, actor: SignedIn, uow: Reading) -> Response:
    staff = await uow.staff.get(actor.staff.id) if actor.staff is not None and actor.staff.id is not None else None
    now = console(request).clock()
    code = until = None
    if staff is not None and staff.link_code and staff.link_code_expires_at is not None and staff.link_code_expires_at > now:
        code, until = shown_code(staff.link_code), staff.link_code_expires_at
    return render(request, "account.html", staff=staff, code=code, until=until)


@router.post("/account/zalo-code")
async def new_zalo_code(request: Request, form: Posted, actor: SignedIn, uow: Writing) -> Response:
    c = console(request)
    if actor.staff is None or actor.staff.id is None:
        return redirect("/account")
    await link_code(uow, actor, actor.staff.id, c.clock())  # commits; shown on the page, never in the flash or the log
    flash(request, c.tr("web.account.code_made"))
    return redirect("/account")
