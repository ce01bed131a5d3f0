"""What a button carries: one typed codec per kind of button, packed as "prefix:field:field".

A button's data is built where its message is written (a flow, or a service: the answer's "👍 / 👎"
buttons) and read back by the flow that handles the press, so both sides use the same class here,
under the services. The wire format is the one buttons already in residents' chats carry, so a
button sent before an upgrade still works after it.

Data from a press is hostile input: `read()` gives the typed button, or None for anything malformed
(unknown prefix, wrong number of fields, a number that is not ASCII digits), never an exception.
Telegram refuses callback data over 64 bytes, so packing longer data is a bug caught at once.
"""

from __future__ import annotations

import functools
from dataclasses import MISSING, dataclass, fields
from typing import ClassVar, Literal, get_args, get_type_hints

from bot.domain.messages import number

LIMIT = 64  # bytes of callback_data Telegram accepts


@dataclass(frozen=True)
class Callback:
    prefix: ClassVar[str]

    def pack(self) -> str:
        values = [getattr(self, f.name) for f in fields(self)]
        # An empty optional last field is left off ("f:ab12cd:send", not "f:ab12cd:send:").
        while values and values[-1] == "" and _optional(fields(self)[len(values) - 1]):
            values.pop()
        data = ":".join([self.prefix, *(str(v) for v in values)])
        if len(data.encode()) > LIMIT or any(":" in str(v) for v in values):
            raise ValueError(f"{type(self).__name__} cannot be packed into a button: {data!r}")
        return data

    @classmethod
    def unpack(cls, data: str) -> "Callback | None":
        prefix, *parts = data.split(":")
        own, required = _shape(cls)
        if prefix != cls.prefix or not required <= len(parts) <= len(own):
            return None
        values: dict[str, object] = {}
        for (name, kind, words), raw in zip(own, parts):
            if kind is int:
                value = number(raw)
                if value is None:
                    return None
                values[name] = value
            elif words and raw not in words:  # a Literal: one of its words only
                return None
            else:
                values[name] = raw
        return cls(**values)  # type: ignore[arg-type]


@functools.cache
def _shape(cls: type[Callback]) -> tuple[list[tuple[str, object, tuple]], int]:
    """A kind's fields (name, type, a Literal's words) and how many are required: worked out once,
    as every button press reads one."""
    hints = get_type_hints(cls)
    own = fields(cls)
    return [(f.name, hints[f.name], get_args(hints[f.name])) for f in own], sum(not _optional(f) for f in own)


def _optional(f) -> bool:  # type: ignore[no-untyped-def]
    return f.default is not MISSING


@dataclass(frozen=True)
class Consent(Callback):
    """Consent to the data notice; `start` carries a poster's payload ("v12": that village's form)."""

    prefix: ClassVar[str] = "c"
    answer: Literal["y", "n"]
    start: str = ""


@dataclass(frozen=True)
class Forget(Callback):
    """/xoadulieu's confirmation: erase, or keep."""

    prefix: ClassVar[str] = "x"
    answer: Literal["y", "n"]


@dataclass(frozen=True)
class Form(Callback):
    """A step of the registration form. `token` is the form's own: a button from an earlier form,
    or from a step already passed, no longer matches and is refused as expired."""

    prefix: ClassVar[str] = "f"
    token: str
    action: str
    value: str = ""


@dataclass(frozen=True)
class Withdraw(Callback):
    """"Withdraw GP-0007" under the resident's list of questions; asks before doing it."""

    prefix: ClassVar[str] = "w"
    submission_id: int


@dataclass(frozen=True)
class WithdrawYes(Callback):
    prefix: ClassVar[str] = "wy"
    submission_id: int


@dataclass(frozen=True)
class WithdrawNo(Callback):
    prefix: ClassVar[str] = "wn"
    submission_id: int


@dataclass(frozen=True)
class Feedback(Callback):
    """"👍 Hài lòng" / "👎 Chưa hài lòng" under an answer; a press on an older revision of the answer is stale."""

    prefix: ClassVar[str] = "fb"
    submission_id: int
    revision: int
    satisfied: Literal["y", "n"]


@dataclass(frozen=True)
class FollowupDone(Callback):
    """"Không có gì thêm" under "what is still unresolved?": the follow-up stands without a text."""

    prefix: ClassVar[str] = "fu"
    submission_id: int


@dataclass(frozen=True)
class VillageNotice(Callback):
    """A village head's notice: pick the village, send, or cancel; `token` as in `Form`."""

    prefix: ClassVar[str] = "vh"
    token: str
    action: Literal["v", "send", "cancel"]
    value: str = ""


KINDS: tuple[type[Callback], ...] = (Consent, Forget, Form, Withdraw, WithdrawYes, WithdrawNo, Feedback, FollowupDone, VillageNotice)
_BY_PREFIX = {kind.prefix: kind for kind in KINDS}


def read(data: str) -> Callback | None:
    """The typed button a press carries, or None when it is no button of ours."""
    kind = _BY_PREFIX.get(data.partition(":")[0])
    return kind.unpack(data) if kind is not None else None
