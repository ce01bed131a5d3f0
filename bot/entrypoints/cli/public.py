"""`doithoai public …`: the meeting's public page for the commune's portal, and which questions it
shows. `export` writes the very page the console serves at /cong-khai/<code> as static files (an
index.html, the stylesheet it links and the answer files marked public, nothing else: copy the folder anywhere); `hide` and `show`
are the console's "Ẩn khỏi trang công khai" and "Hiện lại" (bot/services/public.py)."""

from __future__ import annotations

from pathlib import Path

import typer

from bot.entrypoints.cli.common import as_operator, fail, tr, with_db
from storage.db import Database
from storage.models import utcnow
from storage.uow import UnitOfWork

public_group = typer.Typer(help=tr("cli.help.public"), no_args_is_help=True)
REF = typer.Argument(..., help=tr("cli.help.ref"))


@public_group.command("export", help=tr("cli.help.public_export"))
def public_export(
    directory: Path = typer.Argument(..., help=tr("cli.help.public_dir")),
    meeting: str = typer.Option(..., "--meeting", help=tr("cli.help.meeting")),
) -> None:
    from bot.entrypoints.web.public import export
    from bot.services.public import PublicError, PublicPage, exported_files, published

    async def read(db: Database) -> tuple[PublicPage, dict[str, bytes]]:
        async with UnitOfWork(db, readonly=True) as uow:
            found = await published(uow, meeting, now=utcnow())
            return found, await exported_files(uow, found)

    try:
        page, files = with_db(read)
    except PublicError as exc:
        fail(exc.text(tr))
    try:
        index = export(page, directory, files)
    except OSError as exc:
        fail(_unwritable(exc, directory))
    typer.echo(tr("cli.public.exported", path=index, shown=page.shown, hidden=page.counts.hidden))


def _unwritable(exc: OSError, directory: Path) -> str:
    """Why the folder could not be written, without the operating system's English."""
    path = getattr(exc, "filename", None) or directory
    if isinstance(exc, PermissionError):
        return tr("cli.public.no_permission", path=path)
    if isinstance(exc, (FileExistsError, NotADirectoryError)):
        return tr("cli.public.not_a_folder", path=path)
    return tr("cli.public.unwritable", path=path, errno=exc.errno or 0)


@public_group.command("hide", help=tr("cli.help.public_hide"))
def public_hide(ref: str = REF, reason: str = typer.Option(..., "--reason", help=tr("cli.help.public_reason"))) -> None:
    from bot.services.answers import AnswerError
    from bot.services.public import PublicError, hide

    done = as_operator(lambda uow, actor: hide(uow, actor, ref, reason, now=utcnow()), refused=(PublicError, AnswerError))
    typer.echo(tr("web.public.hidden_done", ref=done.ref))


@public_group.command("show", help=tr("cli.help.public_show"))
def public_show(ref: str = REF) -> None:
    from bot.services.answers import AnswerError
    from bot.services.public import PublicError, show

    done = as_operator(lambda uow, actor: show(uow, actor, ref, now=utcnow()), refused=(PublicError, AnswerError))
    typer.echo(tr("web.public.shown_done", ref=done.ref))
