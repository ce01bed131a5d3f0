"""The transcript the secretariat types for a resident's voice question (bot/services/media.py); the
recording and photos themselves are served beside the answer's files (routes/submissions.py)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from bot.domain.errors import ServiceError
from bot.entrypoints.web.console import console
from bot.entrypoints.web.dependencies import Posted, SignedIn, Writing
from bot.entrypoints.web.forms import field
from bot.entrypoints.web.routes.submissions import _done, _refused
from bot.services import media

router = APIRouter()


@router.post("/submissions/{ref}/transcript", response_class=HTMLResponse)
async def transcript(request: Request, ref: str, form: Posted, actor: SignedIn, uow: Writing) -> Response:
    c = console(request)
    text = field(form, "transcript")
    try:
        await media.transcribe(uow, actor, ref, text, now=c.clock())
    except ServiceError as exc:
        return await _refused(request, uow, actor, ref, exc, {"transcript": text})  # type: ignore[arg-type]
    return _done(request, ref, c.tr("web.media.transcribed", ref=ref.upper()))
