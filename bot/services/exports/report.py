"""The Word report staff print: "Báo cáo tổng hợp ý kiến, kiến nghị của Nhân dân".

Before the meeting, grouped by topic (lĩnh vực), numbered, each with its village and name: the
document the chair reads from. After it, the same questions grouped by answer, for the
Thông báo kết luận. Withdrawn questions are left out; duplicates appear under their original's answer.
"""

from __future__ import annotations

import io
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Cm, Pt

from bot.domain.errors import ServiceError
from bot.domain.submissions import is_live
from bot.domain.validation import printable
from bot.services.access import meeting_to_run
from bot.services.exports.word import Printable, administrative_page, by_answer, day_text, roman
from bot.services.staff import Actor, audit
from bot.text.catalogue import Translator
from bot.text.formatting import date as fmt_date
from bot.text.formatting import local, when
from storage.models import utcnow
from storage.repositories import SubmissionRow
from storage.uow import UnitOfWork, commits


class ReportError(ServiceError, ValueError):
    pass


@dataclass(frozen=True)
class Report:
    data: bytes  # the .docx
    grouped_by: str  # "topic" or "answer": the file's name says which


@commits
async def build_report(
    uow: UnitOfWork, actor: Actor, meeting_code: str, *, grouped_by: str | None = None, lang: str = "vi", now: datetime | None = None
) -> Report:
    """The report, for those who run the meeting's commune; audited.

    Without `grouped_by`: by topic before the meeting (the chair reads from it), by answer once it
    has started or its conclusion is published."""
    meeting = await meeting_to_run(uow, actor, meeting_code, ReportError)
    if grouped_by is None:
        grouped_by = "answer" if meeting.concluded_at or (now or utcnow()) > meeting.starts_at else "topic"
    if grouped_by not in ("topic", "answer"):
        raise ReportError("problem.report.grouping")
    await audit(uow, actor, "meeting.export_report", f"meeting {meeting.code}", after={"grouped_by": grouped_by}, now=now or utcnow())
    commune = await uow.communes.get(meeting.commune_id)
    assert commune is not None
    tr = Printable(lang)
    rows = [r for r in await uow.submissions.listing(meeting.code) if is_live(r.submission.status)]

    doc = Document()
    administrative_page(doc)

    def centred(text: str, *, bold: bool = False, size: int = 13) -> None:
        p = doc.add_paragraph()
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        run = p.add_run(text)
        run.bold, run.font.size = bold, Pt(size)

    centred(printable(commune.name.upper()), bold=True)
    centred(tr("report.title_topic" if grouped_by == "topic" else "report.title_answer"), bold=True, size=14)
    centred(tr("report.subtitle", title=meeting.title))
    centred(tr("report.meta", commune=commune.name, when=when(meeting.starts_at, commune.timezone, tr), venue=meeting.venue))
    speak = sum(1 for r in rows if r.submission.wants_to_speak)
    doc.add_paragraph(tr("report.counts", total=len(rows), speak=speak, written=len(rows) - speak))
    if not rows:
        doc.add_paragraph(tr("report.empty"))
    elif grouped_by == "topic":
        _by_topic(doc, rows, tr)
    else:
        _by_answer(doc, rows, tr)
    stamp = local(now or meeting.updated_at, commune.timezone)
    closing = doc.add_paragraph(tr("report.generated", date=fmt_date(stamp)))
    closing.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    out = io.BytesIO()
    doc.save(out)
    return Report(out.getvalue(), grouped_by)


def _item(doc: Document, n: int, row: SubmissionRow, tr: Translator) -> None:
    s = row.submission
    doc.add_paragraph(tr("report.item", n=n, question=s.question))
    mode = tr("report.mode_speak") if s.wants_to_speak else tr("report.mode_written")
    meta = doc.add_paragraph(tr("report.item_meta", ref=s.ref, name=s.name or tr("report.anonymous"), village=row.village, mode=mode))
    meta.paragraph_format.left_indent = Cm(1)
    for run in meta.runs:
        run.italic = True


def _by_topic(doc: Document, rows: list[SubmissionRow], tr: Translator) -> None:
    groups: OrderedDict[str, list[SubmissionRow]] = OrderedDict()
    for row in rows:
        groups.setdefault(row.topic, []).append(row)
    n = 0
    for index, (topic, members) in enumerate(groups.items(), start=1):
        doc.add_heading(tr("report.topic_heading", roman=roman(index), topic=topic, count=len(members)), level=2)
        for row in members:
            n += 1
            _item(doc, n, row, tr)


def _by_answer(doc: Document, rows: list[SubmissionRow], tr: Translator) -> None:
    n = 0
    for index, ((answer, by, forwarded, expected), members) in enumerate(by_answer(rows), start=1):
        if forwarded:
            doc.add_heading(tr("report.forward_heading", roman=roman(index), to=forwarded, expected=day_text(expected)), level=2)
        elif answer:
            doc.add_heading(tr("report.answer_heading", roman=roman(index), by=by or "—"), level=2)
        else:
            doc.add_heading(tr("report.unanswered_heading", roman=roman(index)), level=2)
        if answer:
            doc.add_paragraph(tr("report.answer_text", answer=answer))
        doc.add_paragraph(tr("report.questions", count=len(members)))
        for row in members:
            n += 1
            _item(doc, n, row, tr)
