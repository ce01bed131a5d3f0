"""`doithoai zalo oa-tokens`: the Zalo OA's access token pair."""

from __future__ import annotations

import typer

from bot.entrypoints.cli.common import as_operator, fail, piped_secrets, tr
from storage.models import utcnow

zalo_group = typer.Typer(help=tr("cli.help.zalo"), no_args_is_help=True)


@zalo_group.command("oa-tokens", help=tr("cli.help.oa_tokens"))
def zalo_oa_tokens() -> None:
    """Store a new OA access/refresh token pair (prompted, hidden, never an argument), e.g. after the refresh
    chain broke. When standard input is not a terminal, the access token is its first line and the refresh
    token its second. The settings' pair is only used the very first time; after that the database's is."""
    from bot.channels.zalo_oa.api import CHANNEL
    from bot.services.tokens import store_token_pair

    piped = piped_secrets(2)
    if piped:
        access, refresh = (line.strip() for line in piped)
    else:
        access = typer.prompt(tr("cli.tokens.access"), hide_input=True).strip()
        refresh = typer.prompt(tr("cli.tokens.refresh"), hide_input=True).strip()
    if not access or not refresh:
        fail(tr("cli.tokens.both"))
    as_operator(lambda uow, actor: store_token_pair(uow, actor, CHANNEL, access, refresh, now=utcnow()))
    typer.echo(tr("cli.tokens.done"))
