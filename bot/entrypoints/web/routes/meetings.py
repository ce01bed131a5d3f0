"""The meetings in reach, and loading a meeting's plan."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData, UploadFile

from bot.domain.errors import texts
from bot.entrypoints.web.console import console
from bot.entrypoints.web.dependencies import ConsoleUser, Posted, Reading, SignedIn, Writing, redirect, render
from bot.entrypoints.web.forms import MAX_NAME, field
from bot.entrypoints.web.session import flash
from bot.services.figures import meetings_overview
from bot.services.plans import OtherCommune, PlanError, load_plan, parse_plan
from bot.services.staff import Actor
from storage.uow import UnitOfWork

router = APIRouter()

MAX_PLAN_BYTES = 256 * 1024


async def meetings_page(request: Request, uow: UnitOfWork, actor: Actor, *, problems: list[str] | None = None,
                        status: int = 200) -> Response:
    lines = await meetings_overview(uow, actor, console(request).clock())
    return render(request, "meetings.html", status=status, items=lines, problems=problems)


@router.get("/meetings", response_class=HTMLResponse)
async def meetings(request: Request, actor: ConsoleUser, uow: Reading) -> Response:
    return await meetings_page(request, uow, actor)


async def _plan_sent(form: FormData) -> tuple[str, str, bool] | str:
    """The plan's text, its file name and whether staff confirmed it; or what is wrong with the upload (a catalogue key).

    A confirmed plan comes back as the text the confirmation page carried, not as a file."""
    if isinstance(form.get("plan_text"), str) and form.get("confirm") == "1":
        text = str(form.get("plan_text"))
        return "web.plan.too_big" if len(text.encode()) > MAX_PLAN_BYTES else (text, field(form, "filename")[:MAX_NAME], True)
    upload = form.get("plan")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return "web.plan.no_file"
    data = await upload.read(MAX_PLAN_BYTES + 1)
    if len(data) > MAX_PLAN_BYTES:
        return "web.plan.too_big"
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return "web.plan.not_text"
    return text, Path(upload.filename).name[:MAX_NAME], False


@router.post("/meetings/plan", response_class=HTMLResponse)
async def upload_plan(request: Request, form: Posted, actor: SignedIn, uow: Writing) -> Response:
    """A plan that would tell residents of a changed time or venue is first shown with how many
    will be told; it is loaded when staff confirm (the plan's text comes back with the form)."""
    tr = console(request).tr
    sent = await _plan_sent(form)
    if isinstance(sent, str):
        return await meetings_page(request, uow, actor, problems=[tr(sent)], status=400)
    text, filename, confirmed = sent
    try:
        report = await load_plan(uow, actor, parse_plan(text), source=filename, now=console(request).clock(), confirmed=confirmed)
    except OtherCommune as exc:
        await uow.rollback()
        return await meetings_page(request, uow, actor, problems=[tr("web.plan.other_commune", code=exc.code)], status=403)
    except PlanError as exc:
        await uow.rollback()
        return await meetings_page(request, uow, actor, problems=texts(exc.problems, tr), status=400)
    if report.awaiting_confirmation:  # nothing was written, and nobody is told yet
        return render(request, "plan_confirm.html", code=report.meeting_code, residents=report.notified, plan_text=text, filename=filename)
    flash(request, tr("web.plan.created" if report.created else "web.plan.updated", code=report.meeting_code))
    if report.kept:
        flash(request, tr("web.plan.kept", items=", ".join(p.text(tr) for p in report.kept_named)), "info")
    if report.notified:
        flash(request, tr("web.plan.notified", residents=report.notified, messages=report.notified_messages), "info")
    return redirect("/meetings")
