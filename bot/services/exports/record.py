"""The meeting's record in Word, made from the data: the minutes (biên bản hội nghị đối thoại) and the
draft of the conclusion notice (Thông báo kết luận), which the secretariat edits in Word and then
publishes with `doithoai conclusion publish --document`.

Each is a template the commune can adjust (templating.py; the shipped ones are in templates/, made by
templates/make_templates.py; docs/record.md says how) filled with the meeting's facts, and the minutes'
own facts no registration holds: who chaired, who kept the minutes, how many came (`set_record_facts`).

The minutes follow the speakers' list as the hall ran it (bot/services/hall.py, its order and its
counts): who spoke, in the order they were called, with the answer given and by whom; who was called
and was absent, and who was never called; then the questions sent in writing, with their answers.
The speaker still at the microphone when the minutes are made has spoken, in the list and in the
count. The conclusion draft takes every question by topic, in the plan's order of topics, a
duplicate under its original's answer (word.py's `by_answer`, as the report groups them).
Withdrawn questions are in neither. Every file is for those who run the meeting's commune, and audited.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Callable

from bot.domain import validation as textrules
from bot.domain.errors import Problem
from bot.domain.hall import HALL, HallCounts, Turn
from bot.domain.messages import number
from bot.domain.submissions import Status, is_live
from bot.services.access import meeting_to_run
from bot.services.exports.templating import Kind, Para, RecordError, Run, Template, fill, load, para, read, shipped
from bot.services.exports.word import Printable, by_answer, day_text, roman
from bot.services.hall import speakers
from bot.services.staff import Actor, audit
from bot.text.formatting import date as fmt_date
from bot.text.formatting import local, time, weekday
from storage.models import Commune, Meeting, Submission
from storage.repositories import SubmissionRow
from storage.uow import UnitOfWork, commits

__all__ = ["MINUTES", "CONCLUSION", "FIELDS", "RecordError", "Template", "template_file", "set_record_facts", "build_minutes",
           "build_conclusion_draft"]

MINUTES = Kind("bien_ban.docx", ("speakers", "written"))
CONCLUSION = Kind("thong_bao_ket_luan.docx", ("answers_by_topic",))

# The fields either template may hold, as {{name}} (docs/record.md says what each is).
FIELDS = (
    "commune", "commune_upper", "locality", "code", "title", "host", "venue", "villages", "weekday", "date", "time",
    "day", "month", "year", "issued_date", "issued_day", "issued_month", "issued_year", "chair", "secretary", "attendance",
    "ended", "counts.total", "counts.registered", "counts.spoke", "counts.from_floor", "counts.absent", "counts.written",
    "counts.answered_in_hall", "counts.to_answer_later", "counts.answered", "counts.forwarded", "counts.unanswered",
)

FACT_MAX = 200  # the columns' String(200)
# More people than any hall holds: a figure above it is a typing mistake.
ATTENDANCE_MAX = 100_000
THOUSANDS = re.compile(r"[0-9]{1,3}(?:\.[0-9]{3})+")


@dataclass(frozen=True)
class Minutes:
    code: str  # the meeting's
    data: bytes  # the .docx
    spoke: int  # speakers who spoke, as listed
    written: int  # questions sent in writing
    facts: dict[str, str | None]  # chair, secretary and attendance, as the minutes print them (None: blank)


@dataclass(frozen=True)
class ConclusionDraft:
    code: str
    data: bytes
    questions: int
    topics: int


def template_file(path: Path, kind: Kind) -> Template:
    """A commune's own template file, read and checked: the command line checks it before it changes anything."""
    return load(read(path), path.name, kind, FIELDS)


# ------------------------------------------------------------------ the minutes' facts


def _person(value: str, field: str) -> str | None:
    try:
        text = textrules.line(value)
    except textrules.BadText as exc:
        raise RecordError("problem.record.bad_text", field=Problem(field), reason=exc.problem) from None
    if len(text) > FACT_MAX:
        raise RecordError("problem.record.too_long", field=Problem(field), most=FACT_MAX)
    return text or None


def _attendance(value: int | str) -> int | None:
    """A head count as typed ("250", "1.200" with the Vietnamese thousands' point) or given; empty: None."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        found = number(text.replace(".", "") if THOUSANDS.fullmatch(text) else text)
        if found is None:
            raise RecordError("problem.record.attendance", value=textrules.printable(text)[:20], most=_thousands(ATTENDANCE_MAX))
        value = found
    if isinstance(value, bool) or not 0 <= value <= ATTENDANCE_MAX:
        raise RecordError("problem.record.attendance", value=str(value)[:20], most=_thousands(ATTENDANCE_MAX))
    return value


def _thousands(n: int) -> str:
    return f"{n:,}".replace(",", ".")  # 1.234, as Vietnamese write it


@commits
async def set_record_facts(
    uow: UnitOfWork, actor: Actor, code: str, *, chair: str | None = None, secretary: str | None = None,
    attendance: int | str | None = None, now: datetime,
) -> Meeting:
    """Who chaired, who kept the minutes and how many people came. None leaves a fact as it is; an empty
    text clears it. Every fact is checked before any is set; audited with the facts before and after."""
    meeting = await meeting_to_run(uow, actor, code, RecordError)
    wanted: dict[str, str | int | None] = {}
    if chair is not None:
        wanted["chair"] = _person(chair, "problem.record.field.chair")
    if secretary is not None:
        wanted["secretary"] = _person(secretary, "problem.record.field.secretary")
    if attendance is not None:
        wanted["attendance"] = _attendance(attendance)
    changed = {k: v for k, v in wanted.items() if getattr(meeting, k) != v}
    if changed:
        before = {k: getattr(meeting, k) for k in changed}
        for k, v in changed.items():
            setattr(meeting, k, v)
        await audit(uow, actor, "meeting.record_facts", f"meeting {meeting.code}", before=before, after=changed, now=now)
    return meeting


# ------------------------------------------------------------------ what both documents read


@dataclass(frozen=True)
class _Meeting:
    meeting: Meeting
    commune: Commune
    rows: list[SubmissionRow]  # live, in the order they came
    spoken: list[SubmissionRow]  # in the order they were called
    absent: list[SubmissionRow]
    waiting: list[SubmissionRow]
    written: list[SubmissionRow]
    counts: HallCounts
    villages: list[str]
    topics: list[int]  # ids, in the plan's order


async def _read(uow: UnitOfWork, actor: Actor, code: str) -> _Meeting:
    """The meeting, once the actor may run it, with its live questions sorted as the documents need them."""
    meeting = await meeting_to_run(uow, actor, code, RecordError)
    found = await speakers(uow, actor, meeting.code)
    rows = {r.submission.id: r for r in await uow.submissions.listing(meeting.code) if is_live(r.submission.status)}
    listed = [(rows[s.submission.id], s.turn) for s in found.speakers]
    spoken = [r for r, turn in listed if turn in (Turn.SPOKE, Turn.CALLED)]
    villages = await uow.meetings.invited_villages(meeting.id, active_only=False)  # type: ignore[arg-type]
    return _Meeting(
        meeting=meeting, commune=found.commune, rows=list(rows.values()), spoken=spoken,
        absent=[r for r, turn in listed if turn == Turn.ABSENT], waiting=[r for r, turn in listed if turn == Turn.WAITING],
        written=[r for r in rows.values() if not r.submission.wants_to_speak and r.submission.channel != HALL],
        counts=replace(found.counts, spoke=len(spoken)), villages=[v.name for v in villages if v.active],
        topics=[t.id for t in await uow.meetings.topics(meeting.id, active_only=False)],  # type: ignore[arg-type,misc]
    )


def _nd30(day: date) -> tuple[str, str, str]:
    """Day, month and year as Nghị định 30/2020 writes them in a document's date: a zero before a day
    under 10 and before months 1 and 2 ("ngày 05 tháng 02 năm 2026", "ngày 11 tháng 6")."""
    return (f"{day.day:02d}" if day.day < 10 else str(day.day), f"{day.month:02d}" if day.month < 3 else str(day.month), str(day.year))


def _locality(commune: str, tr: Printable) -> str:
    """"Gia Phúc" of "Xã Gia Phúc": the place name a document's date line opens with."""
    for word in tr("minutes.unit_words").split("|"):
        if commune.casefold().startswith(word.casefold() + " "):
            return commune[len(word) + 1:].strip()
    return commune


def _values(m: _Meeting, tr: Printable, now: datetime) -> dict[str, str]:
    tz = m.commune.timezone
    starts, issued = local(m.meeting.starts_at, tz), local(now, tz)
    blank = tr("minutes.blank")
    c = m.counts
    statuses = [r.submission.status for r in m.rows]
    ended = local(m.meeting.speakers_closed_at, tz) if m.meeting.speakers_closed_at else None
    day, month, year = _nd30(starts.date())
    issued_day, issued_month, issued_year = _nd30(issued.date())
    values = {
        "commune": m.commune.name, "commune_upper": m.commune.name.upper(), "locality": _locality(m.commune.name, tr),
        "code": m.meeting.code, "title": m.meeting.title, "host": m.meeting.host or blank, "venue": m.meeting.venue,
        "villages": ", ".join(m.villages), "weekday": weekday(starts, tr.lang), "date": fmt_date(starts), "time": time(starts),
        "day": day, "month": month, "year": year, "issued_date": fmt_date(issued), "issued_day": issued_day,
        "issued_month": issued_month, "issued_year": issued_year,
        "chair": m.meeting.chair or blank, "secretary": m.meeting.secretary or blank,
        "attendance": _thousands(m.meeting.attendance) if m.meeting.attendance is not None else blank,
        "ended": tr("minutes.ended", time=time(ended), date=fmt_date(ended)) if ended else blank,
        "counts.total": len(m.rows), "counts.registered": c.registered, "counts.spoke": c.spoke, "counts.from_floor": c.from_floor,
        "counts.absent": c.absent, "counts.written": len(m.written), "counts.answered_in_hall": c.answered_in_hall,
        "counts.to_answer_later": c.to_answer_later, "counts.answered": statuses.count(Status.ANSWERED),
        "counts.forwarded": statuses.count(Status.FORWARDED), "counts.unanswered": statuses.count(Status.RECEIVED),
    }
    assert set(values) == set(FIELDS)
    return {k: textrules.printable(str(v)) for k, v in values.items()}


def _template(kind: Kind, template: Template | None, folder: Path | None, commune: Commune) -> Template:
    """The template given, or the commune's own in `folder` (CODE/file, then file), or the one shipped."""
    if template is not None:
        return template
    if folder is not None and not folder.is_dir():
        raise RecordError("problem.record.no_folder", path=folder)  # a mistyped setting would go unnoticed
    for path in ([folder / commune.code / kind.file, folder / kind.file] if folder is not None else []):
        if path.is_file():
            return load(read(path), path.name, kind, FIELDS)
    return Template(shipped(kind).read_bytes(), kind.file)


# ------------------------------------------------------------------ the minutes


@commits
async def build_minutes(
    uow: UnitOfWork, actor: Actor, code: str, *, template: Template | None = None, folder: Path | None = None, lang: str = "vi",
    now: datetime,
) -> Minutes:
    """The minutes of the meeting `code` as a .docx; audited. `template`: the commune's own, checked
    (template_file); else the one in `folder` if it has one; else the one shipped."""
    m = await _read(uow, actor, code)
    chosen = _template(MINUTES, template, folder, m.commune)
    tr = Printable(lang)
    by_id = {r.submission.id: r.submission for r in m.rows}

    def item(n: int, row: SubmissionRow, *, spoke: bool) -> list[Para]:
        s = row.submission
        if s.channel == HALL:
            how = tr("minutes.how_floor")
        else:
            how = tr("minutes.how_registered" if s.wants_to_speak else "minutes.how_written")
        original = by_id.get(s.duplicate_of_id) if s.duplicate_of_id else None
        meta = tr("minutes.meta", ref=s.ref, topic=row.topic, how=how)
        if original is not None:
            meta += " " + tr("minutes.duplicate", ref=original.ref)
        # A duplicate not answered under its own code reads its original's answer, as the conclusion does.
        answered = original if original is not None and not s.answer_revision else s
        return [
            para(_who(n, s, row.village, tr), bold=True),
            para(meta, italic=True, indent=1),
            para(tr("minutes.question", question=s.question), indent=1),
            *(para(line, indent=1) for line in _answer_lines(answered, m.commune.name, tr, spoke=spoke)),
        ]

    def numbered(rows: list[SubmissionRow], *, spoke: bool) -> list[Para]:
        return [p for n, row in enumerate(rows, start=1) for p in item(n, row, spoke=spoke)]

    spoken = numbered(m.spoken, spoke=True) or [para(tr("minutes.none_spoke"), italic=True)]
    for heading, rows in (("minutes.absent_heading", m.absent), ("minutes.waiting_heading", m.waiting)):
        if rows:
            spoken += [para(tr(heading, count=len(rows)), bold=True, italic=True), *numbered(rows, spoke=False)]
    written = numbered(m.written, spoke=False) or [para(tr("minutes.none_written"), italic=True)]
    data = fill(chosen, MINUTES, _values(m, tr, now), {"speakers": spoken, "written": written})
    await audit(uow, actor, "meeting.export_minutes", f"meeting {m.meeting.code}", after={"template": chosen.name}, now=now)
    meeting = m.meeting
    facts = {"chair": meeting.chair, "secretary": meeting.secretary,
             "attendance": _thousands(meeting.attendance) if meeting.attendance is not None else None}
    return Minutes(meeting.code, data, spoke=len(m.spoken), written=len(m.written), facts=facts)


def _who(n: int, s: Submission, village: str, tr: Printable) -> str:
    if s.name and not s.anonymised:
        return tr("minutes.speaker", n=n, name=s.name, village=village)
    return tr("minutes.speaker_anonymous", n=n, village=village)


def _answer_lines(s: Submission, commune: str, tr: Callable[..., str], *, spoke: bool) -> list[str]:
    """What became of a question: for a speaker, first whether the hall answered it; then the answer
    and by whom, and where it was forwarded and by when."""
    lines = []
    if spoke and not s.answered_in_hall:
        lines.append(tr("minutes.not_in_hall"))
    if s.answer_revision and s.answer:
        lines.append(tr("minutes.answer_hall" if s.answered_in_hall else "minutes.answer", by=s.answered_by or commune, answer=s.answer))
    if s.answer_revision and s.forwarded_to:
        lines.append(tr("minutes.forwarded", to=s.forwarded_to, expected=day_text(s.expected_by)))
    if not lines:
        lines.append(tr("minutes.unanswered"))
    return lines


# ------------------------------------------------------------------ the conclusion notice's draft


@commits
async def build_conclusion_draft(
    uow: UnitOfWork, actor: Actor, code: str, *, template: Template | None = None, folder: Path | None = None, lang: str = "vi",
    now: datetime,
) -> ConclusionDraft:
    """The draft of the conclusion notice as a .docx: every question by topic, each group of questions
    sharing an answer followed by it; audited. `template` and `folder` as for the minutes."""
    m = await _read(uow, actor, code)
    chosen = _template(CONCLUSION, template, folder, m.commune)
    tr = Printable(lang)
    by_id = {r.submission.id: r for r in m.rows}
    rank = {topic_id: n for n, topic_id in enumerate(m.topics)}
    topics: OrderedDict[int, list[SubmissionRow]] = OrderedDict()
    names: dict[int, str] = {}
    for row in m.rows:
        s = row.submission
        root = by_id.get(s.duplicate_of_id, row) if s.duplicate_of_id else row  # under its original's topic
        topics.setdefault(root.submission.topic_id, []).append(row)
        names.setdefault(root.submission.topic_id, root.topic)
    paras: list[Para] = []
    for index, topic_id in enumerate(sorted(topics, key=lambda t: rank.get(t, len(rank))), start=1):
        paras.append(para(tr("draft.topic", roman=roman(index), topic=names[topic_id]), bold=True))
        n = 0
        for (answer, by, forwarded, expected), members in by_answer(topics[topic_id]):
            for row in members:
                n += 1
                paras.append(Para((Run(tr("draft.question_head", n=n, village=row.village), bold=True),
                                   Run(textrules.printable(row.submission.question)))))
            if answer:
                paras.append(para(tr("draft.answer", by=by or m.commune.name, answer=answer), indent=1))
            if forwarded:
                paras.append(para(tr("draft.forwarded", to=forwarded, expected=day_text(expected)), indent=1))
            if not answer and not forwarded:
                paras.append(para(tr("draft.unanswered"), italic=True, indent=1))
    data = fill(chosen, CONCLUSION, _values(m, tr, now), {"answers_by_topic": paras or [para(tr("draft.none"), italic=True)]})
    await audit(uow, actor, "meeting.export_conclusion_draft", f"meeting {m.meeting.code}", after={"template": chosen.name}, now=now)
    return ConclusionDraft(m.meeting.code, data, questions=len(m.rows), topics=len(topics))
