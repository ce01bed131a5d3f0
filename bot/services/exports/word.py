"""What the Word files staff print share (the report, the minutes, the conclusion notice): the page and
type of Vietnamese administrative documents, stored text made safe for Word, Roman numerals, and the
questions grouped by the answer they share.

The page is Nghị định 30/2020/NĐ-CP's: A4, margins 2 cm top and bottom, 3 cm left (for binding), 2 cm
right, Times New Roman.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import date, datetime

from docx.document import Document
from docx.shared import Cm, Pt

from bot.domain.validation import printable
from bot.text.catalogue import Translator
from bot.text.formatting import date as fmt_date
from storage.repositories import SubmissionRow

ROMAN = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII", "XIII", "XIV", "XV", "XVI", "XVII", "XVIII", "XIX", "XX"]

# An answer as the questions sharing it are grouped by: (answer, answered by, forwarded to, expected by).
AnswerKey = tuple[str, "str | None", "str | None", "date | None"]
UNANSWERED: AnswerKey = ("", None, None, None)


class Printable(Translator):
    """Every text these files write is a catalogue text filled with stored values: cleaned here, once,
    because Word's XML refuses control characters that rows stored before bot/domain/validation.py may hold."""

    def __call__(self, key: str, **params: object) -> str:
        return printable(super().__call__(key, **params))


def roman(n: int) -> str:
    return ROMAN[n - 1] if n <= len(ROMAN) else str(n)


def administrative_page(doc: Document, *, size: int = 13) -> None:
    """A4 in portrait, the margins and the type every Vietnamese office prints on."""
    section = doc.sections[0]
    section.page_height, section.page_width = Cm(29.7), Cm(21.0)
    section.top_margin, section.bottom_margin = Cm(2.0), Cm(2.0)
    section.left_margin, section.right_margin = Cm(3.0), Cm(2.0)
    style = doc.styles["Normal"]
    style.font.name = "Times New Roman"  # type: ignore[attr-defined]
    style.font.size = Pt(size)  # type: ignore[attr-defined]


def day_text(day: date | None) -> str:
    """dd/mm/yyyy of a date (an answer's expected date), or nothing."""
    return fmt_date(datetime.combine(day, datetime.min.time())) if day else ""


def by_answer(rows: list[SubmissionRow]) -> list[tuple[AnswerKey, list[SubmissionRow]]]:
    """The rows grouped by the answer they share, a duplicate under its original's (when the original
    is among them); the answered groups in the order met, the unanswered last."""
    by_id = {r.submission.id: r for r in rows}
    groups: OrderedDict[AnswerKey, list[SubmissionRow]] = OrderedDict()
    for row in rows:
        s = row.submission
        r = (by_id.get(s.duplicate_of_id, row) if s.duplicate_of_id else row).submission
        key: AnswerKey = (r.answer or "", r.answered_by, r.forwarded_to, r.expected_by) if r.answer_revision else UNANSWERED
        groups.setdefault(key, []).append(row)
    return sorted(groups.items(), key=lambda kv: kv[0] == UNANSWERED)
