"""`doithoai meeting load|list` and `doithoai announce`: a meeting's plan, and telling residents of it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Optional

import typer

from bot.domain.errors import texts
from bot.entrypoints.cli.common import as_operator, fail_with_problems, show, tr
from bot.services.meetings import overview
from bot.services.plans import PlanError, load_plan, read_plan
from storage.models import utcnow

meeting_group = typer.Typer(help=tr("cli.help.meetings"), no_args_is_help=True)
commands = typer.Typer()  # at the root: `doithoai announce`


@meeting_group.command("load", help=tr("cli.help.meeting_load"))
def meeting_load(plan_file: Path = typer.Argument(..., help=tr("cli.help.plan_file"))) -> None:
    try:  # the file's own problems, or the database's objection (a code another commune holds)
        plan = read_plan(plan_file)
        report = as_operator(lambda uow, actor: load_plan(uow, actor, plan, source=plan_file.name))
    except PlanError as exc:
        fail_with_problems(tr("cli.plan.invalid", path=plan_file), texts(exc.problems, tr))
    typer.echo(tr("cli.meeting.created" if report.created else "cli.meeting.updated", code=report.meeting_code))
    for item in report.kept_named:
        typer.echo(tr("cli.meeting.kept", item=item.text(tr)))
    if report.notified:
        typer.echo(tr("cli.meeting.notified", residents=report.notified, messages=report.notified_messages))


@meeting_group.command("list", help=tr("cli.help.meeting_list"))
def meeting_list(as_json: bool = typer.Option(False, "--json", help=tr("cli.help.json"))) -> None:
    def line(m: dict[str, Any]) -> str:
        state = tr("cli.meeting.open" if m["registration_open"] else "cli.meeting.closed")
        starts = datetime.fromisoformat(m["starts_at"])
        return f"{m['code']}  {starts:%H:%M %d/%m/%Y}  {m['commune_name']}  {state}  {m['title']}"

    show(as_operator(lambda uow, actor: overview(uow, actor, now=utcnow()), readonly=True), as_json, line, empty=tr("cli.meeting.none"))


@commands.command("announce", help=tr("cli.help.announce"))
def announce(
    meeting: str = typer.Option(..., "--meeting", help=tr("cli.help.meeting")),
    text: Optional[str] = typer.Option(None, "--text", help=tr("cli.help.announce_text")),
) -> None:
    from bot.services.notices import NoticeError
    from bot.services.notices import announce as announce_meeting

    queued = as_operator(lambda uow, actor: announce_meeting(uow, actor, meeting, now=utcnow(), text=text), refused=NoticeError)
    typer.echo(tr("cli.announce.done", residents=queued.residents, messages=queued.messages))
    typer.echo(tr("cli.sent_by_run"))
