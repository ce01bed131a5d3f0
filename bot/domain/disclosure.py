"""What a page anyone can read may show of what residents wrote: their question stays, the names and
phone numbers in it do not (the meeting's public page, bot/services/public.py).

A resident sometimes signs the question itself ("Tôi là Nguyễn Văn An, số 0912 345 678, xin hỏi…"),
or names a neighbour who also registered. Their stored name and phone are known, so they are looked
for in every form a person types them: any case, with or without diacritics, any spacing, a number
written 0912.345.678 or +84 912 345 678. On top of that, in a question, anything shaped like a
Vietnamese phone number and any run of nine or more digits (a citizen's ID card, CCCD/CMND) is
covered whoever it belongs to. Answers are written by staff and may give the commune's own hotline:
only the residents' known names and numbers are covered there.

Pure rules: no imports from the rest of the application.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable

MASK = "***"

# 0 or +84 (84 alone only before a mobile's own digits), then 8–10 digits, a space, dot or hyphen
# allowed between any two; never in the middle of a longer number or a word.
_PHONE_SHAPED = re.compile(r"(?<![\w+])(?:\+\s?84|0084|84(?=[35789]\d{8}(?!\d))|0)(?:[ .\-]?\d){8,10}(?!\d)")
# A run of digits no amount is written as (amounts carry dots: 100.000.000): an ID card's number.
_LONG_NUMBER = re.compile(r"(?<!\d)\d{9,}(?!\d)")


def _fold_char(ch: str, *, case: bool) -> str:
    """One character without its diacritics (đ as d), lower-cased unless `case`: always exactly one character,
    so that a match in the folded text is at the same place in the original."""
    base = "".join(c for c in unicodedata.normalize("NFD", ch.replace("đ", "d").replace("Đ", "D")) if unicodedata.category(c) != "Mn")
    base = (base or ch)[0]
    return base if case else (base.casefold() or base)[0]


def _folded(text: str, *, case: bool) -> str:
    return "".join(_fold_char(ch, case=case) for ch in text)


@dataclass(frozen=True)
class Person:
    """What is known of one resident who wrote to the meeting: what must not appear on a public page."""

    name: str | None = None
    phone: str | None = None


_WORD = re.compile(r"\w+")
# Digits as a number is typed: groups of digits with one space, dot or hyphen between them, "+" before.
_DIGIT_RUN = re.compile(r"(?<![\w+])\+?\s?\d+(?:[ .\-]\d+)*(?!\w)")
_MOST_GROUPS = 12  # "0 9 1 2 3 4 5 6 7 8": a number typed digit by digit is still found


def _words(text: str) -> list[str]:
    return _WORD.findall(text)


def _digits_forms(phone: str) -> set[str]:
    """A stored number's digits as they may be typed: 0912345678 also as 84912345678 and 0084912345678."""
    digits = re.sub(r"\D", "", phone)
    if len(digits) < 6:
        return set()
    return {digits, "84" + digits[1:], "0084" + digits[1:]} if digits.startswith("0") else {digits, "00" + digits}


class Masker:
    """Built once for a page from everyone who wrote to the meeting, then used for each of its texts.

    Names are compared word by word against sets (no pattern of thousands of alternatives): a name of
    two words or more in any case; a single word ("An", "Hoa") only capitalised as a name, since in
    lower case it is a word too. Numbers are compared by their digits, whatever separates them."""

    def __init__(self, people: Iterable[Person]) -> None:
        self._names: set[tuple[str, ...]] = set()  # folded, lower case
        self._single: set[str] = set()  # folded, case kept
        self._numbers: set[str] = set()
        for person in people:
            if person.name:
                words = _words(_folded(person.name, case=True))
                if len(words) == 1 and len(words[0]) >= 2:
                    self._single.add(words[0])
                elif len(words) > 1:
                    self._names.add(tuple(w.casefold() for w in words))
            if person.phone:
                self._numbers |= _digits_forms(person.phone)
        self._lengths = sorted({len(n) for n in self._names}, reverse=True)

    def _name_spans(self, text: str) -> list[tuple[int, int]]:
        spans: list[tuple[int, int]] = []
        if not (self._names or self._single):
            return spans
        found = list(_WORD.finditer(_folded(text, case=True)))
        lower = [m.group().casefold() for m in found]
        for i, m in enumerate(found):
            if m.group() in self._single:
                spans.append(m.span())
            for n in self._lengths:
                if i + n <= len(lower) and tuple(lower[i:i + n]) in self._names:
                    spans.append((m.start(), found[i + n - 1].end()))
                    break
        return spans

    def _number_spans(self, text: str) -> list[tuple[int, int]]:
        spans: list[tuple[int, int]] = []
        if not self._numbers:
            return spans
        for run in _DIGIT_RUN.finditer(text):
            groups = [(run.start() + g.start(), run.start() + g.end(), g.group()) for g in re.finditer(r"\d+", run.group())]
            for i in range(len(groups)):
                digits = ""
                for j in range(i, min(len(groups), i + _MOST_GROUPS)):
                    digits += groups[j][2]
                    if digits in self._numbers:
                        # A "+" typed before the number goes with it.
                        plus = re.search(r"\+\s?$", text[run.start():groups[i][0]])
                        spans.append((run.start() + plus.start() if plus else groups[i][0], groups[j][1]))
        return spans

    def __call__(self, text: str, *, any_number: bool = True) -> str:
        """`text` with every known name and number replaced by "***"; with `any_number` (a resident's
        question), every phone-shaped number and long run of digits as well. Overlapping finds are one "***"."""
        spans = self._name_spans(text) + self._number_spans(text)
        if any_number:
            spans += [m.span() for m in _PHONE_SHAPED.finditer(text)] + [m.span() for m in _LONG_NUMBER.finditer(text)]
        merged: list[list[int]] = []
        for start, end in sorted(spans):
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            elif end > start:
                merged.append([start, end])
        out, at = [], 0
        for start, end in merged:
            out += [text[at:start], MASK]
            at = end
        return "".join(out) + text[at:]


def masked(text: str, people: Iterable[Person], *, any_number: bool = True) -> str:
    """`text` masked for `people` alone (a page masks many texts: build one Masker for them all)."""
    return Masker(people)(text, any_number=any_number)
