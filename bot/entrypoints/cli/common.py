"""What every `doithoai` command shares: its Vietnamese words, the configured database, the operator
acting through the services, and the way a refusal is printed."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any, Awaitable, Callable, NoReturn, TypeVar

import typer

from bot.domain.errors import ServiceError
from bot.entrypoints.settings import Settings, get_settings
from bot.services.staff import OPERATOR, Actor
from bot.text.catalogue import Translator
from storage.db import Database
from storage.schema import SchemaBehind, ensure_current
from storage.uow import UnitOfWork

T = TypeVar("T")
Action = Callable[[UnitOfWork, Actor], Awaitable[T]]

# Operators are commune staff: every line a command prints, its errors and its --help, is Vietnamese
# from the catalogue (the services' errors carry catalogue keys and are worded here).
tr = Translator("vi")


def fail(message: str) -> NoReturn:
    typer.echo(tr("cli.error", message=message), err=True)
    raise typer.Exit(1)


def fail_with_problems(head: str, problems: list[str]) -> NoReturn:
    """A refusal with everything wrong listed under it, so that one run shows every fix to make."""
    typer.echo(tr("cli.error", message=head), err=True)
    for problem in problems:
        typer.echo(f"  - {problem}", err=True)
    raise typer.Exit(1)


def settings() -> Settings:
    try:
        return get_settings()
    except Exception as exc:  # pydantic's ValidationError names the variable
        fail(tr("cli.bad_configuration", detail=exc))


def with_db(work: Callable[[Database], Awaitable[T]], *, check_schema: bool = True) -> T:
    """Run `work` against the configured database, refusing a schema older than the code."""

    async def go() -> T:
        db = Database(settings().database_url)
        try:
            if check_schema:
                await ensure_current(db)
            return await work(db)
        finally:
            await db.dispose()

    try:
        return asyncio.run(go())
    except SchemaBehind:
        fail(tr("cli.schema_behind"))


async def in_one_unit(db: Database, action: Action[T], *, readonly: bool = False) -> T:
    """`action` done by the operator (who has admin rights at the command line) in one unit of work;
    the service it calls commits its own work."""
    async with UnitOfWork(db, readonly=readonly) as uow:
        return await action(uow, OPERATOR)


def as_operator(
    action: Action[T],
    *,
    refused: type[ServiceError] | tuple[type[ServiceError], ...] = (),
    readonly: bool = False,
) -> T:
    """`action` on the configured database as the operator; a refusal of the `refused` kinds is printed
    in Vietnamese and ends the command with exit code 1."""
    try:
        return with_db(lambda db: in_one_unit(db, action, readonly=readonly))
    except refused as exc:
        fail(exc.text(tr))


def show(rows: list[dict[str, Any]], as_json: bool, line: Callable[[dict[str, Any]], str], *, empty: str) -> None:
    """A listing as a JSON array (for other tools) or one line a row (for people)."""
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        typer.echo(empty)
    for row in rows:
        typer.echo(line(row))


def piped_secrets(count: int) -> list[str] | None:
    """The first `count` lines of standard input when it is not a terminal (as `passwd --stdin`), else
    None: hidden prompts read the controlling terminal, so a script piping secrets from a terminal would hang."""
    if sys.stdin is None or sys.stdin.isatty():
        return None
    return [sys.stdin.readline().rstrip("\r\n") for _ in range(count)]
