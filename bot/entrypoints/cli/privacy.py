"""`doithoai privacy purge`: keeping the consent text's promise on how long personal data is kept."""

from __future__ import annotations

import typer

from bot.entrypoints.cli.common import as_operator, tr
from storage.models import utcnow

privacy_group = typer.Typer(help=tr("cli.help.privacy"), no_args_is_help=True)


@privacy_group.command("purge", help=tr("cli.help.privacy_purge"))
def privacy_purge() -> None:
    from bot.services.privacy import purge_expired

    # The scheduler purges as nobody in particular; the service takes no actor.
    r = as_operator(lambda uow, actor: purge_expired(uow, utcnow()))
    typer.echo(tr("cli.purge.done", submissions=r.submissions_anonymised, residents=r.residents_deleted, messages=r.messages_deleted))
    typer.echo(tr("cli.purge.files", files=r.files_removed, mb=f"{r.bytes_removed / (1024 * 1024):.1f}".replace(".", ","), size=r.bytes_removed))
