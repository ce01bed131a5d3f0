"""What text may be stored, in one place: every door (each channel, the console, the spreadsheet
import, the command line, plan files) cleans what comes in with `line` or `block`, and every export
passes what is already stored through `printable`.

Why: a NUL byte is accepted by SQLite and JSON but refused by PostgreSQL's text columns, so a
resident's name holding one failed only at "✅ Gửi"; other control characters, lone surrogates
and noncharacters are refused by the XML inside Word and Excel files. None of them is anything a
person meant to type, so a door refuses them (the person is told and types again) rather than
guessing, and an export drops them rather than failing on rows stored before these rules.

At the end, what a registration's name, question and phone number must be (the bounds the form
tells the resident, the shape of a Vietnamese phone number), apart from the chat that asks for them.

No imports from the rest of the application but bot.domain: anything may use this module.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

from bot.domain.errors import ServiceError

# Whitespace that ends a line: Word pastes its manual line break as a vertical tab, and some
# programs use form feed, NEL or the Unicode line and paragraph separators.
_LINE_BREAKS = re.compile("\r\n|[\r\x0b\x0c\x85\u2028\u2029]")


class BadText(ServiceError, ValueError):
    """Text holding a character nobody types; `char` is the first such character."""

    def __init__(self, char: str) -> None:
        super().__init__("problem.text.bad_char", code=f"U+{ord(char):04X}")
        self.char = char


def _noncharacter(code: int) -> bool:
    return 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE


def _refused(ch: str) -> bool:
    """Not text: C0 and C1 controls (tab and line breaks aside), NUL among them, lone surrogates, noncharacters."""
    if ch in "\t\n":
        return False
    category = unicodedata.category(ch)
    return category in ("Cc", "Cs") or _noncharacter(ord(ch))


def first_refused(text: str) -> str | None:
    """The first character `line` and `block` refuse (after line breaks are made plain), or None."""
    return next((ch for ch in _LINE_BREAKS.sub("\n", text) if _refused(ch)), None)


def _check(text: str) -> str:
    bad = first_refused(text)
    if bad is not None:
        raise BadText(bad)
    return unicodedata.normalize("NFC", _LINE_BREAKS.sub("\n", text))


def line(text: str) -> str:
    """A single-line field (a name, a village, a topic, a department): NFC, every run of
    whitespace (line breaks and tabs included) one space, trimmed. Raises BadText."""
    return " ".join(_check(text).split())


def block(text: str) -> str:
    """A multi-line field (a question, an answer, a notice): NFC, line breaks kept as "\\n", tabs
    and other spaces within a line one space, at most one empty line in a row, trimmed. Raises BadText."""
    lines = [" ".join(part.split()) for part in _check(text).split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def printable(text: str) -> str:
    """What is already stored, made safe for an export (Word, Excel, PDF): NFC, with every
    character the doors refuse dropped and line breaks made plain. Never raises."""
    text = _LINE_BREAKS.sub("\n", text)
    return unicodedata.normalize("NFC", "".join(ch for ch in text if not _refused(ch)))


def has_letters(text: str) -> bool:
    """True when some character is a letter of any script (not a digit, emoji, symbol or punctuation)."""
    return any(unicodedata.category(ch).startswith("L") for ch in text)


def has_digits(text: str) -> bool:
    return any(unicodedata.category(ch) == "Nd" for ch in text)


# A person's name: letters and their combining marks, spaces, and the punctuation names carry
# (the apostrophe of H'Hen Niê, a hyphen, a full stop after an initial).
_NAME_CATEGORIES = ("L", "M", "Zs", "Pd", "Po", "Pi", "Pf")


def is_name(text: str) -> bool:
    """Letters (any script) with the spaces and punctuation of names, and at least one letter."""
    return has_letters(text) and all(unicodedata.category(ch).startswith(_NAME_CATEGORIES) for ch in text)


# --- a registration's fields: a name, a question, a phone number ----------------------------
# The bounds the form tells the resident ("từ 2 đến 100 ký tự"), checked on text already made a
# `line` (a name) or a `block` (a question).

NAME_MIN, NAME_MAX = 2, 100
QUESTION_MIN, QUESTION_MAX = 10, 3000

NameProblem = Literal["length", "digits", "letters"]
QuestionProblem = Literal["short", "long", "words"]


def name_problem(name: str) -> NameProblem | None:
    """Why `name` cannot be stored as a person's name, or None. A leading "/" is a command typed
    where the name was asked, not a name."""
    if not (NAME_MIN <= len(name) <= NAME_MAX):
        return "length"
    if has_digits(name):
        return "digits"
    if not is_name(name) or name.startswith("/"):
        return "letters"
    return None


def question_problem(question: str) -> QuestionProblem | None:
    """Why `question` cannot be stored, or None. Emoji or punctuation alone is nothing staff could
    read out or answer."""
    if len(question) < QUESTION_MIN:
        return "short"
    if len(question) > QUESTION_MAX:
        return "long"
    if not has_letters(question):
        return "words"
    return None


# Vietnamese numbers: mobiles 0[35789] and eight digits, landlines 02 and nine digits.
_VN_MOBILE = re.compile(r"^0[35789]\d{8}$")
_VN_LANDLINE = re.compile(r"^02\d{9}$")


def normalise_phone(raw: str, *, from_contact: bool = False) -> str | None:
    """Vietnamese numbers as 0xxxxxxxxx; others as +digits. None when it is not a phone number.
    A shared contact's number is the phone's own, so its country code needs no "+"."""
    raw = raw.strip()
    if not re.fullmatch(r"\+?[\d\s().-]{8,20}", raw):
        return None
    digits = re.sub(r"\D", "", raw)
    if digits.startswith("84") and len(digits) in (11, 12) and (raw.startswith("+") or from_contact or len(digits) == 11):
        digits = "0" + digits[2:]
    if _VN_MOBILE.match(digits) or _VN_LANDLINE.match(digits):
        return digits
    if (raw.startswith("+") or from_contact) and 8 <= len(digits) <= 15:
        return "+" + digits
    return None
