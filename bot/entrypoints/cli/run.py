"""`doithoai run`: every bot that has its access token, in one process or in several workers."""

from __future__ import annotations

import asyncio
from typing import Optional

import typer

from bot.entrypoints.cli.common import fail, settings, tr
from storage.schema import SchemaBehind

commands = typer.Typer()  # at the root: `doithoai run`


@commands.command("run", help=tr("cli.help.run"))
def run(
    webhook: bool = typer.Option(False, "--webhook", help=tr("cli.help.webhook")),
    host: Optional[str] = typer.Option(None, help=tr("cli.help.run_host")),
    port: Optional[int] = typer.Option(None, help=tr("cli.help.run_port")),
    workers: int = typer.Option(1, "--workers", min=1, help=tr("cli.help.workers")),
) -> None:
    from bot.entrypoints.bootstrap import NoChannel, check, configure_logging, run_bot

    s = settings()
    configure_logging(s.log_level)
    try:
        check(s, webhook, workers)
        if workers > 1:
            from bot.entrypoints.workers import supervise

            supervise(s, host or s.webhook_host, port or s.webhook_port, workers)
        else:
            asyncio.run(run_bot(s, webhook=webhook, host=host, port=port))
    except SchemaBehind:
        fail(tr("cli.schema_behind"))
    except NoChannel as exc:
        fail(tr("cli.run.no_channel", detail=exc.text(tr)))
