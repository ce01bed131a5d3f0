"""Choices on channels without buttons: offered as a numbered list, answered by number or by name.

The core describes a choice once (a `Reply`'s buttons, or its menu); a channel with buttons
shows buttons, a channel without them shows "1. Thôn Đông / 2. Thôn Tây…" and the resident
types "2", "thon tay", "Thôn Tây" or even "thon tay." with a typo. What the chat was last
offered is remembered when the message is delivered, so a typed answer is read against
what the person actually saw. A label typed instead of pressed on a channel with buttons (the
registration form's steps) is read by the same `pick`, so a resident is understood alike everywhere.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Sequence

from rapidfuzz import fuzz

from bot.domain.messages import Reply
from bot.text.formatting import fold

# A typed name must be this close (rapidfuzz ratio on folded text) to count as a choice…
FUZZY_AT = 80
# …and this much closer than the runner-up, or it is ambiguous.
FUZZY_MARGIN = 8


@dataclass(frozen=True)
class Choice:
    label: str
    data: str | None = None  # a button: the data its press would carry
    text: str | None = None  # a menu entry: typing it is the same as sending its label

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, d: dict) -> "Choice":
        return cls(label=d["label"], data=d.get("data"), text=d.get("text"))


def offered(reply: Reply) -> list[Choice]:
    """The choices a reply offers, numbered in reading order: its buttons, else its menu."""
    if reply.buttons:
        return [Choice(b.label, data=b.data) for row in reply.buttons for b in row]
    if reply.keyboard:
        # Sharing a contact is a phone's feature, not something a number can stand for.
        return [Choice(k.label, text=k.label) for row in reply.keyboard for k in row if not k.request_contact]
    return []


def numbered(text: str, choices: Sequence[Choice]) -> str:
    """The text with its choices listed under it, one a line."""
    if not choices:
        return text
    lines = "\n".join(f"{n}. {c.label}" for n, c in enumerate(choices, 1))
    return f"{text}\n\n{lines}" if text else lines


def _words(text: str) -> str:
    """Folded, without emoji and punctuation: "📝 Đăng ký phát biểu" → "dang ky phat bieu"."""
    return " ".join(re.sub(r"[^\w\s]", " ", fold(text)).split())


@dataclass(frozen=True)
class Picked:
    choice: Choice | None = None
    out_of_range: int | None = None  # a number that is not on the list (the list's length)


def pick(text: str, choices: Sequence[Choice]) -> Picked:
    """Read a typed answer against the choices: a number on the list, a label (any case, with or
    without diacritics, a small typo), or a unique part of a label (a word of it, or its last
    words). Anything else is no choice."""
    if not choices:
        return Picked()
    typed = text.strip().rstrip(".)").strip()
    if re.fullmatch(r"[0-9]+", typed):  # "²" and "①" are str.isdigit() but no number to int(): not a choice
        n = int(typed)
        if 1 <= n <= len(choices):
            return Picked(choices[n - 1])
        # Only a short number reads as a choice; a phone number or a year is an answer of its own.
        return Picked(out_of_range=len(choices)) if len(typed) <= 2 else Picked()
    words = _words(typed)
    if not words:
        return Picked()
    labels = [_words(c.label) for c in choices]
    exact = [c for c, label in zip(choices, labels) if label == words]
    if len(exact) == 1:
        return Picked(exact[0])
    if len(words) >= 3:
        # "Đông" for "Thôn Đông": one word that only one label contains. Not several words from its
        # middle, so a name typed where a name is asked is not taken for a button that holds them.
        holding = [c for c, label in zip(choices, labels) if f" {words} " in f" {label} "]
        if len(holding) == 1 and " " not in words:
            return Picked(holding[0])
        # "phong lam" for "Thôn Phong Lâm": the last words of only one label, the way a village is
        # called without its "Thôn" ("dong" still finds "Thôn Đông" beside "Thôn Đông Hải"). On the
        # name step this takes "Văn An" for the button "👤 Nguyễn Văn An": the name they gave before.
        ending = [c for c, label in zip(choices, labels) if f" {label}".endswith(f" {words}")]
        if len(ending) == 1:
            return Picked(ending[0])
    scores = sorted(((fuzz.ratio(words, label), n) for n, label in enumerate(labels)), reverse=True)
    best, n = scores[0]
    runner_up = scores[1][0] if len(scores) > 1 else 0
    if best >= FUZZY_AT and best - runner_up >= FUZZY_MARGIN:
        return Picked(choices[n])
    return Picked()
