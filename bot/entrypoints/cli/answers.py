"""`doithoai submissions list`, `doithoai answer`, `doithoai answers export|import` and
`doithoai conclusion publish`: what residents asked, and what the commune answers them."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, Optional

import typer

from bot.domain.errors import file_problem
from bot.domain.submissions import STATUSES
from bot.entrypoints.cli.common import as_operator, fail, fail_with_problems, show, tr
from bot.services.staff import Actor
from bot.text.formatting import parse_day
from storage.models import Meeting, Submission, utcnow
from storage.uow import UnitOfWork

submissions_group = typer.Typer(help=tr("cli.help.submissions"), no_args_is_help=True)
answers_group = typer.Typer(help=tr("cli.help.answers"), no_args_is_help=True)
conclusion_group = typer.Typer(help=tr("cli.help.conclusion"), no_args_is_help=True)
commands = typer.Typer()  # at the root: `doithoai answer`


def status_word(status: str) -> str:
    """A status in the operator's words; one this version does not know is shown as stored."""
    return tr(f"cli.status.{status}") if status in STATUSES else status


@submissions_group.command("list", help=tr("cli.help.submissions_list"))
def submissions_list(
    meeting: Optional[str] = typer.Option(None, "--meeting", help=tr("cli.help.only_meeting")),
    as_json: bool = typer.Option(False, "--json", help=tr("cli.help.json")),
) -> None:
    from bot.services.answers import AnswerError
    from bot.services.secretariat import listing

    def line(r: dict[str, Any]) -> str:
        mode = tr("cli.submission.speak" if r["wants_to_speak"] else "cli.submission.written")
        status = status_word(r["status"])
        return f"{r['ref']}  {status:<12} {mode:<10} {r['village']}  {r['topic']}  {r['name'] or tr('cli.submission.anonymised')}"

    rows = as_operator(lambda uow, actor: listing(uow, actor, meeting), refused=AnswerError, readonly=True)
    show(rows, as_json, line, empty=tr("cli.submission.none"))


@submissions_group.command("close-followup", help=tr("cli.help.close_followup"))
def close_followup(ref: str = typer.Argument(..., help=tr("cli.help.ref"))) -> None:
    from bot.services.answers import AnswerError
    from bot.services.followup import close_followup as close

    done = as_operator(lambda uow, actor: close(uow, actor, ref, now=utcnow()), refused=AnswerError)
    typer.echo(tr("web.followup.closed", ref=done.ref))


def _date(value: Optional[str]) -> Optional[date]:
    if value is None:
        return None
    day = parse_day(value)
    if day is None:
        fail(tr("cli.answer.bad_date", value=value))
    return day


@commands.command("answer", help=tr("cli.help.answer"))
def answer(
    ref: str = typer.Argument(..., help=tr("cli.help.ref")),
    text: Optional[str] = typer.Option(None, "--text", help=tr("cli.help.answer_text")),
    by: Optional[str] = typer.Option(None, "--by", help=tr("cli.help.answer_by")),
    forward: Optional[str] = typer.Option(None, "--forward", help=tr("cli.help.answer_forward")),
    expected_by: Optional[str] = typer.Option(None, "--expected-by", help=tr("cli.help.answer_expected_by")),
    attach: Optional[list[Path]] = typer.Option(None, "--attach", help=tr("cli.help.answer_attach")),
    no_files: bool = typer.Option(False, "--no-files", help=tr("cli.help.answer_no_files")),
) -> None:
    from bot.services.answers import AnswerError
    from bot.services.secretariat import answer as answer_submission

    when_ = _date(expected_by)
    files = [] if no_files else ([_read_attachment(path) for path in attach] if attach else None)

    async def answered(uow: UnitOfWork, actor: Actor) -> tuple[Submission, Meeting | None]:
        submission = await answer_submission(uow, actor, ref, text=text, by=by, forward_to=forward, expected_by=when_, now=utcnow(),
                                             files=files)
        # Read only to word the result: the service has queued the answer if the conclusion is out.
        return submission, await uow.meetings.get(submission.meeting_id)

    submission, meeting = as_operator(answered, refused=AnswerError)
    sent = tr("cli.answer.queued" if meeting is not None and meeting.concluded_at else "cli.answer.later")
    typer.echo(tr("cli.answer.done", ref=submission.ref, status=status_word(submission.status), revision=submission.answer_revision,
                  sent=sent))


@answers_group.command("export", help=tr("cli.help.answers_export"))
def answers_export(
    path: Path = typer.Argument(..., help=tr("cli.help.xlsx_out")),
    meeting: str = typer.Option(..., "--meeting", help=tr("cli.help.meeting")),
) -> None:
    from bot.services.exports.spreadsheet import SpreadsheetError, export_answers

    try:  # the export is audited, hence committed
        count = as_operator(lambda uow, actor: export_answers(uow, actor, meeting, path))
    except SpreadsheetError as exc:
        fail_with_problems(tr("cli.export.failed", code=meeting), exc.problems)
    typer.echo(tr("cli.export.done", count=count, path=path))


@answers_group.command("import", help=tr("cli.help.answers_import"))
def answers_import(
    path: Path = typer.Argument(..., help=tr("cli.help.xlsx_in")),
    files: Optional[Path] = typer.Option(None, "--files", help=tr("cli.help.answers_files")),
) -> None:
    from bot.services.exports.spreadsheet import SpreadsheetError, import_answers

    try:
        report = as_operator(lambda uow, actor: import_answers(uow, actor, path, now=utcnow(), files_dir=files))
    except SpreadsheetError as exc:
        fail_with_problems(tr("cli.import.failed", path=path), exc.problems)
    typer.echo(tr("cli.import.done", answered=report.answered, forwarded=report.forwarded, unchanged=report.unchanged,
                  empty=report.skipped_empty))


@conclusion_group.command("publish", help=tr("cli.help.conclusion_publish"))
def conclusion_publish(
    meeting: str = typer.Option(..., "--meeting", help=tr("cli.help.meeting")),
    summary_file: Optional[Path] = typer.Option(None, "--summary-file", help=tr("cli.help.summary_file")),
    document: Optional[Path] = typer.Option(None, "--document", help=tr("cli.help.document")),
    allow_unanswered: bool = typer.Option(False, "--allow-unanswered", help=tr("cli.help.allow_unanswered")),
    force: bool = typer.Option(False, "--force", help=tr("cli.help.publish_force")),
) -> None:
    from bot.services.answers import AnswerError, NotOver, Unanswered, publish_conclusion

    summary = _read_text(summary_file) if summary_file else None
    doc = _read_pdf(document) if document is not None else None
    try:
        r = as_operator(lambda uow, actor: publish_conclusion(uow, actor, meeting, now=utcnow(), summary=summary, document=doc,
                                                             allow_unanswered=allow_unanswered, force=force))
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


@conclusion_group.command("draft", help=tr("cli.help.conclusion_draft"))
def conclusion_draft(
    path: Path = typer.Argument(..., help=tr("cli.help.minutes_out")),
    meeting: str = typer.Option(..., "--meeting", help=tr("cli.help.meeting")),
    template: Optional[Path] = typer.Option(None, "--template", help=tr("cli.help.minutes_template")),
) -> None:
    from bot.entrypoints.cli.record import make_document
    from bot.services.exports.record import CONCLUSION, build_conclusion_draft

    built = make_document(path, meeting, template, CONCLUSION, build_conclusion_draft)
    typer.echo(tr("draft.cli_done", code=built.code, path=path, questions=built.questions, topics=built.topics))


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        fail(file_problem(exc, path).text(tr))
    except UnicodeDecodeError:
        fail(tr("problem.file.not_utf8", path=path))


def _read_attachment(path: Path) -> tuple[str, bytes]:
    """A file to send with the answer, as (name, bytes): read to one byte past the limit, which is
    enough for the service to refuse it by name."""
    from bot.services.answers import ANSWER_FILE_MAX_BYTES

    try:
        with path.open("rb") as f:
            return path.name, f.read(ANSWER_FILE_MAX_BYTES + 1)
    except OSError as exc:
        fail(file_problem(exc, path).text(tr))


def _read_pdf(path: Path) -> tuple[str, bytes]:
    """The conclusion's document as (file name, bytes), refused unless it is a PDF."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        fail(file_problem(exc, path).text(tr))
    if not data.startswith(b"%PDF"):
        fail(tr("cli.publish.not_pdf", path=path))
    return path.name, data
