"""`doithoai demo`: the bot, or the staff console with --web, on a throw-away database holding the
example plan."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Awaitable, Callable

import typer

from bot.entrypoints.cli.common import in_one_unit, tr
from bot.services.plans import Plan, load_plan, parse_plan
from bot.text.formatting import when
from storage.db import Database
from storage.models import utcnow
from storage.schema import upgrade

commands = typer.Typer()  # at the root: `doithoai demo`


@commands.command("demo", help=tr("cli.help.demo"))
def demo(
    web: bool = typer.Option(False, "--web", help=tr("cli.help.demo_web")),
    host: str = typer.Option("127.0.0.1", "--host", help=tr("cli.help.demo_host")),
    port: int = typer.Option(8080, "--port", help=tr("cli.help.demo_port")),
) -> None:
    from bot.channels.console import CHANNEL, ConsoleChat, ConsoleTransport
    from bot.conversation.engine import Conversation
    from bot.delivery.sender import Sender

    plan = parse_plan(resources.files("bot.entrypoints.demo").joinpath("gia-phuc-2026.toml").read_text(encoding="utf-8"))
    shifted = _move_into_future(plan)
    with tempfile.TemporaryDirectory(prefix="doithoai-demo-") as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'demo.db'}"
        upgrade(url)
        if web:
            _demo_web(url, plan, host, port)
            return

        async def chat_in_the_terminal(db: Database) -> None:
            transport = ConsoleTransport(sys.stdout, tr)
            chat = ConsoleChat(Conversation(db), Sender(db, {CHANNEL: transport}), transport, input)
            typer.echo(tr("demo.banner"))
            if shifted:
                tz = plan.commune.timezone
                typer.echo(tr("demo.shifted", start=when(plan.meeting.starts_at, tz, tr), deadline=when(plan.meeting.registration_closes_at, tz, tr)))
            await chat.send("/start")
            await chat.run()

        _on_demo_database(url, plan, chat_in_the_terminal)
    typer.echo("\n" + tr("demo.bye"))


def _on_demo_database(url: str, plan: Plan, work: Callable[[Database], Awaitable[None]]) -> None:
    """`work` on the demo's throw-away database with the example plan loaded, until it ends or Ctrl-C."""

    async def go() -> None:
        db = Database(url)
        try:
            await in_one_unit(db, lambda uow, actor: load_plan(uow, actor, plan))
            await work(db)
        finally:
            await db.dispose()

    try:
        asyncio.run(go())
    except KeyboardInterrupt:
        pass


def _demo_web(url: str, plan: Plan, host: str, port: int) -> None:
    import secrets

    import uvicorn

    from bot.entrypoints.demo.sample import fill
    from bot.entrypoints.web.app import create_app

    async def serve_the_console(db: Database) -> None:
        login, password = await fill(db, utcnow())
        app = create_app(db, secret_key=secrets.token_urlsafe(32))
        server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, access_log=False, log_level="warning"))
        typer.echo(tr("demo.web", url=f"http://{host}:{port}/", login=login, password=password))
        await server.serve()

    _on_demo_database(url, plan, serve_the_console)
    typer.echo(tr("demo.bye"))


def _move_into_future(plan: Plan) -> bool:
    """The example plan's dates may have passed: move it by whole weeks (same weekday and time)."""
    m = plan.meeting
    soon = utcnow() + timedelta(days=14)
    if m.registration_closes_at >= soon:
        return False
    weeks = (soon - m.registration_closes_at).days // 7 + 1
    shift = timedelta(weeks=weeks)
    m.starts_at, m.ends_at, m.registration_closes_at = m.starts_at + shift, m.ends_at + shift, m.registration_closes_at + shift
    return True
