"""The meeting day: the speakers' list the secretary works from, and the projector's view of it."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from bot.domain.errors import ServiceError
from bot.domain.hall import TURNS, Turn
from bot.entrypoints.web.console import console
from bot.entrypoints.web.dependencies import Posted, Reading, SignedIn, Writing, redirect, render
from bot.entrypoints.web.forms import MAX_NAME, field, integer
from bot.entrypoints.web.session import flash
from bot.services import hall
from bot.services.answers import AnswerError
from bot.services.hall import HallError
from bot.services.staff import Actor
from bot.text.formatting import parse_day
from storage.uow import UnitOfWork

router = APIRouter()

# The projector's page reloads itself this often (seconds).
LIVE_REFRESH = 5


async def speakers_page(request: Request, uow: UnitOfWork, actor: Actor, code: str, *, error: str | None = None,
                        values: dict[str, str] | None = None, status: int = 200) -> Response:
    found = await hall.speakers(uow, actor, code)
    return render(request, "hall.html", status=status, found=found, meeting=found.meeting, commune=found.commune,
                  tz=found.commune.timezone, error=error, values=values or {})


@router.get("/meetings/{code}/speakers", response_class=HTMLResponse)
async def speakers(request: Request, code: str, actor: SignedIn, uow: Reading) -> Response:
    return await speakers_page(request, uow, actor, code)


async def _refused(request: Request, uow: UnitOfWork, actor: Actor, code: str, exc: ServiceError, values: dict[str, str]) -> Response:
    """The list again with the service's reason; nothing the action did is kept."""
    await uow.rollback()
    tr = console(request).tr
    return await speakers_page(request, uow, actor, code, error=tr("web.error.refused", reason=exc.text(tr)), values=values, status=400)


def _back(code: str, anchor: str = "") -> Response:
    return redirect(f"/meetings/{code}/speakers{anchor}")


@router.post("/meetings/{code}/speakers/turn", response_class=HTMLResponse)
async def turn(request: Request, code: str, form: Posted, actor: SignedIn, uow: Writing) -> Response:
    ref, wanted = field(form, "ref"), field(form, "turn")
    if wanted not in TURNS:
        return await speakers_page(request, uow, actor, code, error=console(request).tr("web.hall.bad_turn"), status=400)
    try:
        await hall.set_turn(uow, actor, code, ref, Turn(wanted), now=console(request).clock())
    except HallError as exc:
        return await _refused(request, uow, actor, code, exc, {})
    return _back(code)


@router.post("/meetings/{code}/speakers/move", response_class=HTMLResponse)
async def move(request: Request, code: str, form: Posted, actor: SignedIn, uow: Writing) -> Response:
    to = integer(form.get("to"))
    if to is None or to < 1:
        return await speakers_page(request, uow, actor, code, error=console(request).tr("web.hall.bad_place"), status=400)
    try:
        await hall.move(uow, actor, code, field(form, "ref"), to=to, now=console(request).clock())
    except HallError as exc:
        return await _refused(request, uow, actor, code, exc, {})
    return _back(code)


@router.post("/meetings/{code}/speakers/group", response_class=HTMLResponse)
async def group(request: Request, code: str, form: Posted, actor: SignedIn, uow: Writing) -> Response:
    await hall.group_by_topic(uow, actor, code, now=console(request).clock())
    flash(request, console(request).tr("web.hall.grouped"))
    return _back(code)


@router.post("/meetings/{code}/speakers/close", response_class=HTMLResponse)
async def close(request: Request, code: str, form: Posted, actor: SignedIn, uow: Writing) -> Response:
    closing = form.get("closed") != "0"
    await hall.close_list(uow, actor, code, closed=closing, now=console(request).clock())
    flash(request, console(request).tr("web.hall.closed_now" if closing else "web.hall.reopened"))
    return _back(code)


@router.post("/meetings/{code}/speakers/floor", response_class=HTMLResponse)
async def floor(request: Request, code: str, form: Posted, actor: SignedIn, uow: Writing) -> Response:
    values = {k: field(form, k) for k in ("name", "village", "topic", "question")}
    try:
        submission = await hall.floor_question(
            uow, actor, code, name=values["name"], village_id=integer(values["village"]), topic_id=integer(values["topic"]),
            question=values["question"], now=console(request).clock(),
        )
    except HallError as exc:
        return await _refused(request, uow, actor, code, exc, values)
    flash(request, console(request).tr("web.hall.floor_done", ref=submission.ref))
    return _back(code, f"#s-{submission.ref}")


@router.post("/meetings/{code}/speakers/answer", response_class=HTMLResponse)
async def answer(request: Request, code: str, form: Posted, actor: SignedIn, uow: Writing) -> Response:
    c = console(request)
    ref = field(form, "ref")
    values = {f"answer_{ref}": field(form, "answer"), f"by_{ref}": field(form, "by")[:MAX_NAME + 1]}
    forward_to = field(form, "forward_to") or None
    expected_raw = field(form, "expected_by")
    expected = parse_day(expected_raw) if expected_raw else None
    if expected_raw and expected is None:
        return await speakers_page(request, uow, actor, code, error=c.tr("web.answer.error_bad_date", value=expected_raw), values=values, status=400)
    try:
        submission = await hall.hall_answer(uow, actor, code, ref, text=field(form, "answer") or None, by=field(form, "by"),
                                            forward_to=forward_to, expected_by=expected, now=c.clock())
    except (HallError, AnswerError) as exc:
        return await _refused(request, uow, actor, code, exc, values)
    flash(request, c.tr("web.hall.answer_done", ref=submission.ref))
    return _back(code, f"#s-{submission.ref}")


@router.get("/meetings/{code}/live", response_class=HTMLResponse)
async def live(request: Request, code: str, actor: SignedIn, uow: Reading) -> Response:
    view = await hall.live(uow, actor, code)
    return render(request, "hall_live.html", view=view, refresh=LIVE_REFRESH)
