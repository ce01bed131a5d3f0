"""The `doithoai` command line: one door into the same services the bot uses."""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from datetime import date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, Awaitable, Callable, Optional, TypeVar

import typer

from bot.domain.errors import file_problem
from bot.entrypoints.settings import Settings, get_settings
from bot.services.plans import Plan, PlanError, load_plan, parse_plan, read_plan
from bot.text.catalogue import Translator
from bot.text.formatting import local, parse_day, when
from storage.db import Database
from storage.models import utcnow
from storage.schema import SchemaBehind, ensure_current, upgrade
from storage.uow import UnitOfWork

T = TypeVar("T")

# Operators are commune staff: every line this command prints, its errors and its --help, is Vietnamese
# from the catalogue (the services' errors carry catalogue keys and are worded here).
tr = Translator("vi")


def _framework_words() -> None:
    """The panel titles and notes typer prints around our texts. (Its vendored click's own few words,
    "Usage:", "Show this message and exit." and its usage errors, are fixed English there.)"""
    import typer.rich_utils as rich

    rich.OPTIONS_PANEL_TITLE, rich.ARGUMENTS_PANEL_TITLE = tr("cli.framework.options"), tr("cli.framework.arguments")
    rich.COMMANDS_PANEL_TITLE, rich.ERRORS_PANEL_TITLE = tr("cli.framework.commands"), tr("cli.framework.error")
    rich.REQUIRED_LONG_STRING = "[" + tr("cli.framework.required") + "]"
    rich.DEFAULT_STRING = "[" + tr("cli.framework.default").replace("{default}", "{}") + "]"
    rich.RICH_HELP = tr("cli.framework.try_help")
    rich.ABORTED_TEXT = tr("cli.restore.aborted")


_framework_words()

app = typer.Typer(
    help=tr("cli.help.app"),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help=tr("cli.help.db"), no_args_is_help=True)
meeting_app = typer.Typer(help=tr("cli.help.meetings"), no_args_is_help=True)
submissions_app = typer.Typer(help=tr("cli.help.submissions"), no_args_is_help=True)
answers_app = typer.Typer(help=tr("cli.help.answers"), no_args_is_help=True)
conclusion_app = typer.Typer(help=tr("cli.help.conclusion"), no_args_is_help=True)
outbox_app = typer.Typer(help=tr("cli.help.outbox"), no_args_is_help=True)
privacy_app = typer.Typer(help=tr("cli.help.privacy"), no_args_is_help=True)
staff_app = typer.Typer(help=tr("cli.help.staff"), no_args_is_help=True)
audit_app = typer.Typer(help=tr("cli.help.audit"), no_args_is_help=True)
zalo_app = typer.Typer(help=tr("cli.help.zalo"), no_args_is_help=True)
for name, sub in (("zalo", zalo_app), ("db", db_app), ("meeting", meeting_app), ("submissions", submissions_app), ("answers", answers_app),
                  ("conclusion", conclusion_app), ("outbox", outbox_app), ("privacy", privacy_app), ("staff", staff_app),
                  ("audit", audit_app)):
    app.add_typer(sub, name=name)


def fail(message: str, code: int = 1) -> None:
    typer.echo(tr("cli.error", message=message), err=True)
    raise typer.Exit(code)


def settings() -> Settings:
    try:
        return get_settings()
    except Exception as exc:  # pydantic's ValidationError names the variable
        fail(tr("cli.bad_configuration", detail=exc))
        raise


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
        raise


# --- db ----------------------------------------------------------------------------------


@db_app.command("upgrade", help=tr("cli.help.db_upgrade"))
def db_upgrade() -> None:
    url = settings().database_url
    try:
        upgrade(url)
    except Exception as exc:
        fail(tr("cli.db.failed", detail=exc))
    typer.echo(tr("cli.db.up_to_date"))


# --- meeting -----------------------------------------------------------------------------


@meeting_app.command("load", help=tr("cli.help.meeting_load"))
def meeting_load(plan_file: Path = typer.Argument(..., help=tr("cli.help.plan_file"))) -> None:
    try:  # the file's own problems, or the database's objection (a code another commune holds)
        plan = read_plan(plan_file)
        report = with_db(lambda db: _load(db, plan, plan_file.name))
    except PlanError as exc:
        _problems(tr("cli.plan.invalid", path=plan_file), [p.text(tr) for p in exc.problems])
    typer.echo(tr("cli.meeting.created" if report.created else "cli.meeting.updated", code=report.meeting_code))
    for item in report.kept_named:
        typer.echo(tr("cli.meeting.kept", item=item.text(tr)))
    if report.notified:
        typer.echo(tr("cli.meeting.notified", residents=report.notified, messages=report.notified_messages))


async def _load(db: Database, plan: Plan, source: str | None = None) -> Any:
    from bot.services.staff import OPERATOR

    async with UnitOfWork(db) as uow:
        report = await load_plan(uow, OPERATOR, plan, source=source)
        await uow.commit()
        return report


@meeting_app.command("list", help=tr("cli.help.meeting_list"))
def meeting_list(as_json: bool = typer.Option(False, "--json", help=tr("cli.help.json"))) -> None:

    async def work(db: Database) -> list[dict[str, Any]]:
        async with UnitOfWork(db) as uow:
            out = []
            for meeting, commune in await uow.meetings.all():
                assert meeting.id is not None
                out.append(
                    {
                        "code": meeting.code,
                        "commune": commune.code,
                        "commune_name": commune.name,
                        "title": meeting.title,
                        "starts_at": local(meeting.starts_at, commune.timezone).isoformat(),
                        "ends_at": local(meeting.ends_at, commune.timezone).isoformat(),
                        "venue": meeting.venue,
                        "registration_closes_at": local(meeting.registration_closes_at, commune.timezone).isoformat(),
                        "villages": [v.name for v in await uow.meetings.invited_villages(meeting.id)],
                        "topics": [t.name for t in await uow.meetings.topics(meeting.id)],
                        "registration_open": utcnow() <= meeting.registration_closes_at,
                    }
                )
            return out

    def line(m: dict[str, Any]) -> str:
        state = tr("cli.meeting.open" if m["registration_open"] else "cli.meeting.closed")
        starts = datetime.fromisoformat(m["starts_at"])
        return f"{m['code']}  {starts:%H:%M %d/%m/%Y}  {m['commune_name']}  {state}  {m['title']}"

    show(with_db(work), as_json, line, empty=tr("cli.meeting.none"))


def show(rows: list[dict[str, Any]], as_json: bool, line: Callable[[dict[str, Any]], str], *, empty: str) -> None:
    """A listing as a JSON array (for other tools) or one line a row (for people)."""
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        typer.echo(empty)
    for row in rows:
        typer.echo(line(row))


# --- submissions --------------------------------------------------------------------------


@submissions_app.command("list", help=tr("cli.help.submissions_list"))
def submissions_list(
    meeting: Optional[str] = typer.Option(None, "--meeting", help=tr("cli.help.only_meeting")),
    as_json: bool = typer.Option(False, "--json", help=tr("cli.help.json")),
) -> None:

    async def work(db: Database) -> list[dict[str, Any]]:
        async with UnitOfWork(db) as uow:
            if meeting is not None and await uow.meetings.by_code(meeting) is None:
                fail(tr("problem.no_meeting", code=meeting))
            return [
                {
                    "ref": r.submission.ref,
                    "meeting": r.meeting_code,
                    "name": r.submission.name,
                    "village": r.village,
                    "topic": r.topic,
                    "question": r.submission.question,
                    "wants_to_speak": r.submission.wants_to_speak,
                    "phone": r.submission.phone,
                    "status": r.submission.status,
                    "channel": r.submission.channel,
                    "created_at": r.submission.created_at.isoformat(),
                }
                for r in await uow.submissions.listing(meeting)
            ]

    def line(r: dict[str, Any]) -> str:
        mode = tr("cli.submission.speak" if r["wants_to_speak"] else "cli.submission.written")
        status = tr(f"cli.status.{r['status']}") if r["status"] in STATUSES else r["status"]
        return f"{r['ref']}  {status:<12} {mode:<10} {r['village']}  {r['topic']}  {r['name'] or tr('cli.submission.anonymised')}"

    show(with_db(work), as_json, line, empty=tr("cli.submission.none"))


STATUSES = ("received", "answered", "forwarded", "withdrawn")


# --- answers and the conclusion -----------------------------------------------------------



def _date(value: Optional[str]) -> Optional[date]:
    if value is None:
        return None
    day = parse_day(value)
    if day is None:
        fail(tr("cli.answer.bad_date", value=value))
    return day


@app.command("answer", help=tr("cli.help.answer"))
def answer(
    ref: str = typer.Argument(..., help=tr("cli.help.ref")),
    text: Optional[str] = typer.Option(None, "--text", help=tr("cli.help.answer_text")),
    by: Optional[str] = typer.Option(None, "--by", help=tr("cli.help.answer_by")),
    forward: Optional[str] = typer.Option(None, "--forward", help=tr("cli.help.answer_forward")),
    expected_by: Optional[str] = typer.Option(None, "--expected-by", help=tr("cli.help.answer_expected_by")),
) -> None:
    from bot.services.answers import AnswerError
    from bot.services.secretariat import answer as answer_submission
    from bot.services.staff import OPERATOR

    when_ = _date(expected_by)

    async def work(db: Database) -> Any:
        async with UnitOfWork(db) as uow:
            submission = await answer_submission(uow, OPERATOR, ref, text=text, by=by, forward_to=forward, expected_by=when_, now=utcnow())
            meeting = await uow.meetings.get(submission.meeting_id)
            await uow.commit()
            return submission, meeting

    try:
        submission, meeting = with_db(work)
    except AnswerError as exc:
        fail(exc.text(tr))
    status = tr(f"cli.status.{submission.status}") if submission.status in STATUSES else submission.status
    sent = tr("cli.answer.queued" if meeting.concluded_at else "cli.answer.later")
    typer.echo(tr("cli.answer.done", ref=submission.ref, status=status, revision=submission.answer_revision, sent=sent))


@answers_app.command("export", help=tr("cli.help.answers_export"))
def answers_export(
    path: Path = typer.Argument(..., help=tr("cli.help.xlsx_out")),
    meeting: str = typer.Option(..., "--meeting", help=tr("cli.help.meeting")),
) -> None:
    from bot.services.spreadsheet import SpreadsheetError, export_answers
    from bot.services.staff import OPERATOR

    async def work(db: Database) -> int:
        async with UnitOfWork(db) as uow:  # the export is audited
            count = await export_answers(uow, OPERATOR, meeting, path)
            await uow.commit()
            return count

    try:
        count = with_db(work)
    except SpreadsheetError as exc:
        _problems(tr("cli.export.failed", code=meeting), exc.problems)
    typer.echo(tr("cli.export.done", count=count, path=path))


@answers_app.command("import", help=tr("cli.help.answers_import"))
def answers_import(path: Path = typer.Argument(..., help=tr("cli.help.xlsx_in"))) -> None:
    from bot.services.spreadsheet import SpreadsheetError, import_answers
    from bot.services.staff import OPERATOR

    async def work(db: Database) -> Any:
        async with UnitOfWork(db) as uow:
            report = await import_answers(uow, OPERATOR, path, now=utcnow())
            await uow.commit()
            return report

    try:
        report = with_db(work)
    except SpreadsheetError as exc:
        _problems(tr("cli.import.failed", path=path), exc.problems)
    typer.echo(tr("cli.import.done", answered=report.answered, forwarded=report.forwarded, unchanged=report.unchanged,
                  empty=report.skipped_empty))


def _problems(head: str, problems: list[str]) -> None:
    typer.echo(tr("cli.error", message=head), err=True)
    for problem in problems:
        typer.echo(f"  - {problem}", err=True)
    raise typer.Exit(1)


@conclusion_app.command("publish", help=tr("cli.help.conclusion_publish"))
def conclusion_publish(
    meeting: str = typer.Option(..., "--meeting", help=tr("cli.help.meeting")),
    summary_file: Optional[Path] = typer.Option(None, "--summary-file", help=tr("cli.help.summary_file")),
    document: Optional[Path] = typer.Option(None, "--document", help=tr("cli.help.document")),
    allow_unanswered: bool = typer.Option(False, "--allow-unanswered", help=tr("cli.help.allow_unanswered")),
    force: bool = typer.Option(False, "--force", help=tr("cli.help.publish_force")),
) -> None:
    from bot.services.answers import AnswerError, NotOver, Unanswered, publish_conclusion
    from bot.services.staff import OPERATOR

    summary = _read_text(summary_file) if summary_file else None
    doc = None
    if document is not None:
        try:
            data = document.read_bytes()
        except OSError as exc:
            fail(file_problem(exc, document).text(tr))
        if not data.startswith(b"%PDF"):
            fail(tr("cli.publish.not_pdf", path=document))
        doc = (document.name, data)

    async def work(db: Database) -> Any:
        async with UnitOfWork(db) as uow:
            report = await publish_conclusion(uow, OPERATOR, meeting, now=utcnow(), summary=summary, document=doc,
                                              allow_unanswered=allow_unanswered, force=force)
            await uow.commit()
            return report

    try:
        r = with_db(work)
    except Unanswered as exc:
        fail(tr("cli.publish.unanswered", count=len(exc.refs), refs=", ".join(exc.refs)))
    except NotOver as exc:
        fail(tr("cli.publish.not_over", reason=exc.text(tr)))
    except AnswerError as exc:
        fail(exc.text(tr))
    again = tr("cli.publish.again") if r.already_published else ""
    typer.echo(tr("cli.publish.done", code=r.meeting_code, again=again, answers=r.answers_queued, summaries=r.summaries_queued))
    if r.still_pending:
        typer.echo(tr("cli.publish.pending", refs=", ".join(r.still_pending)))
    typer.echo(tr("cli.sent_by_run"))


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        fail(file_problem(exc, path).text(tr))
        raise
    except UnicodeDecodeError:
        fail(tr("problem.file.not_utf8", path=path))
        raise


@app.command("announce", help=tr("cli.help.announce"))
def announce(
    meeting: str = typer.Option(..., "--meeting", help=tr("cli.help.meeting")),
    text: Optional[str] = typer.Option(None, "--text", help=tr("cli.help.announce_text")),
) -> None:
    from bot.services.notices import NoticeError, Queued
    from bot.services.notices import announce as announce_meeting
    from bot.services.staff import OPERATOR

    async def work(db: Database) -> Queued:
        async with UnitOfWork(db) as uow:
            queued = await announce_meeting(uow, OPERATOR, meeting, now=utcnow(), text=text)
            await uow.commit()
            return queued

    try:
        queued = with_db(work)
    except NoticeError as exc:
        fail(exc.text(tr))
    typer.echo(tr("cli.announce.done", residents=queued.residents, messages=queued.messages))
    typer.echo(tr("cli.sent_by_run"))


@outbox_app.command("status", help=tr("cli.help.outbox_status"))
def outbox_status(as_json: bool = typer.Option(False, "--json", help=tr("cli.help.json"))) -> None:
    from bot.services.queue import queue_counts
    from bot.services.staff import OPERATOR

    async def work(db: Database) -> list[dict[str, Any]]:
        async with UnitOfWork(db, readonly=True) as uow:
            return [
                {"meeting": meeting, "kind": kind, "state": STATE_NAMES.get(status, status), "count": count}
                for meeting, kind, status, count in await queue_counts(uow, OPERATOR)
            ]

    def line(r: dict[str, Any]) -> str:
        state = tr(f"cli.state.{r['state']}") if r["state"] in STATES else r["state"]
        kind = tr(f"cli.kind.{r['kind']}") if r["kind"] in KINDS else r["kind"]
        return f"{r['meeting'] or '-':<12} {kind:<16} {state:<14} {r['count']}"

    show(with_db(work), as_json, line, empty=tr("cli.outbox.empty"))


STATE_NAMES = {"pending": "queued"}  # the JSON's word; people read the catalogue's (cli.state.*)
STATES = ("queued", "sent", "failed", "unreachable")
KINDS = ("reply", "answer", "summary", "notice", "change", "reminder", "village_notice")


@outbox_app.command("retry", help=tr("cli.help.outbox_retry"))
def outbox_retry(failed: bool = typer.Option(False, "--failed", help=tr("cli.help.retry_failed"))) -> None:
    if not failed:
        fail(tr("cli.retry.what"))

    async def work(db: Database) -> int:
        async with UnitOfWork(db) as uow:
            count = await uow.outbox.requeue_failed()
            await uow.commit()
            return count

    typer.echo(tr("cli.retry.done", count=with_db(work)))


# --- staff, audit, posters ------------------------------------------------------------------


def _staff_call(work: Callable[..., Awaitable[T]]) -> T:
    """Run a staff-management action as the operator (who has admin rights at the command line)."""
    from bot.services.staff import StaffError

    async def go(db: Database) -> T:
        async with UnitOfWork(db) as uow:
            result = await work(uow)
            await uow.commit()
            return result

    try:
        return with_db(go)
    except StaffError as exc:
        fail(exc.text(tr))
        raise


@staff_app.command("add", help=tr("cli.help.staff_add"))
def staff_add(
    role: str = typer.Option(..., "--role", help=tr("cli.help.role")),
    village: list[str] = typer.Option([], "--village", help=tr("cli.help.village")),
    department: Optional[str] = typer.Option(None, "--department", help=tr("cli.help.department")),
    telegram_id: Optional[str] = typer.Option(None, "--telegram-id", help=tr("cli.help.telegram_id")),
    login: Optional[str] = typer.Option(None, "--login", help=tr("cli.help.login")),
    name: Optional[str] = typer.Option(None, "--name", help=tr("cli.help.name")),
    commune: Optional[str] = typer.Option(None, "--commune", help=tr("cli.help.commune")),
) -> None:
    from bot.services.staff import OPERATOR, add_staff

    shown = name or department or login or (f"Telegram {telegram_id}" if telegram_id else None)
    if shown is None:
        fail(tr("cli.staff.who"))
    staff = _staff_call(lambda uow: add_staff(uow, name=shown, role=role, villages=village, department=department,
                                               telegram_id=telegram_id, login=login, commune=commune, actor=OPERATOR, now=utcnow()))
    typer.echo(tr("cli.staff.added", id=staff.id, name=staff.name, role=staff.role))


@staff_app.command("list", help=tr("cli.help.staff_list"))
def staff_list(as_json: bool = typer.Option(False, "--json", help=tr("cli.help.json"))) -> None:
    from bot.services.staff import describe

    async def work(db: Database) -> list[dict[str, Any]]:
        async with UnitOfWork(db, readonly=True) as uow:
            return [describe(s, await uow.staff.village_names(s.id)) for s in await uow.staff.all()]  # type: ignore[arg-type]

    def line(r: dict[str, Any]) -> str:
        where = ", ".join(r["villages"]) or r["department"] or ""
        return f"{r['id']:>4}  {r['role']:<12} {r['name']:<24} {where}  login={r['login'] or '-'} telegram={r['telegram_id'] or '-'}"

    show(with_db(work), as_json, line, empty=tr("cli.staff.none"))


@staff_app.command("remove", help=tr("cli.help.staff_remove"))
def staff_remove(ident: str = typer.Argument(..., help=tr("cli.help.ident"))) -> None:
    from bot.services.staff import OPERATOR, remove_staff

    staff = _staff_call(lambda uow: remove_staff(uow, ident, actor=OPERATOR, now=utcnow()))
    typer.echo(tr("cli.staff.removed", id=staff.id, name=staff.name))


def _piped_secrets(count: int) -> list[str] | None:
    """The first `count` lines of standard input when it is not a terminal (as `passwd --stdin`), else
    None: hidden prompts read the controlling terminal, so a script piping secrets from a terminal would hang."""
    if sys.stdin is None or sys.stdin.isatty():
        return None
    return [sys.stdin.readline().rstrip("\r\n") for _ in range(count)]


@staff_app.command("password", help=tr("cli.help.staff_password"))
def staff_password(login: str = typer.Argument(..., help=tr("cli.help.password_login"))) -> None:
    """Set a web login's password: asked for twice, hidden, or read from standard input's first line when it
    is not a terminal; never an argument; stored as an Argon2 hash."""
    from bot.services.staff import OPERATOR, set_password

    piped = _piped_secrets(1)
    password = piped[0] if piped else typer.prompt(tr("cli.password.prompt"), hide_input=True, confirmation_prompt=tr("cli.password.again"))
    _staff_call(lambda uow: set_password(uow, login, password, actor=OPERATOR, now=utcnow()))
    typer.echo(tr("cli.password.done", login=login))


@audit_app.command("list", help=tr("cli.help.audit_list"))
def audit_list(
    as_json: bool = typer.Option(False, "--json", help=tr("cli.help.json")),
    limit: int = typer.Option(100, "--limit", min=1, help=tr("cli.help.limit")),
) -> None:

    async def work(db: Database) -> list[dict[str, Any]]:
        async with UnitOfWork(db, readonly=True) as uow:
            return [
                {"at": e.at.isoformat(), "actor": e.actor, "action": e.action, "target": e.target, "before": e.before, "after": e.after}
                for e in await uow.staff.audit_log(limit)
            ]

    def line(r: dict[str, Any]) -> str:
        return f"{datetime.fromisoformat(r['at']):%H:%M:%S %d/%m/%Y}  {r['actor']:<28} {r['action']:<18} {r['target']}"

    show(with_db(work), as_json, line, empty=tr("cli.audit.empty"))


@app.command("web", help=tr("cli.help.web"))
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


@app.command("posters", help=tr("cli.help.posters"))
def posters(
    path: Path = typer.Argument(..., help=tr("cli.help.pdf_out")),
    meeting: str = typer.Option(..., "--meeting", help=tr("cli.help.meeting")),
    bot_username: Optional[str] = typer.Option(None, "--bot-username", help=tr("cli.help.bot_username")),
    zalo_link: Optional[str] = typer.Option(None, "--zalo-link", help=tr("cli.help.zalo_link")),
) -> None:
    from bot.services.posters import PosterError, render_posters

    username = bot_username or _bot_username(_meeting_commune(meeting))

    async def work(db: Database) -> bytes:
        async with UnitOfWork(db, readonly=True) as uow:
            return await render_posters(uow, meeting, telegram_username=username, zalo_link=zalo_link)

    try:
        pdf = with_db(work)
    except PosterError as exc:
        fail(exc.text(tr))
    path.write_bytes(pdf)
    typer.echo(tr("cli.posters.done", path=path))


def _meeting_commune(meeting_code: str) -> str | None:
    """The code of the commune a meeting belongs to (None: no such meeting, said later)."""

    async def work(db: Database) -> str | None:
        async with UnitOfWork(db, readonly=True) as uow:
            found = await uow.meetings.by_code(meeting_code)
            commune = await uow.communes.get(found.commune_id) if found is not None else None
            return commune.code if commune is not None else None

    return with_db(work)


def _bot_username(commune: str | None) -> str:
    """The Telegram username of the bot that serves `commune`: a poster must never send a commune's
    residents to another commune's bot."""
    from bot.channels.telegram.runner import make_bot
    from bot.entrypoints.settings import CommunesFileError

    s = settings()
    try:
        own = s.commune_credentials().get(commune or "")
    except CommunesFileError as exc:
        fail(tr("cli.bad_configuration", detail=exc))
        raise
    if own is not None:
        token, where = own.telegram_token, tr("cli.posters.communes_file", code=commune)
    elif s.commune is None or commune is None or commune == s.commune:
        token, where = s.telegram_token, "DOITHOAI_TELEGRAM_TOKEN"
    else:
        token, where = None, tr("cli.posters.communes_file", code=commune)
    if token is None:
        fail(tr("cli.posters.username", where=where))

    async def ask() -> str:
        bot = make_bot(token.get_secret_value(), s.telegram_api_url)  # type: ignore[union-attr]
        try:
            return (await bot.get_me()).username or ""
        finally:
            await bot.session.close()

    try:
        return asyncio.run(ask())
    except Exception as exc:
        fail(tr("cli.posters.telegram_failed", kind=type(exc).__name__))
        raise


# --- backup -------------------------------------------------------------------------------


@app.command("backup", help=tr("cli.help.backup"))
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
        raise
    typer.echo(tr("cli.backup.done", path=made.path, size=human_size(made.size), kind=made.kind_name, revision=made.revision))


@app.command("restore", help=tr("cli.help.restore"))
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
        raise
    typer.echo(tr("cli.restore.done", path=path, target=describe(url), revision=done.revision))
    if done.behind:
        typer.echo(tr("cli.restore.behind", revision=done.revision, head=done.head))


# --- privacy ------------------------------------------------------------------------------



@privacy_app.command("purge", help=tr("cli.help.privacy_purge"))
def privacy_purge() -> None:
    from bot.services.privacy import purge_expired

    async def work(db: Database) -> Any:
        async with UnitOfWork(db) as uow:
            report = await purge_expired(uow, utcnow())
            await uow.commit()
            return report

    r = with_db(work)
    typer.echo(tr("cli.purge.done", submissions=r.submissions_anonymised, residents=r.residents_deleted, messages=r.messages_deleted))


# --- run and demo -------------------------------------------------------------------------


@app.command("run", help=tr("cli.help.run"))
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


@zalo_app.command("oa-tokens", help=tr("cli.help.oa_tokens"))
def zalo_oa_tokens() -> None:
    """Store a new OA access/refresh token pair (prompted, hidden, never an argument), e.g. after the refresh
    chain broke. When standard input is not a terminal, the access token is its first line and the refresh
    token its second. The settings' pair is only used the very first time; after that the database's is."""
    from bot.channels.zalo_oa.api import CHANNEL
    from storage.models import utcnow

    piped = _piped_secrets(2)
    if piped:
        access, refresh = (line.strip() for line in piped)
    else:
        access = typer.prompt(tr("cli.tokens.access"), hide_input=True).strip()
        refresh = typer.prompt(tr("cli.tokens.refresh"), hide_input=True).strip()
    if not access or not refresh:
        fail(tr("cli.tokens.both"))

    async def work(db: Database) -> None:
        async with UnitOfWork(db) as uow:
            await uow.tokens.save(CHANNEL, access, refresh, None, utcnow())
            await uow.commit()

    with_db(work)
    typer.echo(tr("cli.tokens.done"))


@app.command("demo", help=tr("cli.help.demo"))
def demo(
    web: bool = typer.Option(False, "--web", help=tr("cli.help.demo_web")),
    host: str = typer.Option("127.0.0.1", "--host", help=tr("cli.help.demo_host")),
    port: int = typer.Option(8080, "--port", help=tr("cli.help.demo_port")),
) -> None:
    from bot.channels.console import CHANNEL, ConsoleChat, ConsoleTransport
    from bot.conversation.engine import Conversation
    from bot.delivery.sender import Sender
    from bot.text.catalogue import Translator

    tr = Translator("vi")
    plan = parse_plan(resources.files("bot.entrypoints.demo").joinpath("gia-phuc-2026.toml").read_text(encoding="utf-8"))
    shifted = _move_into_future(plan)
    with tempfile.TemporaryDirectory(prefix="doithoai-demo-") as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'demo.db'}"
        upgrade(url)
        if web:
            _demo_web(url, plan, host, port, tr)
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
            await _load(db, plan)
            await work(db)
        finally:
            await db.dispose()

    try:
        asyncio.run(go())
    except KeyboardInterrupt:
        pass


def _demo_web(url: str, plan: Plan, host: str, port: int, tr: Any) -> None:
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


def main() -> None:
    app()
