"""`doithoai web`: the staff's web console."""

from __future__ import annotations

import asyncio

import typer

from bot.entrypoints.cli.common import fail, settings, tr, with_db
from storage.schema import SchemaBehind

commands = typer.Typer()  # at the root: `doithoai web`


@commands.command("web", help=tr("cli.help.web"))
def web(
    host: str = typer.Option("127.0.0.1", "--host", help=tr("cli.help.web_host")),
    port: int = typer.Option(8080, "--port", help=tr("cli.help.port")),
) -> None:
    from bot.entrypoints.web.app import serve

    s = settings()
    try:
        with_db(lambda db: asyncio.sleep(0))  # refuse an old schema before serving anything
        serve(s, host, port)
    except SchemaBehind:
        fail(tr("cli.schema_behind"))
