"""Village posters: one printable A4 page per invited village, for the village notice board.

Each page invites that village's residents to the meeting, shows the meeting card in type an
elderly reader can read from a metre away, says in a few numbered steps how to take part by
phone, and carries a large QR code of the Telegram deep link `https://t.me/<bot>?start=v<village
id>` (and, when the commune has one, a second one for Zalo), with the link printed under it.
Scanning it opens the bot with that village already chosen (bot/conversation/flows/consent.py).

Every text is the catalogue's. The font, Be Vietnam Pro, ships inside a PyPI package
(fontpkg-be-vietnam-pro) and is embedded in the PDF, so every diacritic prints on any machine;
the QR codes are vector shapes (segno), sharp at any printer resolution.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from pathlib import Path

import segno
from fpdf import FPDF
from fpdf.enums import Align, MethodReturnValue, PathPaintRule, WrapMode

from bot.domain.errors import ServiceError
from bot.domain.validation import printable
from bot.text.catalogue import Translator
from bot.text.formatting import date, local, time, weekday, when
from storage.uow import UnitOfWork

FONT = "Be Vietnam Pro"
FAMILY = "poster"

# A4 portrait, in millimetres.
PAGE_W, PAGE_H = 210.0, 297.0
MARGIN_X, MARGIN_TOP, MARGIN_BOTTOM = 15.0, 12.0, 10.0
CONTENT_W = PAGE_W - 2 * MARGIN_X
PT = 25.4 / 72  # one typographic point, in millimetres

# Colours that still read well from a black-and-white office printer.
RED = (176, 24, 24)
INK = (26, 26, 26)
GREY = (85, 85, 85)
CARD_FILL = (255, 246, 222)
CARD_LINE = (222, 178, 80)
WHITE = (255, 255, 255)

# The side of a QR code (quiet zone included): as large as the page allows, within these bounds.
QR_MAX, QR_MIN = 72.0, 45.0
CODE_COLUMN = 80.0  # beside the steps, when there is one code
CARD_PAD = 6.0
LABEL_W = 54.0
STEP_INDENT = 12.0
GAP = 4.0  # the least space between two blocks; what the page has left is shared among them

USERNAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{3,31}")


class PosterError(ServiceError, ValueError):
    pass


def telegram_link(username: str, village_id: int) -> str:
    """The deep link a village's poster carries: Telegram opens the bot and sends `/start v<id>`."""
    return f"https://t.me/{username}?start=v{village_id}"


def zalo_village_link(template: str, village_id: int) -> str:
    """The commune's Zalo address for one village: `{village_id}`, if the template has it, becomes the id."""
    return template.replace("{village_id}", str(village_id))


def _username(value: str) -> str:
    name = value.strip().removeprefix("https://t.me/").removeprefix("@").strip("/")
    if not USERNAME.fullmatch(name):
        raise PosterError("problem.poster.bad_username", value=value)
    return name


def _zalo_template(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    # Zalo passes nothing like Telegram's /start payload to a bot: without `{village_id}` the code
    # opens the chat and the resident picks the village there.
    if not value.startswith(("https://", "http://")) or " " in value:
        raise PosterError("problem.poster.bad_zalo_link", value=value)
    return value


def _nfc(text: str) -> str:
    # A composed "ộ" is one glyph of the font; a decomposed one would need text shaping to stack its marks.
    # Control characters a stored name may hold have no glyph at all: dropped, not printed as boxes.
    return printable(text)


@dataclass(frozen=True)
class _Code:
    app: str  # the app's name, above its code
    link: str


@dataclass(frozen=True)
class _Page:
    """Everything one village's poster says, already in the reader's language."""

    commune: str
    kicker: str
    title: str
    meeting_title: str
    rows: tuple[tuple[str, str], ...]  # the meeting card: (label, value)
    how: str
    steps: tuple[str, ...]
    paper: str
    codes: tuple[_Code, ...]


async def render_posters(
    uow: UnitOfWork,
    meeting_code: str,
    *,
    telegram_username: str,
    zalo_link: str | None = None,
    lang: str = "vi",
) -> bytes:
    """A PDF with one A4 poster per village the meeting invites, in the plan's order.

    `telegram_username` is the bot's (with or without "@"); `zalo_link` an address with
    `{village_id}` in it: when given, each poster carries a Zalo QR code beside the Telegram one."""
    username = _username(telegram_username)
    zalo = _zalo_template(zalo_link)
    meeting = await uow.meetings.by_code(meeting_code)
    if meeting is None:
        raise PosterError("problem.no_meeting", code=meeting_code)
    commune = await uow.communes.get(meeting.commune_id)
    assert commune is not None and meeting.id is not None
    villages = await uow.meetings.invited_villages(meeting.id)
    if not villages:
        raise PosterError("problem.poster.no_village", code=meeting_code)

    tr = Translator(lang)
    start = local(meeting.starts_at, commune.timezone)
    end = local(meeting.ends_at, commune.timezone)
    rows = (
        (tr("poster.label_when"), tr("poster.when", weekday=weekday(start, tr.lang), date=date(start), start=time(start), end=time(end))),
        (tr("poster.label_venue"), meeting.venue),
        (tr("poster.label_deadline"), when(meeting.registration_closes_at, commune.timezone, tr)),
    )
    both = zalo is not None
    steps = (
        tr("poster.step_scan_zalo" if both else "poster.step_scan"),
        tr("poster.step_start_zalo" if both else "poster.step_start", accept=tr("consent.accept"), commune=commune.name),
        tr("poster.step_ask"),
    )
    pages = []
    for village in villages:
        assert village.id is not None
        codes = [_Code(tr("channel.telegram"), telegram_link(username, village.id))]
        if zalo is not None:
            codes.append(_Code(tr("channel.zalo"), zalo_village_link(zalo, village.id)))
        pages.append(
            _Page(
                commune=_nfc(commune.name),
                kicker=_nfc(tr("poster.kicker")),
                title=_nfc(tr("poster.title", village=village.name)),
                meeting_title=_nfc(meeting.title),
                rows=tuple((_nfc(label), _nfc(value)) for label, value in rows),
                how=_nfc(tr("poster.how")),
                steps=tuple(_nfc(step) for step in steps),
                paper=_nfc(tr("poster.paper")),
                codes=tuple(codes),
            )
        )
    # Laying out and compressing the pages is CPU work: keep it off the event loop.
    return await asyncio.to_thread(_pdf, pages, _nfc(meeting.title), tr.lang)


@lru_cache(maxsize=None)
def _font_files() -> dict[str, Path]:
    import fontpkg

    try:
        return {"": fontpkg.path(FONT, 400), "B": fontpkg.path(FONT, 700)}
    except fontpkg.FontpkgError as exc:
        raise PosterError("problem.poster.no_font", font=FONT) from exc


def _pdf(pages: list[_Page], title: str, lang: str) -> bytes:
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_margins(MARGIN_X, MARGIN_TOP, MARGIN_X)
    pdf.c_margin = 0
    for style, path in _font_files().items():
        pdf.add_font(FAMILY, style, str(path))
    pdf.set_title(title)
    pdf.set_creator("doithoai")
    pdf.set_lang(lang)
    for page in pages:
        pdf.add_page()
        _Layout.fit(pdf, page).draw()
    return bytes(pdf.output())


# ------------------------------------------------------------------------------------ layout


@dataclass(frozen=True)
class _Sizes:
    """Font sizes in points. A long title or venue shrinks them together, never below 75 %."""

    commune: float = 19
    kicker: float = 14
    title: float = 32
    meeting: float = 16
    label: float = 12.5
    value: float = 19
    how: float = 19
    step: float = 17
    app: float = 18
    link: float = 13
    paper: float = 13

    def scaled(self, scale: float) -> "_Sizes":
        return replace(self, **{f.name: getattr(self, f.name) * scale for f in fields(self)})


def _lead(size: float, leading: float = 1.25) -> float:
    """The height of one line of `size` points."""
    return size * PT * leading


class _Layout:
    """One poster laid out top to bottom: header, invitation, meeting card, steps and QR codes, note.

    With one code, the steps and the code stand side by side; with two, the codes stand in a row
    under the steps."""

    def __init__(self, pdf: FPDF, page: _Page, sizes: _Sizes) -> None:
        self.pdf, self.page, self.s = pdf, page, sizes
        s = sizes
        self.side = len(page.codes) == 1
        self.steps_w = CONTENT_W - CODE_COLUMN - 6 if self.side else CONTENT_W
        self.code_w = CODE_COLUMN if self.side else CONTENT_W / len(page.codes)
        self.link_size = min(self._fitting(code.link, self.code_w - 4, s.link, "B") for code in page.codes)
        inner = CONTENT_W - 2 * CARD_PAD
        self.header_h = _lead(s.commune) + 2 + 1.2 + 3 + _lead(s.kicker)
        self.title_h = self._height(page.title, CONTENT_W, s.title, "B", 1.15)
        self.meeting_h = self._height(page.meeting_title, inner, s.meeting, "B")
        self.row_h = [
            max(self._height(label, LABEL_W - 3, s.label, "B"), self._height(value, inner - LABEL_W, s.value, "B")) for label, value in page.rows
        ]
        self.card_h = 2 * CARD_PAD + self.meeting_h + sum(h + 5 for h in self.row_h)
        self.how_h = self._height(page.how, CONTENT_W, s.how, "B")
        self.step_h = [self._height(step, self.steps_w - STEP_INDENT, s.step) for step in page.steps]
        self.steps_h = sum(self.step_h) + 3 * (len(self.step_h) - 1)
        self.link_h = max(self._height(code.link, self.code_w - 4, self.link_size, "B", wrap=WrapMode.CHAR) for code in page.codes)
        self.paper_h = self._height(page.paper, CONTENT_W, s.paper)
        # Everything but the QR squares, then the room they get.
        fixed = self.header_h + self.title_h + self.card_h + self.how_h + 2 + self.paper_h + 5 * GAP
        codes_text = _lead(s.app) + 2 + 2 + self.link_h
        room = PAGE_H - MARGIN_TOP - MARGIN_BOTTOM - fixed
        if self.side:
            self.qr = min(QR_MAX, self.code_w - 4, room - codes_text)
            self.fits = room >= self.steps_h and self.qr >= QR_MIN
            bottom = max(self.steps_h, codes_text + self.qr)
        else:
            self.qr = min(QR_MAX, self.code_w - 12, room - self.steps_h - GAP - codes_text)
            self.fits = self.qr >= QR_MIN
            bottom = self.steps_h + GAP + codes_text + self.qr
        self.spare = max(0.0, room - bottom)

    @classmethod
    def fit(cls, pdf: FPDF, page: _Page) -> "_Layout":
        """The largest type that leaves the QR codes their room on one page."""
        for step in range(6):
            layout = cls(pdf, page, _Sizes().scaled(1 - 0.05 * step))
            if layout.fits:
                return layout
        raise PosterError("problem.poster.too_long", title=page.title)

    def _height(self, text: str, width: float, size: float, style: str = "", leading: float = 1.25, wrap: WrapMode = WrapMode.WORD) -> float:
        self.pdf.set_font(FAMILY, style, size)
        return self.pdf.multi_cell(width, _lead(size, leading), text, dry_run=True, output=MethodReturnValue.HEIGHT, wrapmode=wrap)

    def _fitting(self, text: str, width: float, size: float, style: str) -> float:
        """`size`, or smaller (down to 10 pt) until `text` fits on one line of `width`."""
        while size > 10:
            self.pdf.set_font(FAMILY, style, size)
            if self.pdf.get_string_width(text) <= width:
                break
            size -= 0.5
        return size

    def _text(self, x: float, y: float, w: float, text: str, size: float, style: str = "", colour: tuple[int, int, int] = INK,
              align: Align = Align.L, leading: float = 1.25,
              wrap: WrapMode = WrapMode.WORD) -> None:
        pdf = self.pdf
        pdf.set_text_color(*colour)
        pdf.set_font(FAMILY, style, size)
        pdf.set_xy(x, y)
        pdf.multi_cell(w, _lead(size, leading), text, align=align, wrapmode=wrap)

    def draw(self) -> None:
        pdf, page, s = self.pdf, self.page, self.s
        x0, y = MARGIN_X, MARGIN_TOP
        gap = GAP + min(self.spare / 5, 8)  # share what is left, within reason; the rest goes above the note

        # The commune, a short red rule, "THÔNG BÁO".
        self._text(x0, y, CONTENT_W, page.commune.upper(), s.commune, "B", align=Align.C)
        y += _lead(s.commune) + 2
        pdf.set_fill_color(*RED)
        pdf.rect(x0 + CONTENT_W / 2 - 25, y, 50, 1.2, style="F")
        y += 1.2 + 3
        pdf.set_char_spacing(2)
        self._text(x0, y, CONTENT_W, page.kicker, s.kicker, "B", RED, Align.C)
        pdf.set_char_spacing(0)
        y += _lead(s.kicker) + gap

        # The invitation, big.
        self._text(x0, y, CONTENT_W, page.title, s.title, "B", RED, Align.C, leading=1.15)
        y += self.title_h + gap

        # The meeting card: its title, then a row for when, where and the registration deadline.
        pdf.set_fill_color(*CARD_FILL)
        pdf.set_draw_color(*CARD_LINE)
        pdf.set_line_width(0.6)
        pdf.rect(x0, y, CONTENT_W, self.card_h, style="DF", round_corners=True, corner_radius=4)
        inner = CONTENT_W - 2 * CARD_PAD
        cx, cy = x0 + CARD_PAD, y + CARD_PAD
        self._text(cx, cy, inner, page.meeting_title, s.meeting, "B", align=Align.C)
        cy += self.meeting_h
        for (label, value), row_h in zip(page.rows, self.row_h):
            cy += 2.5
            pdf.set_line_width(0.3)
            pdf.line(cx, cy, cx + inner, cy)
            cy += 2.5
            # The label sits on the value's first line.
            self._text(cx, cy + (_lead(s.value) - _lead(s.label)) / 2, LABEL_W - 3, label, s.label, "B", GREY)
            self._text(cx + LABEL_W, cy, inner - LABEL_W, value, s.value, "B")
            cy += row_h
        y += self.card_h + gap

        # How to take part: a heading, then numbered steps.
        self._text(x0, y, CONTENT_W, page.how, s.how, "B", RED)
        y += self.how_h + 2
        top = y
        for number, (step, step_h) in enumerate(zip(page.steps, self.step_h), 1):
            line = _lead(s.step)
            radius = line * 0.4
            pdf.set_fill_color(*RED)
            pdf.circle(x0 + radius, y + line / 2, radius, style="F")
            pdf.set_xy(x0, y)
            pdf.set_text_color(*WHITE)
            pdf.set_font(FAMILY, "B", s.step * 0.85)
            pdf.cell(2 * radius, line, str(number), align=Align.C)
            self._text(x0 + STEP_INDENT, y, self.steps_w - STEP_INDENT, step, s.step)
            y += step_h + 3

        # The QR codes, each under its app's name and over its link: beside the steps, or in a row under them.
        if self.side:
            codes_h = _lead(s.app) + 2 + self.qr + 2 + self.link_h
            y = top + max(0.0, (self.steps_h - codes_h) / 2)
            left = x0 + CONTENT_W - self.code_w
        else:
            y = top + self.steps_h + gap
            left = x0
        for i, code in enumerate(page.codes):
            column_x = left + i * self.code_w
            self._text(column_x, y, self.code_w, code.app, s.app, "B", align=Align.C)
            qr_y = y + _lead(s.app) + 2
            _qr(pdf, code.link, column_x + (self.code_w - self.qr) / 2, qr_y, self.qr)
            self._text(column_x + 2, qr_y + self.qr + 2, self.code_w - 4, code.link, self.link_size, "B", align=Align.C, wrap=WrapMode.CHAR)

        # For those without a smartphone, at the foot of the page.
        foot = PAGE_H - MARGIN_BOTTOM - self.paper_h
        pdf.set_draw_color(*CARD_LINE)
        pdf.set_line_width(0.3)
        pdf.line(x0, foot - 3, x0 + CONTENT_W, foot - 3)
        self._text(x0, foot, CONTENT_W, page.paper, s.paper, colour=GREY, align=Align.C)


def _qr(pdf: FPDF, data: str, x: float, y: float, side: float) -> None:
    """A QR code as one filled vector path (no seams between modules); `side` includes the quiet zone."""
    qr = segno.make_qr(data, error="m", boost_error=True)
    rows = list(qr.matrix_iter(scale=1, border=4))
    module = side / len(rows)
    with pdf.new_path(paint_rule=PathPaintRule.FILL_NONZERO) as path:
        path.style.fill_color = "#000000"
        for r, row in enumerate(rows):
            c = 0
            while c < len(row):
                if not row[c]:
                    c += 1
                    continue
                end = c
                while end < len(row) and row[end]:
                    end += 1
                path.rectangle(x + c * module, y + r * module, (end - c) * module, module)
                c = end
