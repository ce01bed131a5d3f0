"""What goes into the conversation core and what comes out, with no channel's terms in it.

Channels turn their updates into an `Event` and render each `Reply` their own way: inline
buttons on Telegram, a numbered list where a platform has no buttons, a prompt in the console.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Awaitable, Callable


class Kind(str, Enum):
    TEXT = "text"
    COMMAND = "command"
    BUTTON = "button"
    CONTACT = "contact"
    UNSUPPORTED = "unsupported"  # sticker, photo, voice, file… where the bot reads only text


class FileUnavailable(Exception):
    """A file a person sent could not be fetched from the platform (gone, too big for it, network)."""


@dataclass(frozen=True)
class FileRef:
    """A photo or file a person sent, fetched only when a flow needs its bytes (residents' never are)."""

    kind: str  # "photo" | "document" | "voice" (a voice note or an audio file)
    filename: str
    mime_type: str
    size: int | None  # as the platform declared it, before any download
    fetch: Callable[[], Awaitable[bytes]] = field(compare=False, repr=False)  # raises FileUnavailable
    seconds: int | None = None  # a voice note's length, as the platform declared it


@dataclass(frozen=True)
class Event:
    channel: str
    user_id: str
    chat_id: str
    kind: Kind
    update_id: str | None = None
    text: str = ""
    command: str | None = None  # lower case, without "/" or "@botname"
    args: str = ""  # what follows the command, e.g. a deep-link payload after /start
    data: str | None = None  # the pressed button's data
    message_ref: str | None = None  # the message carrying the pressed button
    phone: str | None = None
    contact_is_own: bool = True
    private: bool = True
    language: str | None = None
    bot_link: str | None = None  # where a group member can open the private chat
    file: FileRef | None = None  # a photo or file (kind stays UNSUPPORTED; its caption is the text)


_NUMBER = re.compile(r"[0-9]{1,9}")


def number(text: str) -> int | None:
    """A whole number as typed or carried in button data or a deep link; None for anything else.
    ASCII digits only: str.isdigit() is also true of "²" and "①", which int() refuses, and int()
    takes "１" and "٣", which no one types on a Vietnamese keyboard. At most 9 digits, so it fits
    the database's ids (a longer one would be refused by PostgreSQL rather than found missing)."""
    return int(text) if _NUMBER.fullmatch(text) else None


def split_command(text: str) -> tuple[str, str] | None:
    """"/dangky v12" → ("dangky", "v12"); None when the text is not a command."""
    if not text.startswith("/") or len(text) < 2:
        return None
    head, _, args = text[1:].partition(" ")
    return head, args.strip()


def typed_event(text: str, **base: Any) -> Event:
    """What a person typed, on a channel where a command is just text that starts with "/"."""
    found = split_command(text)
    if found is None:
        return Event(kind=Kind.TEXT, text=text, **base)
    command, args = found
    return Event(kind=Kind.COMMAND, text=text, command=command.lower(), args=args, **base)


@dataclass(frozen=True)
class Button:
    """An inline choice: a label and the data that comes back when it is chosen."""

    label: str
    data: str


@dataclass(frozen=True)
class KeyButton:
    """A persistent menu/keyboard button; pressing it sends its label as text (or the contact)."""

    label: str
    request_contact: bool = False


@dataclass
class Reply:
    text: str = ""
    buttons: list[list[Button]] = field(default_factory=list)
    keyboard: list[list[KeyButton]] | None = None  # set this menu; None leaves the current one
    one_time_keyboard: bool = False
    remove_keyboard: bool = False
    location: tuple[float, float] | None = None  # sent as a map pin after the text
    document: int | None = None  # an attachment's id: a file sent after the text
    retire_buttons_of: str | None = None  # take the buttons off an earlier message (no text sent)

    def to_payload(self) -> dict[str, Any]:
        # What dataclasses.asdict gives, written out: every reply is stored, and asdict's generic
        # deep copy cost more than the rest of storing it.
        return {
            "text": self.text,
            "buttons": [[{"label": b.label, "data": b.data} for b in row] for row in self.buttons],
            "keyboard": None if self.keyboard is None else [[{"label": k.label, "request_contact": k.request_contact} for k in row] for row in self.keyboard],
            "one_time_keyboard": self.one_time_keyboard,
            "remove_keyboard": self.remove_keyboard,
            "location": None if self.location is None else tuple(self.location),
            "document": self.document,
            "retire_buttons_of": self.retire_buttons_of,
        }

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> "Reply":
        return cls(
            text=data.get("text", ""),
            buttons=[[Button(**b) for b in row] for row in data.get("buttons", [])],
            keyboard=None if data.get("keyboard") is None else [[KeyButton(**b) for b in row] for row in data["keyboard"]],
            one_time_keyboard=data.get("one_time_keyboard", False),
            remove_keyboard=data.get("remove_keyboard", False),
            location=tuple(data["location"]) if data.get("location") else None,  # type: ignore[arg-type]
            document=data.get("document"),
            retire_buttons_of=data.get("retire_buttons_of"),
        )


@dataclass
class Outcome:
    """What handling one event produced."""

    replies: list[Reply] = field(default_factory=list)
    toast: str | None = None  # the short answer to a button press (answerCallbackQuery)
    duplicate: bool = False  # the update had been processed before

    def say(self, *replies: Reply) -> "Outcome":
        self.replies.extend(replies)
        return self
