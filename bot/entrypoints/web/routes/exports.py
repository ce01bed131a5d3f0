"""A meeting's files: the answers sheet and the report. Each download is audited: the services write
(and commit) who took residents' data out, and when, so each is given a writing unit of work."""

from __future__ import annotations

import tempfile
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response

from bot.entrypoints.web.console import console
from bot.entrypoints.web.dependencies import NotFound, SignedIn, Writing
from bot.services.exports.report import build_report
from bot.services.exports.spreadsheet import SpreadsheetError, export_answers

router = APIRouter()

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def _file_code(code: str) -> str:
    """The meeting's code as a file name carries it (codes are letters, digits, . _ -; anything else goes)."""
    return "".join(ch for ch in code.strip() if ch.isascii() and (ch.isalnum() or ch in "._-")) or "hoi-nghi"


@router.get("/meetings/{code}/answers.xlsx")
async def answers_sheet(request: Request, code: str, actor: SignedIn, uow: Writing) -> Response:
    with tempfile.TemporaryDirectory(prefix="doithoai-web-") as tmp:
        path = Path(tmp) / "answers.xlsx"
        try:
            await export_answers(uow, actor, code, path, now=console(request).clock())
        except SpreadsheetError:  # its only refusal here: no such meeting
            raise NotFound(code) from None
        data = path.read_bytes()
    return Response(data, media_type=XLSX, headers={"content-disposition": f'attachment; filename="{_file_code(code)}-tra-loi.xlsx"'})


@router.get("/meetings/{code}/report.docx")
async def report(request: Request, code: str, actor: SignedIn, uow: Writing, grouped_by: str = "") -> Response:
    built = await build_report(uow, actor, code, grouped_by=grouped_by if grouped_by in ("topic", "answer") else None,
                               now=console(request).clock())
    name = f"{_file_code(code)}-bao-cao-theo-{'linh-vuc' if built.grouped_by == 'topic' else 'tra-loi'}.docx"
    return Response(built.data, media_type=DOCX, headers={"content-disposition": f'attachment; filename="{name}"'})
