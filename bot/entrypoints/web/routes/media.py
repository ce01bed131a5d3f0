"""A resident's voice question and photos on the submission's page: played and shown (served under
the type their bytes are, read again here), and the transcript the secretariat types for a voice
question (bot/services/media.py)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from bot.domain.errors import ServiceError
from bot.entrypoints.web.console import console
from bot.entrypoints.web.dependencies import NotFound, Posted, Reading, SignedIn, Writing
from bot.entrypoints.web.forms import field, integer
from bot.entrypoints.web.routes.submissions import _done, _refused
from bot.services import media
from bot.services.filetypes import UNKNOWN, content_disposition, sniff, sniff_audio

router = APIRouter()


@router.get("/submissions/{ref}/media/{file_id}/{name}")
async def resident_file(request: Request, ref: str, file_id: str, name: str, actor: SignedIn, uow: Reading) -> Response:
    found = await media.resident_file(uow, actor, ref, integer(file_id) or 0)
    if found is None:
        raise NotFound()
    kept, data = found
    kind = sniff_audio(data) or sniff(data) or UNKNOWN
    return Response(data, media_type=kind.mime, headers={"Content-Disposition": content_disposition(kept.filename, kind),
                                                         "Cache-Control": "private, no-store"})


@router.post("/submissions/{ref}/transcript", response_class=HTMLResponse)
async def transcript(request: Request, ref: str, form: Posted, actor: SignedIn, uow: Writing) -> Response:
    c = console(request)
    text = field(form, "transcript")
    try:
        await media.transcribe(uow, actor, ref, text, now=c.clock())
    except ServiceError as exc:
        return await _refused(request, uow, actor, ref, exc, {"transcript": text})  # type: ignore[arg-type]
    return _done(request, ref, c.tr("web.media.transcribed", ref=ref.upper()))
