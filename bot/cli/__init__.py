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

from bot.config import Settings, get_settings
from bot.core.formatting import local, when
from bot.services.plans import Plan, PlanError, load_plan, parse_plan, read_plan
from storage.db import Database
from storage.models import utcnow
from storage.schema import SchemaBehind, ensure_current, upgrade
from storage.uow import UnitOfWork

T = TypeVar("T")

app = typer.Typer(
    help="doithoai: citizen dialogue meetings (hội nghị đối thoại) by chat.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
meeting_app = typer.Typer(help="Meeting plans.", no_args_is_help=True)
submissions_app = typer.Typer(help="Residents' registrations (submissions).", no_args_is_help=True)
answers_app = typer.Typer(help="Answers in bulk, through a spreadsheet.", no_args_is_help=True)
conclusion_app = typer.Typer(help="The conclusion notice (Thông báo kết luận).", no_args_is_help=True)
outbox_app = typer.Typer(help="The delivery queue.", no_args_is_help=True)
privacy_app = typer.Typer(help="Personal data (Law 91/2025/QH15).", no_args_is_help=True)
staff_app = typer.Typer(help="Staff and their roles: admin, secretariat, village_head, department.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log of staff actions.", no_args_is_help=True)
zalo_app = typer.Typer(help="The Zalo Official Account's tokens.", no_args_is_help=True)
for name, sub in (("zalo", zalo_app), ("db", db_app), ("meeting", meeting_app), ("submissions", submissions_app), ("answers", answers_app),
                  ("conclusion", conclusion_app), ("outbox", outbox_app), ("privacy", privacy_app), ("staff", staff_app),
                  ("audit", audit_app)):
    app.add_typer(sub, name=name)


def fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def settings() -> Settings:
    try:
        return get_settings()
    except Exception as exc:  # pydantic's ValidationError names the variable
        fail(f"bad configuration: {exc}")
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
    except SchemaBehind as exc:
        fail(str(exc))
        raise


# --- db ----------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the database migrations (creates the SQLite file on first use)."""
    url = settings().database_url
    try:
        upgrade(url)
    except Exception as exc:
        fail(f"migration failed: {exc}")
    typer.echo("database is up to date")


# --- meeting -----------------------------------------------------------------------------


@meeting_app.command("load")
def meeting_load(plan_file: Path = typer.Argument(..., help="A meeting plan (.toml), like bot/demo/gia-phuc-2026.toml")) -> None:
    """Load or update a meeting plan. A plan with any error writes nothing."""
    try:
        plan = read_plan(plan_file)
    except PlanError as exc:
        _problems(f"{plan_file} is not a valid meeting plan; nothing was written", exc.problems)
    report = with_db(lambda db: _load(db, plan, plan_file.name))
    verb = "created" if report.created else "updated"
    typer.echo(f"meeting {report.meeting_code} {verb}")
    for item in report.kept:
        typer.echo(f"kept {item}: it has submissions, so it is hidden from new registrations instead of deleted")
    if report.notified:
        typer.echo(f"the time or venue changed: {report.notified} registrants will be told "
                   f"({report.notified_messages} messages queued; they are sent by `doithoai run`)")


async def _load(db: Database, plan: Plan, source: str | None = None) -> Any:
    from bot.services.staff import OPERATOR

    async with UnitOfWork(db) as uow:
        report = await load_plan(uow, OPERATOR, plan, source=source)
        await uow.commit()
        return report


@meeting_app.command("list")
def meeting_list(as_json: bool = typer.Option(False, "--json", help="Print a JSON array.")) -> None:
    """List the meetings."""

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
        state = "open" if m["registration_open"] else "closed"
        return f"{m['code']}  {m['starts_at'][:16].replace('T', ' ')}  {m['commune_name']}  registration {state}  {m['title']}"

    show(with_db(work), as_json, line, empty="no meetings yet: load a plan with `doithoai meeting load PLAN.toml`")


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


@submissions_app.command("list")
def submissions_list(
    meeting: Optional[str] = typer.Option(None, "--meeting", help="Only this meeting's code."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array."),
) -> None:
    """List submissions (personal data: handle the output with care)."""

    async def work(db: Database) -> list[dict[str, Any]]:
        async with UnitOfWork(db) as uow:
            if meeting is not None and await uow.meetings.by_code(meeting) is None:
                fail(f"no meeting with code {meeting}")
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
        mode = "speak" if r["wants_to_speak"] else "written"
        return f"{r['ref']}  {r['status']:<9} {mode:<7} {r['village']}  {r['topic']}  {r['name'] or '(anonymised)'}"

    show(with_db(work), as_json, line, empty="no submissions")


# --- answers and the conclusion -----------------------------------------------------------



def _date(value: Optional[str]) -> Optional[date]:
    if value is None:
        return None
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(value.strip(), fmt).date()
        except ValueError:
            pass
    fail(f"--expected-by: {value!r} is not a date (use YYYY-MM-DD or DD/MM/YYYY)")
    raise AssertionError


@app.command("answer")
def answer(
    ref: str = typer.Argument(..., help="The submission's code, e.g. GP-0042"),
    text: Optional[str] = typer.Option(None, "--text", help="The answer, as the resident will read it."),
    by: Optional[str] = typer.Option(None, "--by", help='Who answers, e.g. "Phòng Kinh tế".'),
    forward: Optional[str] = typer.Option(None, "--forward", help='Beyond the commune\'s authority: where it was sent, e.g. "UBND thành phố".'),
    expected_by: Optional[str] = typer.Option(None, "--expected-by", help="With --forward: when the resident can expect news (YYYY-MM-DD)."),
) -> None:
    """Record or change a submission's answer. After the conclusion is published, the resident gets it at once
    (a change is sent as a correction)."""
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
        fail(str(exc))
    sent = "queued to the resident" if meeting.concluded_at else "sent when the conclusion is published"
    typer.echo(f"{submission.ref}: {submission.status} (revision {submission.answer_revision}); {sent}")


@answers_app.command("export")
def answers_export(
    path: Path = typer.Argument(..., help="The .xlsx file to write."),
    meeting: str = typer.Option(..., "--meeting", help="The meeting's code."),
) -> None:
    """Write one row per submission, with the answer columns to fill in Excel."""
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
        _problems(f"cannot export {meeting}", exc.problems)
    typer.echo(f"{count} submissions written to {path}")


@answers_app.command("import")
def answers_import(path: Path = typer.Argument(..., help="A sheet written by `answers export`, with answers filled in.")) -> None:
    """Record the answers in a filled-in sheet. Any invalid row rejects the whole file: nothing half-applied."""
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
        _problems(f"{path} was not imported; nothing was changed", exc.problems)
    typer.echo(
        f"{report.answered} answered, {report.forwarded} forwarded, {report.unchanged} unchanged, "
        f"{report.skipped_empty} rows without an answer yet"
    )


def _problems(head: str, problems: list[str]) -> None:
    typer.echo(f"error: {head}:", err=True)
    for problem in problems:
        typer.echo(f"  - {problem}", err=True)
    raise typer.Exit(1)


@conclusion_app.command("publish")
def conclusion_publish(
    meeting: str = typer.Option(..., "--meeting", help="The meeting's code."),
    summary_file: Optional[Path] = typer.Option(None, "--summary-file", help="A text file: the conclusion's summary, sent to every registrant."),
    document: Optional[Path] = typer.Option(None, "--document", help="The conclusion notice as a PDF, sent to every registrant."),
    allow_unanswered: bool = typer.Option(False, "--allow-unanswered", help="Publish even though some questions have no answer yet."),
    force: bool = typer.Option(False, "--force", help="Publish before the meeting has ended (residents get answers to a meeting not yet held)."),
) -> None:
    """Publish the conclusion: every submitter gets the answer to their own question, once. Refused before the meeting ends unless --force."""
    from bot.services.answers import AnswerError, NotOver, Unanswered, publish_conclusion
    from bot.services.staff import OPERATOR

    summary = _read_text(summary_file) if summary_file else None
    doc = None
    if document is not None:
        try:
            data = document.read_bytes()
        except OSError as exc:
            fail(f"cannot read {document}: {exc.strerror}")
        if not data.startswith(b"%PDF"):
            fail(f"{document} is not a PDF")
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
        fail(f"{len(exc.refs)} submissions have no answer yet: {', '.join(exc.refs)} (answer them, or use --allow-unanswered)")
    except NotOver as exc:
        fail(f"{exc}: nothing was published (after the meeting, or with --force, which sends residents answers before it is held)")
    except AnswerError as exc:
        fail(str(exc))
    again = " (already published: only what was new is sent)" if r.already_published else ""
    typer.echo(f"conclusion of {r.meeting_code} published{again}: {r.answers_queued} answers queued, {r.summaries_queued} summaries queued")
    if r.still_pending:
        typer.echo(f"still being handled (residents told so; the answer goes out when recorded): {', '.join(r.still_pending)}")
    typer.echo("messages are sent by `doithoai run`")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {path} as UTF-8 text: {exc}")
        raise


@app.command("announce")
def announce(
    meeting: str = typer.Option(..., "--meeting", help="The meeting's code."),
    text: Optional[str] = typer.Option(None, "--text", help="A few words added to the notice."),
) -> None:
    """Send the meeting notice (time, place, agenda, map pin, calendar file) to the invited villages and every registrant.
    The same notice is sent once; a different --text is a new notice."""
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
        fail(str(exc))
    typer.echo(f"notice queued to {queued.residents} residents ({queued.messages} messages); messages are sent by `doithoai run`")


@outbox_app.command("status")
def outbox_status(as_json: bool = typer.Option(False, "--json", help="Print a JSON array.")) -> None:
    """Messages by state (queued, sent, failed, unreachable), per meeting and kind."""

    from bot.services.queue import queue_counts
    from bot.services.staff import OPERATOR

    async def work(db: Database) -> list[dict[str, Any]]:
        async with UnitOfWork(db, readonly=True) as uow:
            return [
                {"meeting": meeting, "kind": kind, "state": STATE_NAMES.get(status, status), "count": count}
                for meeting, kind, status, count in await queue_counts(uow, OPERATOR)
            ]

    def line(r: dict[str, Any]) -> str:
        return f"{r['meeting'] or '-':<12} {r['kind']:<10} {r['state']:<12} {r['count']}"

    show(with_db(work), as_json, line, empty="the queue is empty")


STATE_NAMES = {"pending": "queued"}


@outbox_app.command("retry")
def outbox_retry(failed: bool = typer.Option(False, "--failed", help="Queue the failed messages again.")) -> None:
    """Queue failed messages again (after fixing what made them fail)."""
    if not failed:
        fail("say what to retry: --failed")

    async def work(db: Database) -> int:
        async with UnitOfWork(db) as uow:
            count = await uow.outbox.requeue_failed()
            await uow.commit()
            return count

    typer.echo(f"{with_db(work)} failed messages queued again")


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
        fail(str(exc))
        raise


@staff_app.command("add")
def staff_add(
    role: str = typer.Option(..., "--role", help="admin, secretariat, village_head or department."),
    village: list[str] = typer.Option([], "--village", help="A village a village_head serves (repeat for several)."),
    department: Optional[str] = typer.Option(None, "--department", help="The answering office, for the department role."),
    telegram_id: Optional[str] = typer.Option(None, "--telegram-id", help="Their numeric Telegram user id (for the bot's staff commands)."),
    login: Optional[str] = typer.Option(None, "--login", help="Their web console login (set the password with `doithoai staff password`)."),
    name: Optional[str] = typer.Option(None, "--name", help="How they are shown; defaults to the department, login or Telegram id."),
    commune: Optional[str] = typer.Option(
        None, "--commune", help="The code of the only commune they work for (a village head's: that of their villages). "
        "Without it, they see every commune of the deployment.",
    ),
) -> None:
    """Add a staff member. Recorded in the audit log."""
    from bot.services.staff import OPERATOR, add_staff

    shown = name or department or login or (f"Telegram {telegram_id}" if telegram_id else None)
    if shown is None:
        fail("give at least one of --name, --login, --telegram-id or --department")
    staff = _staff_call(lambda uow: add_staff(uow, name=shown, role=role, villages=village, department=department,
                                               telegram_id=telegram_id, login=login, commune=commune, actor=OPERATOR, now=utcnow()))
    typer.echo(f"staff {staff.id} added: {staff.name} ({staff.role})")


@staff_app.command("list")
def staff_list(as_json: bool = typer.Option(False, "--json", help="Print a JSON array.")) -> None:
    """List staff with their roles, villages and departments."""
    from bot.services.staff import describe

    async def work(db: Database) -> list[dict[str, Any]]:
        async with UnitOfWork(db, readonly=True) as uow:
            return [describe(s, await uow.staff.village_names(s.id)) for s in await uow.staff.all()]  # type: ignore[arg-type]

    def line(r: dict[str, Any]) -> str:
        where = ", ".join(r["villages"]) or r["department"] or ""
        return f"{r['id']:>4}  {r['role']:<12} {r['name']:<24} {where}  login={r['login'] or '-'} telegram={r['telegram_id'] or '-'}"

    show(with_db(work), as_json, line, empty="no staff yet: add one with `doithoai staff add`")


@staff_app.command("remove")
def staff_remove(ident: str = typer.Argument(..., help="The staff member's id, login or Telegram id.")) -> None:
    """Remove a staff member. Recorded in the audit log."""
    from bot.services.staff import OPERATOR, remove_staff

    staff = _staff_call(lambda uow: remove_staff(uow, ident, actor=OPERATOR, now=utcnow()))
    typer.echo(f"staff {staff.id} removed: {staff.name}")


def _piped_secrets(count: int) -> list[str] | None:
    """The first `count` lines of standard input when it is not a terminal (as `passwd --stdin`), else
    None: hidden prompts read the controlling terminal, so a script piping secrets from a terminal would hang."""
    if sys.stdin is None or sys.stdin.isatty():
        return None
    return [sys.stdin.readline().rstrip("\r\n") for _ in range(count)]


@staff_app.command("password")
def staff_password(login: str = typer.Argument(..., help="The web console login.")) -> None:
    """Set a web login's password. It is asked for (twice, hidden), never given as an argument, and stored
    as an Argon2 hash. When standard input is not a terminal, the password is its first line instead
    (`printf '%s\\n' "$PW" | doithoai staff password LOGIN`)."""
    from bot.services.staff import OPERATOR, set_password

    piped = _piped_secrets(1)
    password = piped[0] if piped else typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    _staff_call(lambda uow: set_password(uow, login, password, actor=OPERATOR, now=utcnow()))
    typer.echo(f"password set for {login}")


@audit_app.command("list")
def audit_list(
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array."),
    limit: int = typer.Option(100, "--limit", min=1, help="The newest N entries."),
) -> None:
    """Who did what, when, with the values before and after (newest first)."""

    async def work(db: Database) -> list[dict[str, Any]]:
        async with UnitOfWork(db, readonly=True) as uow:
            return [
                {"at": e.at.isoformat(), "actor": e.actor, "action": e.action, "target": e.target, "before": e.before, "after": e.after}
                for e in await uow.staff.audit_log(limit)
            ]

    def line(r: dict[str, Any]) -> str:
        return f"{r['at'][:19].replace('T', ' ')}  {r['actor']:<28} {r['action']:<18} {r['target']}"

    show(with_db(work), as_json, line, empty="the audit log is empty")


@app.command("web")
def web(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (put a TLS reverse proxy in front for others)."),
    port: int = typer.Option(8080, "--port", help="Port to listen on."),
) -> None:
    """Serve the secretariat's web console (log in with a staff login; see `doithoai staff password`)."""
    from bot.web.app import serve

    s = settings()
    try:
        with_db(lambda db: asyncio.sleep(0))  # refuse an old schema before serving anything
        serve(s, host, port)
    except SchemaBehind as exc:
        fail(str(exc))


@app.command("posters")
def posters(
    path: Path = typer.Argument(..., help="The PDF to write."),
    meeting: str = typer.Option(..., "--meeting", help="The meeting's code."),
    bot_username: Optional[str] = typer.Option(None, "--bot-username", help="The bot's Telegram username; asked of Telegram (getMe) when not given."),
    zalo_link: Optional[str] = typer.Option(
        None, "--zalo-link",
        help="The commune's Zalo address (the OA's or the Zalo bot's, e.g. https://zalo.me/123456789): adds a second QR code. "
        "{village_id} in it, if your Zalo setup can carry it, becomes each village's id.",
    ),
) -> None:
    """One printable A4 poster per invited village: the meeting card and a QR code opening the bot with that village chosen."""
    from bot.services.posters import PosterError, render_posters

    username = bot_username or _bot_username(_meeting_commune(meeting))

    async def work(db: Database) -> bytes:
        async with UnitOfWork(db, readonly=True) as uow:
            return await render_posters(uow, meeting, telegram_username=username, zalo_link=zalo_link)

    try:
        pdf = with_db(work)
    except PosterError as exc:
        fail(str(exc))
    path.write_bytes(pdf)
    typer.echo(f"posters written to {path}")


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
    from bot.config import CommunesFileError

    s = settings()
    try:
        own = s.commune_credentials().get(commune or "")
    except CommunesFileError as exc:
        fail(str(exc))
        raise
    if own is not None:
        token, where = own.telegram_token, f"telegram_token under [{commune}] in DOITHOAI_COMMUNES_FILE"
    elif s.commune is None or commune is None or commune == s.commune:
        token, where = s.telegram_token, "DOITHOAI_TELEGRAM_TOKEN"
    else:
        token, where = None, f"telegram_token under [{commune}] in DOITHOAI_COMMUNES_FILE"
    if token is None:
        fail(f"give --bot-username, or set {where} so it can be asked of Telegram")

    async def ask() -> str:
        bot = make_bot(token.get_secret_value(), s.telegram_api_url)  # type: ignore[union-attr]
        try:
            return (await bot.get_me()).username or ""
        finally:
            await bot.session.close()

    try:
        return asyncio.run(ask())
    except Exception as exc:
        fail(f"could not ask Telegram for the bot's username ({type(exc).__name__}); give --bot-username")
        raise


# --- backup -------------------------------------------------------------------------------


@app.command("backup")
def backup(
    path: Path = typer.Argument(..., help="The backup file to write (readable by its owner only: it holds personal data)."),
    force: bool = typer.Option(False, "--force", help="Replace PATH if it exists."),
) -> None:
    """Back up the whole database to one file, while the bot keeps running.

    SQLite: a consistent copy, made with SQLite's online backup.

    PostgreSQL: a pg_dump custom-format archive (needs pg_dump of the server's major version or newer).

    A database whose schema is behind the code can be backed up: do it before `doithoai db upgrade`."""
    from storage.backup import BackupError, human_size
    from storage.backup import backup as backup_database

    url = settings().database_url
    try:
        made = asyncio.run(backup_database(url, path, force=force))
    except BackupError as exc:
        fail(str(exc))
        raise
    typer.echo(f"wrote {made.path} ({human_size(made.size)}): {made.kind_name} backup at schema revision {made.revision}")


@app.command("restore")
def restore(
    path: Path = typer.Argument(..., help="A file written by `doithoai backup`."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Replace ALL data in the configured database with a backup made by `doithoai backup`: all or nothing.

    Stop `doithoai run` and `doithoai web` first: a database in use is refused.

    The backup must be of the same kind as the database, SQLite or PostgreSQL, and is checked before anything changes.

    PostgreSQL: needs pg_restore; the database must exist, empty or holding no table the backup lacks.

    A backup older than the code is restored as it is: then run `doithoai db upgrade`."""
    from storage.backup import BackupError, check_restore, describe, human_size
    from storage.backup import restore as restore_database

    url = settings().database_url
    try:
        if not yes:  # the checks come before the question (restore repeats them)
            found = asyncio.run(check_restore(url, path))
            typer.confirm(
                f"Replace ALL data in {describe(url)} with {path} ({found.kind_name} backup at schema revision "
                f"{found.revision}, {human_size(found.size)})?",
                abort=True,
            )
        done = asyncio.run(restore_database(url, path))
    except BackupError as exc:
        fail(str(exc))
        raise
    typer.echo(f"restored {path} into {describe(url)}: schema revision {done.revision}")
    if done.behind:
        typer.echo(f"the backup's schema (revision {done.revision}) is older than this code's ({done.head}): "
                   "run `doithoai db upgrade` before starting the bot")


# --- privacy ------------------------------------------------------------------------------



@privacy_app.command("purge")
def privacy_purge() -> None:
    """Anonymise submissions of meetings that ended over 12 months ago, delete residents with
    nothing left to receive, and drop delivered messages older than 30 days. Run it daily (cron)."""
    from bot.services.privacy import purge_expired

    async def work(db: Database) -> Any:
        async with UnitOfWork(db) as uow:
            report = await purge_expired(uow, utcnow())
            await uow.commit()
            return report

    r = with_db(work)
    typer.echo(f"anonymised {r.submissions_anonymised} submissions, deleted {r.residents_deleted} residents and {r.messages_deleted} delivered messages")


# --- run and demo -------------------------------------------------------------------------


@app.command("run")
def run(
    webhook: bool = typer.Option(False, "--webhook", help="Serve webhooks (/webhook/telegram, /webhook/zalo, /webhook/zalo-oa; a further commune's bots: /webhook/telegram/CODE…) instead of polling."),
    host: Optional[str] = typer.Option(None, help="Webhook listen address (default: DOITHOAI_WEBHOOK_HOST)."),
    port: Optional[int] = typer.Option(None, help="Webhook listen port (default: DOITHOAI_WEBHOOK_PORT)."),
    workers: int = typer.Option(1, "--workers", min=1, help="Worker processes sharing the webhook port (with --webhook, on PostgreSQL)."),
) -> None:
    """Start every bot that has credentials (Telegram, Zalo bot, Zalo OA; the DOITHOAI_ settings'
    own and each commune's in DOITHOAI_COMMUNES_FILE).

    Without --webhook, Telegram and the Zalo bot long-poll; the Zalo OA, which has no polling,
    gets its webhook listener whenever it is configured. With --workers N, N processes serve the
    webhooks and share the work through the database. Ctrl-C or SIGTERM stops after the updates
    in hand.
    """
    from bot.app import NoChannel, check, configure_logging, run_bot

    s = settings()
    configure_logging(s.log_level)
    try:
        check(s, webhook, workers)
        if workers > 1:
            from bot.workers import supervise

            supervise(s, host or s.webhook_host, port or s.webhook_port, workers)
        else:
            asyncio.run(run_bot(s, webhook=webhook, host=host, port=port))
    except (SchemaBehind, NoChannel) as exc:
        fail(str(exc))


@zalo_app.command("oa-tokens")
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
        access = typer.prompt("Access token", hide_input=True).strip()
        refresh = typer.prompt("Refresh token", hide_input=True).strip()
    if not access or not refresh:
        fail("both tokens are needed")

    async def work(db: Database) -> None:
        async with UnitOfWork(db) as uow:
            await uow.tokens.save(CHANNEL, access, refresh, None, utcnow())
            await uow.commit()

    with_db(work)
    typer.echo("Zalo OA tokens stored; a running `doithoai run` picks them up at its next refresh or restart")


@app.command("demo")
def demo(
    web: bool = typer.Option(False, "--web", help="Serve the web console instead, with a dozen sample questions in every state "
                             "and a staff login printed here."),
    host: str = typer.Option("127.0.0.1", "--host", help="With --web: address to listen on."),
    port: int = typer.Option(8080, "--port", help="With --web: port to listen on."),
) -> None:
    """Chat with the bot in this terminal (or, with --web, browse the console), on a throw-away database with the example plan."""
    from bot.channels.console import CHANNEL, ConsoleChat, ConsoleTransport
    from bot.core.conversation import Conversation
    from bot.delivery.sender import Sender
    from bot.i18n import Translator

    tr = Translator("vi")
    plan = parse_plan(resources.files("bot.demo").joinpath("gia-phuc-2026.toml").read_text(encoding="utf-8"))
    shifted = _move_into_future(plan)
    with tempfile.TemporaryDirectory(prefix="doithoai-demo-") as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'demo.db'}"
        upgrade(url)
        if web:
            _demo_web(url, plan, host, port, tr)
            return

        async def go() -> None:
            db = Database(url)
            try:
                await _load(db, plan)
                transport = ConsoleTransport(sys.stdout, tr)
                chat = ConsoleChat(Conversation(db), Sender(db, {CHANNEL: transport}), transport, input)
                typer.echo(tr("demo.banner"))
                if shifted:
                    tz = plan.commune.timezone
                    typer.echo(tr("demo.shifted", start=when(plan.meeting.starts_at, tz, tr), deadline=when(plan.meeting.registration_closes_at, tz, tr)))
                await chat.send("/start")
                await chat.run()
            finally:
                await db.dispose()

        try:
            asyncio.run(go())
        except KeyboardInterrupt:
            pass
    typer.echo("\n" + tr("demo.bye"))


def _demo_web(url: str, plan: Plan, host: str, port: int, tr: Any) -> None:
    import secrets

    import uvicorn

    from bot.demo.sample import fill
    from bot.web.app import create_app

    async def go() -> None:
        db = Database(url)
        try:
            await _load(db, plan)
            login, password = await fill(db, utcnow())
            app = create_app(db, secret_key=secrets.token_urlsafe(32))
            server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, access_log=False, log_level="warning"))
            typer.echo(tr("demo.web", url=f"http://{host}:{port}/", login=login, password=password))
            await server.serve()
        finally:
            await db.dispose()

    try:
        asyncio.run(go())
    except KeyboardInterrupt:
        pass
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
