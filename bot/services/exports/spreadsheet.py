"""Answers in Excel: export a meeting's submissions to an .xlsx, import the answers staff filled in.

Commune staff prepare answers in a spreadsheet, passed between departments. The export is the
meeting's whole record (withdrawn questions included, marked by their status); the import reads
only the answer columns and records each answer through `record_answer`, the one way an answer
is recorded. An import is all or nothing: every row is checked first and, if any row is wrong,
every problem is reported (by the row number Excel shows) and nothing is recorded.

Every text in the sheet and in the problems comes from the catalogues (keys `sheet.*`), in the
language asked for: Vietnamese unless told otherwise, since commune staff read Vietnamese. The
import recognises the column headers in every catalogue's wording.
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zipfile import BadZipFile

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.worksheet.worksheet import Worksheet

from bot.domain.errors import file_problem
from bot.domain.media import ANSWER, PHOTO, VOICE, duration
from bot.domain.submissions import Status
from bot.domain.validation import first_refused, printable
from bot.services.access import run_meeting
from bot.services.answers import ANSWER_FILE_MAX_BYTES, AnswerError, AnswerFile, answer_files, current_files, record_answer
from bot.services.secretariat import Forbidden, visible
from bot.services.staff import DEPARTMENT, Actor, audit
from bot.text.catalogue import LANGUAGES, Translator
from bot.text.formatting import parse_day
from storage.models import Submission, utcnow
from storage.repositories import SubmissionRow
from storage.uow import UnitOfWork, commits


class SpreadsheetError(ValueError):
    """A sheet that cannot be exported or imported; `problems` are for staff, in the language asked for."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class SheetColumn:
    key: str
    message: str  # the header's catalogue key
    width: float
    wrap: bool = False
    # Staff fill these in; the import reads nothing else but the code.
    answer: bool = False

    def header(self, tr: Translator) -> str:
        return tr(self.message)


# The one column list: the export writes it, the import looks its headers up. Order is the export's.
COLUMNS: tuple[SheetColumn, ...] = (
    SheetColumn("ref", "sheet.col.ref", 11),
    SheetColumn("village", "sheet.col.village", 18),
    SheetColumn("topic", "sheet.col.topic", 26, wrap=True),
    SheetColumn("name", "sheet.col.name", 22),
    SheetColumn("question", "sheet.col.question", 60, wrap=True),
    SheetColumn("mode", "sheet.col.mode", 22),
    SheetColumn("status", "sheet.col.status", 14),
    SheetColumn("answer", "sheet.col.answer", 60, wrap=True, answer=True),
    SheetColumn("answered_by", "sheet.col.answered_by", 24, wrap=True, answer=True),
    SheetColumn("forwarded_to", "sheet.col.forwarded_to", 24, wrap=True, answer=True),
    SheetColumn("expected_by", "sheet.col.expected_by", 13, answer=True),
    # The answer's files by name ("a.pdf; b.png"); optional on import, where the names are looked up
    # in the folder given (`answers import --files DIR`) or among the answer's current files.
    SheetColumn("files", "sheet.col.files", 30, wrap=True),
    # What the resident sent besides text ("🎙 0:42; 📷 2"): listened to and looked at in the console.
    SheetColumn("media", "sheet.col.media", 18),
)
_BY_KEY = {c.key: c for c in COLUMNS}
FILE_SEPARATOR = "; "
_ANSWER_KEYS = tuple(c.key for c in COLUMNS if c.answer)
# Without every answer column, an import would read a missing one as empty and erase what is stored.
_REQUIRED_FOR_IMPORT = ("ref", *_ANSWER_KEYS)

# Status → its label's catalogue key; a status without one is shown as stored.
STATUS_LABELS = {
    Status.RECEIVED: "sheet.status.received",
    Status.ANSWERED: "sheet.status.answered",
    Status.FORWARDED: "sheet.status.forwarded",
    Status.WITHDRAWN: "sheet.status.withdrawn",
}
SPEAK, WRITTEN = "sheet.mode.speak", "sheet.mode.written"
DATE_FORMAT = "dd/mm/yyyy"
# String(200) columns in storage.models: PostgreSQL would refuse longer values at commit.
_MAX_NAME = 200

_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="D9E1F2")
# A different header colour shows staff which columns are theirs to fill.
_ANSWER_HEADER_FILL = PatternFill("solid", fgColor="FFF2CC")
_SHEET_TITLE_FORBIDDEN = re.compile(r"[\\/?*\[\]:]")


@dataclass
class ImportReport:
    answered: int = 0
    forwarded: int = 0
    unchanged: int = 0
    skipped_empty: int = 0


# ---------------------------------------------------------------- export


@commits
async def export_answers(
    uow: UnitOfWork, actor: Actor, meeting_code: str, path: Path, *, lang: str = "vi", now: datetime | None = None
) -> int:
    """Write the meeting's submissions, one row each, to `path`; returns how many rows were written.

    Only for those who run the meeting's commune (residents' names and questions leave the
    system here); who took them out is audited. Commits. Headers, statuses and
    problems are in `lang`.
    """
    tr = Translator(lang)
    meeting = await run_meeting(uow, actor, meeting_code)
    if meeting is None:
        raise SpreadsheetError([tr("sheet.error.unknown_meeting", code=meeting_code)])
    rows = await uow.submissions.listing(meeting.code)

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = _sheet_title(meeting.code)
    wb.properties.title = printable(f"{meeting.code} — {meeting.title}")
    wb.properties.creator = "doithoai"

    for col, column in enumerate(COLUMNS, start=1):
        cell = ws.cell(row=1, column=col, value=column.header(tr))
        cell.font = _HEADER_FONT
        cell.fill = _ANSWER_HEADER_FILL if column.answer or column.key == "files" else _HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="center")
        ws.column_dimensions[get_column_letter(col)].width = column.width

    names: dict[int, list[str]] = {}
    voices: dict[int, int | None] = {}
    photos: Counter[int] = Counter()
    for f in await uow.files.of([row.submission.id for row in rows]):  # type: ignore[misc]
        if f.role == ANSWER:
            names.setdefault(f.submission_id, []).append(f.filename)
        elif f.role == VOICE:
            voices[f.submission_id] = f.seconds
        elif f.role == PHOTO:
            photos[f.submission_id] += 1

    def sent(sid: int) -> str | None:
        said = [tr("sheet.media.voice", length=duration(voices[sid]))] if sid in voices else []
        return FILE_SEPARATOR.join(said + ([tr("sheet.media.photos", count=photos[sid])] if photos[sid] else [])) or None

    for r, row in enumerate(rows, start=2):
        sid = row.submission.id
        values = _export_values(row, tr) | {"files": FILE_SEPARATOR.join(names.get(sid, [])) or None,  # type: ignore[arg-type]
                                            "media": sent(sid)}  # type: ignore[arg-type]
        for col, column in enumerate(COLUMNS, start=1):
            _write(ws, r, col, column, values[column.key])

    last_row = max(len(rows) + 1, 2)  # the filter keeps a data row even on an empty sheet
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(COLUMNS))}{last_row}"
    ws.print_title_rows = "1:1"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True

    await asyncio.to_thread(wb.save, path)
    await audit(uow, actor, "meeting.export_answers", f"meeting {meeting.code}", after={"rows": len(rows)}, now=now or utcnow())
    return len(rows)


def _export_values(row: SubmissionRow, tr: Translator) -> dict[str, Any]:
    s = row.submission
    return {
        "ref": s.ref,
        "village": row.village,
        "topic": row.topic,
        "name": None if s.anonymised else s.name,
        "question": s.question,
        "mode": tr(SPEAK if s.wants_to_speak else WRITTEN),
        "status": tr(STATUS_LABELS[s.status]) if s.status in STATUS_LABELS else s.status,
        "answer": s.answer,
        "answered_by": s.answered_by,
        "forwarded_to": s.forwarded_to,
        "expected_by": s.expected_by,
    }


def _write(ws: Worksheet, row: int, col: int, column: SheetColumn, value: Any) -> None:
    if isinstance(value, str):
        # Rows stored before the doors were cleaned may hold control characters, which openpyxl refuses.
        value = printable(value)
    cell = ws.cell(row=row, column=col, value=value)
    if isinstance(value, str) and cell.data_type == "f":
        # A question starting with "=" is text a resident typed, never a formula for Excel to run.
        cell.data_type = "s"
    cell.alignment = Alignment(wrap_text=column.wrap, vertical="top")
    if column.key == "expected_by":
        # Set on empty cells too, so a date staff type in later shows the same way.
        cell.number_format = DATE_FORMAT


def _sheet_title(code: str) -> str:
    return _SHEET_TITLE_FORBIDDEN.sub("-", code)[:31] or "Sheet"


# ---------------------------------------------------------------- import


@dataclass(frozen=True)
class _Row:
    number: int  # as Excel shows it
    ref: str
    text: str | None
    by: str | None
    forward_to: str | None
    expected_by: date | None
    files: list[AnswerFile] | None = None  # None: the answer keeps its files


@commits
async def import_answers(
    uow: UnitOfWork, actor: Actor, path: Path, *, now: datetime, lang: str = "vi", files_dir: Path | None = None,
) -> ImportReport:
    """Record the answers filled in a sheet; all or nothing; audited. Commits.

    A row whose answer columns are all empty is skipped: an import never erases an answer.
    Columns are found by their header, in any catalogue's wording, so reordered or extra columns
    do no harm. A code the actor may not answer (another commune's; for a department, one not
    assigned to it) is reported as unknown. Problems are reported in `lang`.
    """
    if not (actor.may_run_meetings() or actor.role == DEPARTMENT):
        raise Forbidden("answers")
    tr = Translator(lang)
    sheet = await asyncio.to_thread(_read_sheet, Path(path), tr)
    report = ImportReport()
    problems: list[str] = []
    todo: list[_Row] = []
    first_seen: dict[str, int] = {}
    for number, cells in sheet:
        ref = (_text(cells["ref"]) or "").upper()
        empty = all(_text(cells[key]) is None for key in _ANSWER_KEYS)
        if not ref and empty:
            continue  # a blank line
        found: list[str] = []
        if ref in first_seen:
            found.append(tr("sheet.error.duplicate_code", ref=ref, first=first_seen[ref]))
        elif ref:
            first_seen[ref] = number
        if empty:
            report.skipped_empty += 1
        else:
            row = await _check(uow, actor, number, ref, cells, found, tr, files_dir)
            if not found:
                if row is None:
                    report.unchanged += 1
                else:
                    todo.append(row)
        problems += [tr("sheet.error.row", row=number, problem=p) for p in found]

    if problems:
        raise SpreadsheetError(problems)

    # Everything was checked above; the savepoint is for a rule of record_answer's not mirrored
    # here, so that even then the caller's session holds none of this file's answers.
    async with uow.session.begin_nested():
        for row in todo:
            await _apply(uow, row, now, report, tr)
    await audit(uow, actor, "answers.import", Path(path).name,
                after={"answered": report.answered, "forwarded": report.forwarded, "unchanged": report.unchanged}, now=now)
    return report


async def _answerable(uow: UnitOfWork, actor: Actor, ref: str) -> Submission | None:
    try:
        return await visible(uow, actor, ref)
    except (AnswerError, Forbidden):  # no such code, another commune's, or (a department) assigned elsewhere
        return None


async def _check(
    uow: UnitOfWork, actor: Actor, number: int, ref: str, cells: dict[str, Any], found: list[str], tr: Translator,
    files_dir: Path | None = None,
) -> _Row | None:
    """Add what is wrong with a filled row to `found`; the row to record, or None when there is nothing to record."""
    text, by, forward_to = _text(cells["answer"]), _text(cells["answered_by"]), _text(cells["forwarded_to"])
    expected_by, date_ok = _date(cells["expected_by"])
    submission = None
    if not ref:
        found.append(tr("sheet.error.missing_code"))
    else:
        submission = await _answerable(uow, actor, ref)
        if submission is None:
            found.append(tr("sheet.error.unknown_code", ref=ref))
    if not date_ok:
        found.append(tr("sheet.error.bad_date", value=str(cells["expected_by"]).strip()))
    has_date = _text(cells["expected_by"]) is not None
    if text is None and forward_to is None:
        found.append(tr("sheet.error.no_answer", column=_BY_KEY["answer"].header(tr)))
    elif forward_to is not None and not has_date:
        found.append(
            tr("sheet.error.forwarded_without_date", forward_to=forward_to, column=_BY_KEY["expected_by"].header(tr))
        )
    elif forward_to is None and has_date:
        found.append(tr("sheet.error.date_without_forward", column=_BY_KEY["forwarded_to"].header(tr)))
    for key, value in (("answer", text), ("answered_by", by), ("forwarded_to", forward_to)):
        if value is not None and first_refused(value) is not None:
            found.append(tr("sheet.error.bad_text", column=_BY_KEY[key].header(tr)))
    for key, value in (("answered_by", by), ("forwarded_to", forward_to)):
        if value is not None and len(value) > _MAX_NAME:
            found.append(tr("sheet.error.too_long", column=_BY_KEY[key].header(tr), max=_MAX_NAME))
    if submission is not None and submission.status == Status.WITHDRAWN:
        stored = (submission.answer, submission.answered_by, submission.forwarded_to, submission.expected_by)
        # The export carries a withdrawn question's earlier answer, if it had one: handing it back is no change.
        if (text, by, forward_to, expected_by) == stored:
            return None
        found.append(tr("sheet.error.withdrawn", ref=ref))
    files = await _files(uow, submission, _text(cells.get("files")), files_dir, found, tr) if submission is not None else None
    return _Row(number, ref, text, by, forward_to, expected_by, files)


async def _files(uow: UnitOfWork, submission: Submission, cell: str | None, files_dir: Path | None, found: list[str],
                 tr: Translator) -> list[AnswerFile] | None:
    """The files a row names, read from `files_dir`, or the answer's own when it names them as they are;
    None when the cell is empty (the answer keeps its files). What is wrong goes to `found`."""
    if cell is None:
        return None
    names = [n.strip() for n in cell.replace("\n", ";").split(";") if n.strip()]
    current = {f.name: f for f in await current_files(uow, submission)}
    picked: list[tuple[str, bytes]] = []
    for name in names:
        path = files_dir / name if files_dir is not None and Path(name).name == name else None
        if path is not None and path.is_file():
            try:
                with path.open("rb") as f:
                    picked.append((name, f.read(ANSWER_FILE_MAX_BYTES + 1)))
            except OSError as exc:
                found.append(file_problem(exc, path).text(tr))
        elif name in current:
            picked.append((name, current[name].data))
        elif files_dir is None:
            found.append(tr("sheet.error.files_no_folder", column=_BY_KEY["files"].header(tr)))
            return None
        else:
            found.append(tr("sheet.error.file_missing", name=name, folder=files_dir))
    try:
        return answer_files(picked, submission.ref)
    except AnswerError as exc:
        found.append(exc.text(tr))
        return None


async def _apply(uow: UnitOfWork, row: _Row, now: datetime, report: ImportReport, tr: Translator) -> None:
    submission = await uow.submissions.by_ref(row.ref)
    before = submission.answer_revision if submission is not None else 0
    try:
        submission = await record_answer(
            uow, row.ref, text=row.text, by=row.by, forward_to=row.forward_to, expected_by=row.expected_by, now=now, files=row.files
        )
    except AnswerError as e:
        raise SpreadsheetError([tr("sheet.error.row", row=row.number, problem=e.text(tr))]) from e
    if submission.answer_revision == before:
        report.unchanged += 1
    elif submission.status == Status.FORWARDED:
        report.forwarded += 1
    else:
        report.answered += 1


def _read_sheet(path: Path, tr: Translator) -> list[tuple[int, dict[str, Any]]]:
    """The data rows as (Excel row number, {column key: cell value}) for the columns the import needs."""
    name = path.name
    if path.suffix.lower() == ".xls":
        raise SpreadsheetError([tr("sheet.error.xls", name=name)])
    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except FileNotFoundError:
        raise SpreadsheetError([tr("sheet.error.not_found", path=path)]) from None
    except (InvalidFileException, BadZipFile, KeyError, ValueError, OSError):
        raise SpreadsheetError([tr("sheet.error.not_xlsx", name=name)]) from None
    try:
        if not wb.worksheets:
            raise SpreadsheetError([tr("sheet.error.no_sheets", name=name)])
        for ws in wb.worksheets:
            # Some programs write a wrong sheet size; trusting it would cut rows off unread.
            ws.reset_dimensions()  # type: ignore[union-attr]
        # Staff may add a sheet of notes: the answers are on the first sheet with a code column.
        headers = [(ws, _header(ws)) for ws in wb.worksheets]
        ws, columns = next(((ws, cols) for ws, cols in headers if "ref" in cols), headers[0])
        problems = _header_problems(ws, columns, tr)
        if problems:
            raise SpreadsheetError(problems)
        index = {key: columns[key][0] for key in (*_REQUIRED_FOR_IMPORT, "files") if key in columns}
        out: list[tuple[int, dict[str, Any]]] = []
        for number, values in enumerate(ws.iter_rows(min_row=2, values_only=True), start=2):
            out.append((number, {key: values[i] if i < len(values) else None for key, i in index.items()}))
        return out
    finally:
        wb.close()


def _header(ws: Any) -> dict[str, list[int]]:
    """Column key → the 0-based positions in row 1 whose header names it, in any catalogue's wording."""
    wanted: dict[str, str] = {}
    # The export's own wording (Vietnamese) first: it wins should two catalogues ever share a header.
    for lang in LANGUAGES:
        tr = Translator(lang)
        for c in COLUMNS:
            wanted.setdefault(_normal(tr(c.message)), c.key)
    found: dict[str, list[int]] = {}
    for first in ws.iter_rows(min_row=1, max_row=1, values_only=True):
        for i, value in enumerate(first):
            key = wanted.get(_normal(value)) if isinstance(value, str) else None
            if key is not None:
                found.setdefault(key, []).append(i)
    return found


def _header_problems(ws: Any, columns: dict[str, list[int]], tr: Translator) -> list[str]:
    problems: list[str] = []
    missing = [_BY_KEY[key].header(tr) for key in _REQUIRED_FOR_IMPORT if key not in columns]
    if missing:
        problems.append(
            tr("sheet.error.missing_columns", sheet=ws.title, columns=", ".join(f"'{h}'" for h in missing))
        )
    for key in (*_REQUIRED_FOR_IMPORT, "files"):
        positions = columns.get(key, [])
        # Two "Trả lời" columns: which one staff meant cannot be guessed.
        if len(positions) > 1:
            letters = ", ".join(get_column_letter(i + 1) for i in positions)
            problems.append(tr("sheet.error.duplicate_column", column=_BY_KEY[key].header(tr), letters=letters))
    return problems


def _normal(header: str) -> str:
    # Headers typed on a Mac arrive decomposed (NFD); case and spacing vary by hand.
    return " ".join(unicodedata.normalize("NFC", header).casefold().split())


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def _date(value: Any) -> tuple[date | None, bool]:
    """The expected date and whether the cell was acceptable: a date cell, dd/mm/yyyy or yyyy-mm-dd text."""
    if value is None:
        return None, True
    if isinstance(value, datetime):
        return value.date(), True
    if isinstance(value, date):
        return value, True
    if isinstance(value, str):
        if not value.strip():
            return None, True
        day = parse_day(value)
        return day, day is not None
    return None, False

