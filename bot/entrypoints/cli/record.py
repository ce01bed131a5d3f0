"""`doithoai minutes`: the meeting's minutes (biên bản) in Word, with the facts only the hall knows
(who chaired, who kept the minutes, how many came) saved on the meeting first. `doithoai conclusion
draft` (answers.py, with the conclusion's other commands) writes the conclusion notice's draft the same
way. Both go through bot/services/exports/record.py, as the console's downloads do.

The facts, the file and the audit row go together: the facts are saved only once the file is written,
and a refused template, a bad fact or a file that cannot be written leaves the database and the
folder as they were.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any, Awaitable, Callable, Optional, TypeVar

import typer

from bot.entrypoints.cli.common import as_operator, fail, settings, tr
from bot.services.staff import Actor
from storage.models import utcnow
from storage.uow import UnitOfWork

commands = typer.Typer()  # at the root: `doithoai minutes`

T = TypeVar("T")
Build = Callable[..., Awaitable[T]]
TEMPLATE = typer.Option(None, "--template", help=tr("cli.help.minutes_template"))


def _write(path: Path, data: bytes) -> None:
    """The whole file or none: written beside its place, then renamed over it."""
    from bot.services.exports.record import RecordError

    part = path.with_name(f".{path.name}.part")
    try:
        part.write_bytes(data)
        os.replace(part, path)
    except OSError:
        part.unlink(missing_ok=True)
        raise RecordError("problem.record.cannot_write", path=path) from None


def make_document(path: Path, meeting: str, template: Optional[Path], kind: Any, build: Build[T], **facts: Any) -> T:
    """`build`'s document of `meeting` written to `path`, after `facts` (if any) are saved, in one transaction.
    A refusal is printed in Vietnamese with exit code 1, and then nothing was saved or written."""
    from bot.services.exports.record import RecordError, set_record_facts, template_file

    folder = settings().record_templates
    try:
        chosen = template_file(template, kind) if template is not None else None
    except RecordError as exc:
        fail(exc.text(tr))
    now: datetime = utcnow()

    async def made(uow: UnitOfWork, actor: Actor) -> T:
        with uow.one_transaction():
            if any(v is not None for v in facts.values()):
                await set_record_facts(uow, actor, meeting, now=now, **facts)
            built = await build(uow, actor, meeting, template=chosen, folder=folder, now=now)
            _write(path, built.data)  # type: ignore[attr-defined]
        await uow.commit()
        return built

    return as_operator(made, refused=RecordError)


@commands.command("minutes", help=tr("cli.help.minutes"))
def minutes(
    path: Path = typer.Argument(..., help=tr("cli.help.minutes_out")),
    meeting: str = typer.Option(..., "--meeting", help=tr("cli.help.meeting")),
    chair: Optional[str] = typer.Option(None, "--chair", help=tr("cli.help.minutes_chair")),
    secretary: Optional[str] = typer.Option(None, "--secretary", help=tr("cli.help.minutes_secretary")),
    attendance: Optional[str] = typer.Option(None, "--attendance", help=tr("cli.help.minutes_attendance")),
    template: Optional[Path] = TEMPLATE,
) -> None:
    from bot.services.exports.record import MINUTES, build_minutes

    built = make_document(path, meeting, template, MINUTES, build_minutes, chair=chair, secretary=secretary, attendance=attendance)
    if (chair, secretary, attendance) != (None, None, None):
        shown = {k: v if v not in (None, "") else "—" for k, v in built.facts.items()}
        typer.echo(tr("minutes.facts_done", code=built.code, **shown))
    typer.echo(tr("minutes.cli_done", code=built.code, path=path, spoke=built.spoke, written=built.written))
