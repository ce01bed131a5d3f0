"""Word templates a commune can adjust: a .docx whose text holds fields, `{{chair}}`, filled with the
meeting's facts, and block markers, a paragraph of nothing but `{{speakers}}`, replaced by the
paragraphs the data makes (docs/record.md lists both).

Word splits what one types into several runs (a spelling mark, a change of formatting, an edit in
the middle), so a field is looked for in the text of the whole paragraph, runs joined: the value
takes the place of the runs the field spanned, in the formatting of the run where it began, and the
text around it keeps its own. Every paragraph of the document is read, in tables, text boxes,
headers and footers too.

A template is checked before anything is made from it (and before a command changes anything): a
field it does not know, a block missing, standing inside other text or given twice is refused,
named, and nothing is written.
"""

from __future__ import annotations

import io
import re
import zipfile
from copy import deepcopy
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Sequence

from docx import Document
from docx.document import Document as DocxDocument
from docx.opc.constants import CONTENT_TYPE as CT
from docx.opc.exceptions import PackageNotFoundError
from docx.opc.part import XmlPart
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm
from docx.text.paragraph import Paragraph
from lxml import etree

from bot.domain.errors import ServiceError, file_problem

# "{{name}}", spaces inside the braces allowed; an opening "{{" never closed runs to the paragraph's end.
FIELD = re.compile(r"\{\{(.*?)(?:\}\}|$)", re.S)
# Where text lives: the document, its headers and footers.
TEXT_PARTS = frozenset({CT.WML_DOCUMENT_MAIN, CT.WML_HEADER, CT.WML_FOOTER})
_P, _T, _R, _RPR, _PPR, _SECTION = qn("w:p"), qn("w:t"), qn("w:r"), qn("w:rPr"), qn("w:pPr"), qn("w:sectPr")
_SPACE = "{http://www.w3.org/XML/1998/namespace}space"
# A template is a few dozen kilobytes; a commune's logo makes it more. Anything larger is not one.
MAX_BYTES = 20 * 1024 * 1024


class RecordError(ServiceError, ValueError):
    """The minutes or the conclusion draft cannot be made, or the facts given for them are wrong; the problem says why."""


@dataclass(frozen=True)
class Kind:
    """What a template is for: the file shipped in templates/, and the blocks it must hold once each."""

    file: str
    blocks: tuple[str, ...]


@dataclass(frozen=True)
class Template:
    """A template's bytes, checked; `name` is what problems call it (its file's name)."""

    data: bytes
    name: str


@dataclass(frozen=True)
class Run:
    text: str
    bold: bool = False
    italic: bool = False


@dataclass(frozen=True)
class Para:
    """A generated paragraph: runs, and how far it is indented (cm; None: as the marker's paragraph)."""

    runs: tuple[Run, ...]
    indent: float | None = None


def para(text: str, *, bold: bool = False, italic: bool = False, indent: float | None = None) -> Para:
    return Para((Run(text, bold, italic),), indent)


def shipped(kind: Kind) -> Path:
    return Path(__file__).parent / "templates" / kind.file


def read(path: Path) -> bytes:
    """A template file's bytes, or RecordError worded without the operating system's English."""
    try:
        if path.stat().st_size > MAX_BYTES:
            raise RecordError("problem.record.not_docx", name=path.name)
        return path.read_bytes()
    except OSError as exc:
        raise RecordError("problem.record.template_file", reason=file_problem(exc, path)) from None


def load(data: bytes, name: str, kind: Kind, fields: Iterable[str]) -> Template:
    """`data` as a template of `kind`, checked against the `fields` it may use; RecordError naming what is wrong."""
    check(_open(data, name), name, kind, set(fields))
    return Template(data, name)


def fill(template: Template, kind: Kind, values: Mapping[str, str], blocks: Mapping[str, Sequence[Para]]) -> bytes:
    """The document `template` makes: every field given its value, every block marker replaced by its paragraphs."""
    doc = _open(template.data, template.name)
    check(doc, template.name, kind, set(values))
    for p in list(_paragraphs(doc)):
        texts = _texts(p)
        joined = "".join(t.text or "" for t in texts)
        if "{{" not in joined:
            continue
        block = _block(joined)
        if block in kind.blocks:
            _replace(p, texts, blocks[block])
        else:
            _substitute(texts, values)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def check(doc: DocxDocument, name: str, kind: Kind, fields: set[str]) -> None:
    """RecordError naming the first thing wrong: a field not among `fields`, or a block of `kind` missing,
    not alone in its paragraph, or given twice."""
    found: dict[str, int] = {}
    for p in _paragraphs(doc):
        joined = "".join(t.text or "" for t in _texts(p))
        for match in FIELD.finditer(joined):
            field = match.group(1).strip()
            if field in kind.blocks:
                if joined.strip() != match.group(0):
                    raise RecordError("problem.record.block_alone", name=name, block=_braced(field))
                found[field] = found.get(field, 0) + 1
            elif field not in fields or not match.group(0).endswith("}}"):
                raise RecordError("problem.record.unknown_field", name=name, field=match.group(0).strip(), known=_known(fields))
    for block in kind.blocks:
        if found.get(block, 0) == 0:
            raise RecordError("problem.record.block_missing", name=name, block=_braced(block))
        if found[block] > 1:
            raise RecordError("problem.record.block_twice", name=name, block=_braced(block))


def _braced(name: str) -> str:
    return "{{" + name + "}}"


def _known(fields: set[str]) -> str:
    return ", ".join(_braced(f) for f in sorted(fields))


def _open(data: bytes, name: str) -> DocxDocument:
    try:
        return Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError, etree.XMLSyntaxError):
        raise RecordError("problem.record.not_docx", name=name) from None


def _paragraphs(doc: DocxDocument) -> Iterator[etree._Element]:
    """Every paragraph of every part that holds text, in document order: tables', text boxes' and nested ones too."""
    for part in doc.part.package.iter_parts():
        if isinstance(part, XmlPart) and part.content_type in TEXT_PARTS:
            yield from part.element.iter(_P)


def _texts(p: etree._Element) -> list[etree._Element]:
    """The paragraph's own text elements (not those of a text box anchored in it, a paragraph of its own)."""
    return [t for t in p.iter(_T) if next(t.iterancestors(_P)) is p]


def _block(joined: str) -> str | None:
    match = FIELD.fullmatch(joined.strip())
    return match.group(1).strip() if match else None


def _set(t: etree._Element, text: str) -> None:
    t.text = text
    t.set(_SPACE, "preserve")


def _substitute(texts: list[etree._Element], values: Mapping[str, str]) -> None:
    """Each field of the paragraph whose text elements are `texts` replaced by its value (checked: all are known)."""
    start = 0
    while True:
        joined = "".join(t.text or "" for t in texts)
        match = FIELD.search(joined, start)
        if match is None:
            return
        value = " ".join(values[match.group(1).strip()].split("\n"))
        bounds, offset = [], 0
        for t in texts:
            bounds.append((offset, offset + len(t.text or "")))
            offset = bounds[-1][1]
        first = next(i for i, (a, b) in enumerate(bounds) if a <= match.start() < b)
        last = next(i for i, (a, b) in enumerate(bounds) if a < match.end() <= b)
        head = (texts[first].text or "")[: match.start() - bounds[first][0]]
        tail = (texts[last].text or "")[match.end() - bounds[last][0]:]
        for i in range(first + 1, last + 1):
            _set(texts[i], "")
        _set(texts[first], head + value + (tail if first == last else ""))
        if last != first:
            _set(texts[last], tail)
        start = match.start() + len(value)


def _lines(paras: Sequence[Para]) -> list[Para]:
    """A paragraph of several lines (a question, an answer) as one paragraph a line: Word stretches a
    justified line that ends in a line break across the page."""
    out = []
    for generated in paras:
        line: list[Run] = []
        for run in generated.runs:
            pieces = run.text.split("\n")
            for n, piece in enumerate(pieces):
                if n:
                    out.append(Para(tuple(line), generated.indent))
                    line = []
                if piece:
                    line.append(Run(piece, run.bold, run.italic))
        out.append(Para(tuple(line), generated.indent))
    return out


def _replace(marker: etree._Element, texts: list[etree._Element], paras: Sequence[Para]) -> None:
    """The marker's paragraph replaced by `paras`, each in its paragraph's and its first run's formatting."""
    ppr = marker.find(_PPR)
    # The last paragraph of a section carries the section's page settings: they stay on one paragraph, the last.
    section = ppr.find(_SECTION) if ppr is not None else None
    if section is not None:
        ppr.remove(section)  # type: ignore[union-attr]
    first_run = next(texts[0].iterancestors(_R), None) if texts else None
    rpr = first_run.find(_RPR) if first_run is not None else None
    p = None
    for generated in _lines(paras) or [Para(())]:  # a table's cell must keep a paragraph
        p = OxmlElement("w:p")
        if ppr is not None:
            p.append(deepcopy(ppr))
        marker.addprevious(p)
        paragraph = Paragraph(p, None)  # type: ignore[arg-type]
        for part in generated.runs:
            run = paragraph.add_run()
            if rpr is not None:
                run._r.insert(0, deepcopy(rpr))
            run.bold = True if part.bold else None
            run.italic = True if part.italic else None
            run.text = part.text
        if generated.indent is not None:
            paragraph.paragraph_format.left_indent = Cm(generated.indent)
    if section is not None and p is not None:
        p.get_or_add_pPr().insert_element_before(section, "w:pPrChange")  # type: ignore[attr-defined]
    marker.getparent().remove(marker)  # type: ignore[union-attr]
