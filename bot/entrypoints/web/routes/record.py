"""The meeting's record from the console: the minutes and the conclusion notice's draft as Word files,
and the minutes' own facts (chair, secretary, attendance) from a form on the speakers' page. Through
bot/services/exports/record.py, as `doithoai minutes` and `doithoai conclusion draft` are; both files
are audited, so each route is given a writing unit of work.

The files are made from the commune's own templates when DOITHOAI_RECORD_TEMPLATES names a folder
holding them; a template it cannot use is refused on the speakers' page (400), naming what is wrong.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from bot.entrypoints.web.console import console
from bot.entrypoints.web.dependencies import NOT_FOUND_KEYS, Posted, SignedIn, Writing, redirect
from bot.entrypoints.web.forms import field
from bot.entrypoints.web.routes.exports import DOCX, _file_code
from bot.entrypoints.web.routes.hall import _refused
from bot.entrypoints.web.session import flash
from bot.services.exports import record
from bot.services.exports.record import RecordError
from bot.services.staff import Actor
from storage.uow import UnitOfWork

router = APIRouter()

FACTS = ("chair", "secretary", "attendance")


async def _download(request: Request, code: str, actor: Actor, uow: UnitOfWork, build: Callable[..., Awaitable[Any]], name: str) -> Response:
    """`build`'s Word file, which the browser saves under a name the server chooses; a template the
    commune's folder holds and that cannot be used is shown on the speakers' page."""
    c = console(request)
    try:
        built = await build(uow, actor, code, folder=c.record_templates, now=c.clock())
    except RecordError as exc:
        if exc.key in NOT_FOUND_KEYS:
            raise
        return await _refused(request, uow, actor, code, exc, {})
    disposition = f'attachment; filename="{_file_code(built.code)}-{name}.docx"'
    return Response(built.data, media_type=DOCX, headers={"content-disposition": disposition})


@router.get("/meetings/{code}/minutes.docx")
async def minutes(request: Request, code: str, actor: SignedIn, uow: Writing) -> Response:
    return await _download(request, code, actor, uow, record.build_minutes, "bien-ban")


@router.get("/meetings/{code}/conclusion-draft.docx")
async def conclusion_draft(request: Request, code: str, actor: SignedIn, uow: Writing) -> Response:
    return await _download(request, code, actor, uow, record.build_conclusion_draft, "du-thao-thong-bao-ket-luan")


@router.post("/meetings/{code}/record", response_class=HTMLResponse)
async def facts(request: Request, code: str, form: Posted, actor: SignedIn, uow: Writing) -> Response:
    """Empty fields clear their facts: the minutes then leave a dotted line to fill in by hand."""
    c = console(request)
    values = {k: field(form, k) for k in FACTS}
    try:
        meeting = await record.set_record_facts(uow, actor, code, **values, now=c.clock())
    except RecordError as exc:
        if exc.key in NOT_FOUND_KEYS:
            raise
        return await _refused(request, uow, actor, code, exc, {f"record_{k}": v for k, v in values.items()})
    flash(request, c.tr("web.record.saved"))
    return redirect(f"/meetings/{meeting.code}/speakers#record")
