"""Makes the shipped templates from the catalogue's Vietnamese texts (keys minutes.template.* and
draft.template.*):

    python -m bot.services.exports.templates.make_templates

Run it after changing those texts or the layout below, and commit the .docx files it writes;
tests/integration/test_record.py fails while the files in the repository differ from what it makes.
Why a script rather than files drawn in Word: the texts stay in the catalogue with every other text,
the layout is written down and reviewed like code, and nothing Word adds on its own (revision marks,
spelling state, a user's name) ends up in the repository.

The layout is Nghị định 30/2020/NĐ-CP's, as communes print: A4, Times New Roman 14, the issuing body
at the top left above the number, the national motto at the top right above the place and date, the
title centred in bold, headings in bold, the text justified, and the signatures side by side in a
table without borders.
"""

from __future__ import annotations

import io
from pathlib import Path

from docx import Document
from docx.document import Document as DocxDocument
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt
from docx.table import Table, _Cell

from bot.services.exports.record import CONCLUSION, MINUTES
from bot.services.exports.templating import Kind
from bot.services.exports.word import Printable, administrative_page
from bot.text.catalogue import Translator

HERE = Path(__file__).parent
TEXT_WIDTH = 16.0  # cm: A4's 21 less the margins, 3 and 2


def _borderless(table: Table, widths: tuple[float, ...]) -> None:
    borders = OxmlElement("w:tblBorders")
    for edge in ("top", "left", "bottom", "right", "insideH", "insideV"):
        element = OxmlElement(f"w:{edge}")
        element.set(qn("w:val"), "nil")
        borders.append(element)
    # In the schema's order (Word refuses a file whose elements are out of it): before the shading, layout and look.
    table._tbl.tblPr.insert_element_before(borders, "w:shd", "w:tblLayout", "w:tblCellMar", "w:tblLook", "w:tblCaption",
                                           "w:tblDescription", "w:tblPrChange")
    table.autofit = False
    for column, width in zip(table.columns, widths):
        column.width = Cm(width)
    for row in table.rows:
        for cell, width in zip(row.cells, widths):
            cell.width = Cm(width)


def _line(cell: _Cell, text: str, *, bold: bool = False, italic: bool = False, size: int | None = None,
          align: WD_ALIGN_PARAGRAPH = WD_ALIGN_PARAGRAPH.CENTER) -> None:
    """A line in a table's cell (its first paragraph, then new ones)."""
    p = cell.paragraphs[-1] if not cell.paragraphs[-1].runs and not cell.paragraphs[-1].text else cell.add_paragraph()
    p.alignment = align
    p.paragraph_format.space_after = Pt(0)
    run = p.add_run(text)
    run.bold, run.italic = bold or None, italic or None
    if size is not None:
        run.font.size = Pt(size)


def _header(doc: DocxDocument, tr: Translator, number: str, date_line: str) -> None:
    """The issuing body and the national motto side by side; the number and the place and date under them."""
    table = doc.add_table(rows=2, cols=2)
    _borderless(table, (5.5, TEXT_WIDTH - 5.5))
    (body, motto), (numbered, dated) = (row.cells for row in table.rows)
    _line(body, tr("minutes.template.parent_body"), bold=True, size=13)
    _line(body, "{{commune_upper}}", bold=True, size=13)
    _line(motto, tr("minutes.template.motto"), bold=True, size=12)
    _line(motto, tr("minutes.template.independence"), bold=True, size=14)
    _line(numbered, tr(number), size=13)
    _line(dated, tr(date_line), italic=True, size=14)
    doc.add_paragraph()


def _title(doc: DocxDocument, text: str) -> None:
    p = doc.add_paragraph()
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    p.paragraph_format.space_after = Pt(0)
    p.add_run(text).bold = True


def _text(doc: DocxDocument, text: str, *, bold: bool = False) -> None:
    """A paragraph of the body: justified, its first line indented (a heading's not)."""
    p = doc.add_paragraph()
    p.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
    if not bold:
        p.paragraph_format.first_line_indent = Cm(1)
    p.add_run(text).bold = bold or None


def _block(doc: DocxDocument, name: str) -> None:
    """A block marker: the generated paragraphs take its formatting (justified, not indented)."""
    doc.add_paragraph("{{" + name + "}}").alignment = WD_ALIGN_PARAGRAPH.JUSTIFY


def _signatures(doc: DocxDocument, columns: list[list[tuple[str, dict]]]) -> None:
    doc.add_paragraph()
    table = doc.add_table(rows=1, cols=len(columns))
    _borderless(table, tuple(TEXT_WIDTH / len(columns) for _ in columns))
    for cell, lines in zip(table.rows[0].cells, columns):
        for text, style in lines:
            _line(cell, text, **style)


def _signed(tr: Translator, title: str, name: str) -> list[tuple[str, dict]]:
    """A signature: the title, the hint, room to sign, the name."""
    return [(title, {"bold": True}), (tr("minutes.template.sign_hint"), {"italic": True}), *([("", {})] * 4), (name, {"bold": True})]


def minutes(tr: Translator) -> DocxDocument:
    doc = _opening(tr, "minutes.template.number", "minutes.template.date_line", "minutes.template.title")
    _text(doc, tr("minutes.template.opening"))
    _text(doc, tr("minutes.template.part_attendance"), bold=True)
    for key in ("chair", "secretary", "attendance"):
        _text(doc, tr(f"minutes.template.{key}"))
    _text(doc, tr("minutes.template.part_content"), bold=True)
    _text(doc, tr("minutes.template.counts_heading"), bold=True)
    for key in ("counts_speakers", "counts_written", "counts_answers"):
        _text(doc, tr(f"minutes.template.{key}"))
    _text(doc, tr("minutes.template.speakers_heading"), bold=True)
    _block(doc, "speakers")
    _text(doc, tr("minutes.template.written_heading"), bold=True)
    _block(doc, "written")
    _text(doc, tr("minutes.template.part_closing"), bold=True)
    _text(doc, tr("minutes.template.closing"))
    _signatures(doc, [_signed(tr, tr("minutes.template.secretary_sign"), "{{secretary}}"),
                      _signed(tr, tr("minutes.template.chair_sign"), "{{chair}}")])
    return doc


def conclusion(tr: Translator) -> DocxDocument:
    doc = _opening(tr, "draft.template.number", "draft.template.date_line", "draft.template.title")
    for key in ("opening", "counts", "lead"):
        _text(doc, tr(f"draft.template.{key}"))
    _block(doc, "answers_by_topic")
    _text(doc, tr("draft.template.closing"))
    left = WD_ALIGN_PARAGRAPH.LEFT
    recipients = [(tr("draft.template.recipients"), {"bold": True, "italic": True, "size": 12, "align": left})]
    recipients += [(line, {"size": 11, "align": left}) for line in tr("draft.template.recipients_list").split("\n")]
    _signatures(doc, [recipients, _signed(tr, tr("draft.template.sign_body"), "{{chair}}")])
    return doc


def _opening(tr: Translator, number: str, date_line: str, title: str) -> DocxDocument:
    """A new document down to its title: the page, the header, the kind of document and the meeting's title."""
    doc = Document()
    administrative_page(doc, size=14)
    normal = doc.styles["Normal"].paragraph_format  # type: ignore[attr-defined]
    normal.space_before, normal.space_after, normal.line_spacing = Pt(0), Pt(6), 1.15
    doc.core_properties.author = "doithoai"
    _header(doc, tr, number, date_line)
    _title(doc, tr(title))
    _title(doc, "{{title}}")
    doc.add_paragraph()
    return doc


MAKERS = {MINUTES: minutes, CONCLUSION: conclusion}


def build(kind: Kind, lang: str = "vi") -> bytes:
    out = io.BytesIO()
    MAKERS[kind](Printable(lang)).save(out)
    return out.getvalue()


def main() -> None:
    for kind in MAKERS:
        (HERE / kind.file).write_bytes(build(kind))
        print(HERE / kind.file)


if __name__ == "__main__":
    main()
