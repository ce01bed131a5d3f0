"""Signing in and out, and where a signed-in person lands."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from bot.entrypoints.web.console import console
from bot.entrypoints.web.dependencies import Posted, SignedIn, redirect, render, safe_next
from bot.entrypoints.web.forms import field
from bot.entrypoints.web.session import sign_in, sign_out
from bot.services.access import works_on_submissions

router = APIRouter()


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, next: str = "/") -> Response:
    return render(request, "login.html", next=safe_next(next), error=None, login="")


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, form: Posted) -> Response:
    name = field(form, "login")
    if not await sign_in(request, name, form.get("password")):
        return render(request, "login.html", status=401, next=safe_next(field(form, "next")), error=console(request).tr("web.login.failed"),
                      login=name)
    return redirect(safe_next(field(form, "next")))


@router.post("/logout")
async def logout(request: Request, form: Posted) -> Response:
    await sign_out(request)  # the session's row goes: a copy of the cookie opens nothing
    return redirect("/login")


@router.get("/", response_class=HTMLResponse)
async def home(actor: SignedIn) -> Response:
    return redirect("/submissions" if works_on_submissions(actor) else "/secretariat-only")


@router.get("/secretariat-only", response_class=HTMLResponse)
async def secretariat_only(request: Request, actor: SignedIn) -> Response:
    return render(request, "secretariat_only.html")
