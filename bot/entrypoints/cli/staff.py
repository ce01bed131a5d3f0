"""`doithoai staff add|list|remove|password` and `doithoai audit list`: who may use the console and
the staff bot, and what they did."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

import typer

from bot.entrypoints.cli.common import as_operator, fail, piped_secrets, show, tr
from bot.services.staff import StaffError, add_staff, audit_listing, find, link_code, remove_staff, set_password, staff_listing
from bot.text.formatting import local
from storage.models import utcnow

VIETNAM = "Asia/Ho_Chi_Minh"  # the time a code expires, as a head reads it

staff_group = typer.Typer(help=tr("cli.help.staff"), no_args_is_help=True)
audit_group = typer.Typer(help=tr("cli.help.audit"), no_args_is_help=True)


@staff_group.command("add", help=tr("cli.help.staff_add"))
def staff_add(
    role: str = typer.Option(..., "--role", help=tr("cli.help.role")),
    village: list[str] = typer.Option([], "--village", help=tr("cli.help.village")),
    department: Optional[str] = typer.Option(None, "--department", help=tr("cli.help.department")),
    telegram_id: Optional[str] = typer.Option(None, "--telegram-id", help=tr("cli.help.telegram_id")),
    login: Optional[str] = typer.Option(None, "--login", help=tr("cli.help.login")),
    name: Optional[str] = typer.Option(None, "--name", help=tr("cli.help.name")),
    commune: Optional[str] = typer.Option(None, "--commune", help=tr("cli.help.commune")),
    zalo_id: Optional[str] = typer.Option(None, "--zalo-id", help=tr("cli.help.zalo_id")),
    zalo_channel: Optional[str] = typer.Option(None, "--zalo-channel", help=tr("cli.help.zalo_channel")),
) -> None:
    shown = name or department or login or (f"Telegram {telegram_id}" if telegram_id else None) or (f"Zalo {zalo_id}" if zalo_id else None)
    if shown is None:
        fail(tr("cli.staff.who"))
    staff = as_operator(lambda uow, actor: add_staff(uow, name=shown, role=role, villages=village, department=department,
                                                     telegram_id=telegram_id, login=login, commune=commune, zalo_id=zalo_id,
                                                     zalo_channel=zalo_channel, actor=actor, now=utcnow()),
                        refused=StaffError)
    typer.echo(tr("cli.staff.added", id=staff.id, name=staff.name, role=staff.role))


@staff_group.command("list", help=tr("cli.help.staff_list"))
def staff_list(as_json: bool = typer.Option(False, "--json", help=tr("cli.help.json"))) -> None:
    def line(r: dict[str, Any]) -> str:
        where = ", ".join(r["villages"]) or r["department"] or ""
        return f"{r['id']:>4}  {r['role']:<12} {r['name']:<24} {where}  login={r['login'] or '-'} telegram={r['telegram_id'] or '-'}" + (
            f" zalo={r['zalo_id']} ({r['zalo_channel']})" if r.get("zalo_id") else "")

    show(as_operator(staff_listing, refused=StaffError, readonly=True), as_json, line, empty=tr("cli.staff.none"))


@staff_group.command("remove", help=tr("cli.help.staff_remove"))
def staff_remove(ident: str = typer.Argument(..., help=tr("cli.help.ident"))) -> None:
    staff = as_operator(lambda uow, actor: remove_staff(uow, ident, actor=actor, now=utcnow()), refused=StaffError)
    typer.echo(tr("cli.staff.removed", id=staff.id, name=staff.name))


@staff_group.command("link-code", help=tr("cli.help.staff_link_code"))
def staff_link_code(ident: str = typer.Argument(..., help=tr("cli.help.ident"))) -> None:
    """A one-time code a staff member sends to the Zalo bot or OA to link their Zalo account (for a head
    without a console login)."""
    async def make(uow: Any, actor: Any) -> tuple[Any, str, Any]:
        staff = await find(uow, ident)
        assert staff.id is not None
        code, until = await link_code(uow, actor, staff.id, utcnow())
        return staff, code, until

    staff, code, until = as_operator(make, refused=StaffError)
    typer.echo(tr("cli.staff.link_code", name=staff.name, code=code, until=f"{local(until, VIETNAM):%H:%M %d/%m/%Y}"))


@staff_group.command("password", help=tr("cli.help.staff_password"))
def staff_password(login: str = typer.Argument(..., help=tr("cli.help.password_login"))) -> None:
    """Set a web login's password: asked for twice, hidden, or read from standard input's first line when it
    is not a terminal; never an argument; stored as an Argon2 hash."""
    piped = piped_secrets(1)
    password = piped[0] if piped else typer.prompt(tr("cli.password.prompt"), hide_input=True, confirmation_prompt=tr("cli.password.again"))
    as_operator(lambda uow, actor: set_password(uow, login, password, actor=actor, now=utcnow()), refused=StaffError)
    typer.echo(tr("cli.password.done", login=login))


@audit_group.command("list", help=tr("cli.help.audit_list"))
def audit_list(
    as_json: bool = typer.Option(False, "--json", help=tr("cli.help.json")),
    limit: int = typer.Option(100, "--limit", min=1, help=tr("cli.help.limit")),
) -> None:
    def line(r: dict[str, Any]) -> str:
        return f"{datetime.fromisoformat(r['at']):%H:%M:%S %d/%m/%Y}  {r['actor']:<28} {r['action']:<18} {r['target']}"

    show(as_operator(lambda uow, actor: audit_listing(uow, actor, limit), refused=StaffError, readonly=True), as_json, line,
         empty=tr("cli.audit.empty"))
