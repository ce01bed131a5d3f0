"""`doithoai db upgrade`, `doithoai backup` and `doithoai restore`: the database itself, whatever
version its schema is at (none of them refuses an old one)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from bot.entrypoints.cli.common import fail, settings, tr
from storage.schema import upgrade

db_group = typer.Typer(help=tr("cli.help.db"), no_args_is_help=True)
commands = typer.Typer()  # at the root: `doithoai backup`, `doithoai restore`


@db_group.command("upgrade", help=tr("cli.help.db_upgrade"))
def db_upgrade() -> None:
    url = settings().database_url
    try:
        upgrade(url)
    except Exception as exc:
        fail(tr("cli.db.failed", detail=exc))
    typer.echo(tr("cli.db.up_to_date"))


@commands.command("backup", help=tr("cli.help.backup"))
def backup(
    path: Path = typer.Argument(..., help=tr("cli.help.backup_path")),
    force: bool = typer.Option(False, "--force", help=tr("cli.help.backup_force")),
) -> None:
    from storage.backup import BackupError, human_size
    from storage.backup import backup as backup_database

    url = settings().database_url
    try:
        made = asyncio.run(backup_database(url, path, force=force))
    except BackupError as exc:
        fail(exc.text(tr))
    typer.echo(tr("cli.backup.done", path=made.path, size=human_size(made.size), kind=made.kind_name, revision=made.revision))


@commands.command("restore", help=tr("cli.help.restore"))
def restore(
    path: Path = typer.Argument(..., help=tr("cli.help.restore_path")),
    yes: bool = typer.Option(False, "--yes", "-y", help=tr("cli.help.yes")),
) -> None:
    from storage.backup import BackupError, check_restore, describe, human_size
    from storage.backup import restore as restore_database

    url = settings().database_url
    try:
        if not yes:  # the checks come before the question (restore repeats them)
            found = asyncio.run(check_restore(url, path))
            if not typer.confirm(tr("cli.restore.confirm", target=describe(url), path=path, kind=found.kind_name,
                                    revision=found.revision, size=human_size(found.size))):
                fail(tr("cli.restore.aborted"))
        done = asyncio.run(restore_database(url, path))
    except BackupError as exc:
        fail(exc.text(tr))
    typer.echo(tr("cli.restore.done", path=path, target=describe(url), revision=done.revision))
    if done.behind:
        typer.echo(tr("cli.restore.behind", revision=done.revision, head=done.head))
