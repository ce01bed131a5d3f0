"""`doithoai posters`: a PDF of one A4 poster a village, its QR codes opening the commune's own bot."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Optional

import typer

from bot.entrypoints.cli.common import as_operator, fail, settings, tr
from bot.services.meetings import commune_code_of

commands = typer.Typer()  # at the root: `doithoai posters`


@commands.command("posters", help=tr("cli.help.posters"))
def posters(
    path: Path = typer.Argument(..., help=tr("cli.help.pdf_out")),
    meeting: str = typer.Option(..., "--meeting", help=tr("cli.help.meeting")),
    bot_username: Optional[str] = typer.Option(None, "--bot-username", help=tr("cli.help.bot_username")),
    zalo_link: Optional[str] = typer.Option(None, "--zalo-link", help=tr("cli.help.zalo_link")),
) -> None:
    from bot.services.exports.posters import PosterError, render_posters

    username = bot_username or _bot_username(as_operator(lambda uow, actor: commune_code_of(uow, meeting), readonly=True))
    pdf = as_operator(lambda uow, actor: render_posters(uow, meeting, telegram_username=username, zalo_link=zalo_link),
                      refused=PosterError, readonly=True)
    path.write_bytes(pdf)
    typer.echo(tr("cli.posters.done", path=path))


def _bot_username(commune: str | None) -> str:
    """The Telegram username of the bot that serves `commune`: a poster must never send a commune's
    residents to another commune's bot."""
    from bot.channels.telegram.client import BotAPI
    from bot.entrypoints.settings import CommunesFileError

    s = settings()
    try:
        own = s.commune_credentials().get(commune or "")
    except CommunesFileError as exc:
        fail(tr("cli.bad_configuration", detail=exc))
    if own is not None:
        token, where = own.telegram_token, tr("cli.posters.communes_file", code=commune)
    elif s.commune is None or commune is None or commune == s.commune:
        token, where = s.telegram_token, "DOITHOAI_TELEGRAM_TOKEN"
    else:
        token, where = None, tr("cli.posters.communes_file", code=commune)
    if token is None:
        fail(tr("cli.posters.username", where=where))

    async def ask() -> str:
        bot = BotAPI(token.get_secret_value(), s.telegram_api_url)  # type: ignore[union-attr]
        try:
            return await bot.username(timeout=30) or ""
        finally:
            await bot.close()

    try:
        return asyncio.run(ask())
    except Exception as exc:
        fail(tr("cli.posters.telegram_failed", kind=type(exc).__name__))
