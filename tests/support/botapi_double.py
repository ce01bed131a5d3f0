"""A strict, in-process fake of the Telegram Bot API HTTP server.

``BotAPIDouble`` serves ``{base_url}/bot{TOKEN}/{method}`` on 127.0.0.1 with
aiohttp.web, so real aiogram code (in the test process or in a ``doithoai run``
subprocess) talks HTTP to it exactly as it would to api.telegram.org.

Strictness
    Every request is validated against the machine-readable Bot API spec
    (``api.json``, Bot API 10.1) and refused the way Telegram refuses it:
    ``{"ok": false, "error_code": N, "description": "..."}`` with HTTP status N.
    Unknown methods (404), a wrong token (401), missing or mistyped parameters,
    nested objects that do not match their type (checked recursively), unknown
    parameters (stricter than Telegram, to catch typos), documented limits
    (text 1-4096 characters after entity parsing, caption <= 1024,
    callback_data 1-64 UTF-8 bytes, bot commands, coordinates, ...), malformed
    HTML / Markdown / MarkdownV2 markup, unknown or blocked chats, edits that
    change nothing, stale callback queries and concurrent getUpdates (409).
    A green test therefore means Telegram would have accepted the requests.

    Legacy parameters Telegram still accepts although the spec no longer lists
    them (``reply_to_message_id``, ``allow_sending_without_reply``,
    ``disable_web_page_preview``) are accepted, because aiogram sends them when
    the matching ``DefaultBotProperties`` are set.

Spec location
    ``$DOITHOAI_BOTAPI_SPEC`` if set, else the first
    ``<ancestor>/shared/telegram-bot-api/api.json`` found walking up from this
    file (i.e. ``<repo-root>/../shared/...`` when shared/ sits beside the repo).

Use in tests::

    async with BotAPIDouble() as double:
        bot = Bot(double.token, session=AiohttpSession(
            api=TelegramAPIServer.from_base(double.base_url)))
        an = double.user(first_name="An")
        double.send_text(an, "/start")
        ...                                   # run the dispatcher / app
        reply = await double.next_message(an.id)
        update = double.press(an, reply, "lang:vi")
        await double.wait_answered(update)
        assert double.messages(an.id)[-1]["edits"] == 1

Simulated people: ``user()``, ``group()``; injection (sync, returns the queued
update dict): ``send_text``, ``press``, ``press_raw``, ``send_contact``,
``send_location``, ``send_sticker``, ``send_photo``, ``send_voice``,
``send_document``, ``queue_update``, ``redeliver``, ``block``, ``unblock``.
Recording: ``calls``, ``rejections`` (``real_rejections()`` leaves out the
injected ones), ``messages(chat_id)``, ``callback_answers``, ``commands``,
``files``, ``sent_log``. Awaiting: ``next_message``, ``wait_until``,
``wait_answered``, ``unanswered_callbacks``. Fault injection:
``fail_next(method, times, error_code=429, retry_after=...)``,
``fail_chat``, ``hang_chat``, ``clear_faults``.

Sending calls
    Calls that send or edit a message (send*/edit*/copy*/forward* methods
    returning a message: not sendChatAction, getUpdates, answerCallbackQuery,
    setMyCommands, ...) get three extras, on top of validation:

    - Rate limits, off by default so other tests pay nothing:
      ``enforce_limits(per_second=30, chat_per_second=1.0, chat_burst=3,
      group_per_minute=20)`` (or ``BotAPIDouble(limits=...)``; ``None`` turns
      them off). Token buckets: global (capacity ``per_second``), per private
      chat (capacity ``chat_burst``, refill ``chat_per_second``/s), per group
      (capacity and refill ``group_per_minute`` a minute). Over a limit the
      call gets Telegram's 429 ``"Too Many Requests: retry after N"`` with
      ``parameters.retry_after`` N (whole seconds until a token is free,
      >= 1), stores nothing and uses no token. See ``RateLimits``.
    - Per-chat faults: ``fail_chat(chat, 403 | 400 | 500 | 429, times=None)``
      refuses the chat's sending calls (after validation);
      ``hang_chat(chat, seconds)`` delays them, to exercise client timeouts
      (``after_delivery=True``: the message is stored, only the answer is
      late); ``clear_faults(chat=None)``. Injected refusals, ``fail_next``'s
      included, are recorded with ``Rejection.injected=True``.
    - Measurement: ``sent_log`` holds ``Sent(at, chat_id, method)`` for every
      accepted sending call (``at`` from ``clock``, ``time.monotonic`` unless
      the test passes a fake one); ``max_rate(window=1.0)`` and
      ``max_chat_rate(window=1.0, chat=None)`` give the most accepted calls
      within any window, overall and in one chat.

Bot messages returned by ``messages()`` / ``next_message()`` are the live
Message dicts (edited in place) plus double-only keys that are never sent to
the bot: ``edits`` (int), ``deleted`` (True once deleted) and
``reply_keyboard`` (a non-inline reply_markup, which Telegram does not echo).

Control API (JSON, same server, no token) for driving a real bot by hand::

    python -m tests.support.botapi_double --port 8081 --token 123:ABC
    # point the bot at http://127.0.0.1:8081 (TelegramAPIServer.from_base), then:
    curl -s -XPOST localhost:8081/_double/users -d '{"first_name": "An"}'
    curl -s -XPOST localhost:8081/_double/send_text \\
         -d '{"user_id": 100000001, "text": "/start"}'
    curl -s 'localhost:8081/_double/messages?chat_id=100000001'
    curl -s -XPOST localhost:8081/_double/press \\
         -d '{"user_id": 100000001, "message_id": 2, "data": "lang:vi"}'

    GET  /_double/users | /_double/messages?chat_id= | /_double/calls[?method=]
         /_double/rejections | /_double/callback_answers | /_double/commands
         /_double/updates (queued, not yet confirmed)
         /_double/next_message?chat_id=&timeout=
         /_double/sent_log | /_double/rates?window= | /_double/limits
    POST /_double/users {user_id?, first_name?, last_name?, username?, language_code?}
         /_double/groups {title, supergroup?, username?}
         /_double/send_text {user_id, text, chat_id?}
         /_double/press {user_id, message_id, data, chat_id?}   (press_raw: same)
         /_double/send_contact {user_id, phone, own?}
         /_double/send_location {user_id, latitude, longitude, chat_id?}
         /_double/send_sticker | send_photo | send_voice | send_document {user_id, chat_id?}
         /_double/block | /_double/unblock {user_id}
         /_double/redeliver {update_id}
         /_double/queue_update {<update payload without update_id>}
         /_double/fail_next {method, times?, error_code?, description?, retry_after?}
         /_double/limits {per_second?, chat_per_second?, chat_burst?, group_per_minute?}
                         (JSON null turns the limits off)
         /_double/fail_chat {chat_id, error_code, times?, description?, retry_after?}
         /_double/hang_chat {chat_id, seconds, times?, after_delivery?}
         /_double/clear_faults {chat_id?}
    Answers are {"ok": true, "result": ...} or {"ok": false, "error": "..."} (400).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import functools
import json
import logging
import math
import mimetypes
import os
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple, TypeVar

from aiohttp import web
from aiohttp.multipart import BodyPartReader

__all__ = [
    "BotAPIDouble",
    "BotAPIError",
    "BotAPISpec",
    "Call",
    "DoubleTimeout",
    "FileRecord",
    "RateLimits",
    "Rejection",
    "Sent",
    "SimChat",
    "SimUser",
    "TELEGRAM_LIMITS",
    "UploadedFile",
    "find_spec_path",
    "parse_formatted_text",
]

JSON = dict[str, Any]
T = TypeVar("T")
_log = logging.getLogger(__name__)

SPEC_ENV_VAR = "DOITHOAI_BOTAPI_SPEC"
_SPEC_RELATIVE = Path("shared") / "telegram-bot-api" / "api.json"

# ---------------------------------------------------------------------------
# Spec
# ---------------------------------------------------------------------------


def find_spec_path(start: Path | None = None) -> Path:
    """Locate api.json: ``$DOITHOAI_BOTAPI_SPEC`` or ``<ancestor>/shared/...``."""
    env = os.environ.get(SPEC_ENV_VAR)
    if env:
        path = Path(env)
        if not path.is_file():
            raise FileNotFoundError(f"{SPEC_ENV_VAR}={env} does not point to a file")
        return path
    here = (start or Path(__file__)).resolve()
    for ancestor in here.parents:
        candidate = ancestor / _SPEC_RELATIVE
        if candidate.is_file():
            return candidate
    # A fresh clone without shared/ beside it still has the copy kept with the tests.
    vendored = Path(__file__).resolve().parent / "telegram-bot-api" / "api.json"
    if vendored.is_file():
        return vendored
    raise FileNotFoundError(
        f"Bot API spec not found: set {SPEC_ENV_VAR} or put {_SPEC_RELATIVE} "
        f"beside the repository (searched upward from {here})"
    )


# Subtypes are told apart by a fixed "type"/"status"/"source" value that the
# spec only states in prose ("must be photo", 'always "emoji"').
_DISCRIMINATOR_FIELDS = ("type", "status", "source")
_DISCRIMINATOR_RE = re.compile(r"(?:must be|always)\s+[\"“]?([A-Za-z0-9_]+)[\"”]?")


class BotAPISpec:
    """Read-only view of api.json with case-insensitive method lookup."""

    def __init__(self, data: Mapping[str, Any], source: Path | None = None) -> None:
        self.source = source
        self.version: str = str(data.get("version", "?"))
        self.methods: dict[str, JSON] = dict(data["methods"])
        self.types: dict[str, JSON] = dict(data["types"])
        self._methods_lower = {name.lower(): m for name, m in self.methods.items()}
        self._fields: dict[str, dict[str, JSON]] = {
            name: {f["name"]: f for f in t.get("fields", [])} for name, t in self.types.items()
        }
        self._discriminators: dict[str, tuple[str, str]] = {}
        for name, fields in self._fields.items():
            for key in _DISCRIMINATOR_FIELDS:
                f = fields.get(key)
                if f and f["required"] and f["types"] == ["String"]:
                    m = _DISCRIMINATOR_RE.search(f.get("description", ""))
                    if m:
                        self._discriminators[name] = (key, m.group(1))
                        break

    @classmethod
    def load(cls, path: Path | str | None = None) -> BotAPISpec:
        return _load_spec(str(Path(path) if path else find_spec_path()))

    def method(self, name: str) -> JSON | None:
        return self._methods_lower.get(name.lower())

    def fields(self, type_name: str) -> dict[str, JSON]:
        return self._fields.get(type_name, {})

    def discriminator(self, type_name: str) -> tuple[str, str] | None:
        return self._discriminators.get(type_name)


@functools.lru_cache(maxsize=4)
def _load_spec(path: str) -> BotAPISpec:
    with open(path, encoding="utf-8") as fh:
        return BotAPISpec(json.load(fh), Path(path))


# ---------------------------------------------------------------------------
# Errors and small records
# ---------------------------------------------------------------------------


class BotAPIError(Exception):
    """An error answer, exactly as Telegram would send it."""

    def __init__(self, error_code: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(f"{error_code} {description}")
        self.error_code = error_code
        self.description = description
        self.parameters = parameters

    def payload(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.error_code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _bad_request(detail: str) -> BotAPIError:
    return BotAPIError(400, f"Bad Request: {detail}")


ERR_CHAT_NOT_FOUND = "chat not found"
ERR_MESSAGE_TO_EDIT_NOT_FOUND = "message to edit not found"
ERR_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
ERR_QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
ERR_CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
ERR_WEBHOOK_ACTIVE = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)


class Deadline:
    """A wait's end. With the double's ``idle_timeouts`` it moves on each time the bot calls
    anything but getUpdates, so only time the bot spent idle counts."""

    def __init__(self, double: "BotAPIDouble", timeout: float) -> None:
        self._double, self._timeout = double, timeout
        self._progress = double._progress
        self._at = time.monotonic() + timeout

    def remaining(self) -> float:
        now = time.monotonic()
        if self._double.idle_timeouts and self._double._progress != self._progress:
            self._progress = self._double._progress
            self._at = now + self._timeout
        return self._at - now


class DoubleTimeout(AssertionError):
    """A wait helper gave up; an AssertionError so pytest shows it as a failure."""


class _Mismatch(Exception):
    """A value does not match its spec type (wrapped into a 400 by the caller)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)


class Call(NamedTuple):
    """An accepted Bot API call: canonical method name and decoded parameters."""

    method: str
    params: JSON


class Rejection(NamedTuple):
    """A refused Bot API call (raw string parameters as received).

    ``injected`` marks refusals a test asked for (``fail_next``, ``fail_chat``),
    so that assertions about the bot's own requests can ignore them.
    """

    method: str
    params: dict[str, Any]
    error_code: int
    description: str
    injected: bool = False


class Sent(NamedTuple):
    """An accepted call that sent or edited a message (see ``sent_log``)."""

    at: float  # the double's clock (time.monotonic by default) when it was accepted
    chat_id: int | None  # None for inline-message edits, which name no chat
    method: str


@dataclass(frozen=True)
class RateLimits:
    """Telegram's flood limits, each a token bucket; ``None`` switches one off.

    The defaults are the figures Telegram's bot FAQ gives: about 30 messages
    per second overall, about one per second in a private chat (short bursts
    are tolerated, hence ``chat_burst``) and 20 per minute in a group.

    A bucket holds ``capacity`` tokens, refills at ``rate`` per second and
    starts full. Over a window of T seconds it lets through at most
    ``capacity + rate * T`` messages, so the global bucket (capacity
    ``per_second``) allows a burst of ``per_second`` and then ``per_second``
    a second: a single 1 s window can see up to about twice ``per_second``.
    Tests that must prove a sender stays under N/s should assert
    ``max_rate()`` as well as the absence of 429s.
    """

    per_second: float | None = 30
    chat_per_second: float | None = 1.0
    chat_burst: int = 3
    group_per_minute: float | None = 20

    def __post_init__(self) -> None:
        for name in ("per_second", "chat_per_second", "group_per_minute"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be positive or None, not {value!r}")
        if self.chat_burst < 1:
            raise ValueError(f"chat_burst must be at least 1, not {self.chat_burst!r}")

    @classmethod
    def coerce(cls, value: RateLimits | Mapping[str, Any] | None) -> RateLimits | None:
        """Accept a RateLimits, a dict of its fields (unknown keys raise TypeError) or None."""
        if value is None or isinstance(value, RateLimits):
            return value
        return cls(**value)


TELEGRAM_LIMITS = RateLimits()


@dataclass(frozen=True)
class UploadedFile:
    """A multipart file part as received; appears in decoded call params."""

    name: str
    filename: str
    content_type: str
    data: bytes = field(repr=False)

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass
class FileRecord:
    """A file the double knows (bot uploads and simulated user media)."""

    file_id: str
    file_unique_id: str
    kind: str
    data: bytes = field(repr=False)
    file_name: str | None = None
    mime_type: str | None = None

    @property
    def file_path(self) -> str:
        return f"{self.kind}s/{self.file_unique_id}_{self.file_name or 'file'}"


# ---------------------------------------------------------------------------
# Formatting: parse_mode handling (what Telegram does before the length check)
# ---------------------------------------------------------------------------


class _ParseError(Exception):
    pass


def _u16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


class _Builder:
    """Accumulates plain text and entities with UTF-16 offsets."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.pos = 0
        self.entities: list[JSON] = []

    def emit(self, text: str) -> None:
        self.parts.append(text)
        self.pos += _u16(text)

    def entity(self, kind: str, start: int, **extra: Any) -> None:
        if self.pos > start:
            self.entities.append({"type": kind, "offset": start, "length": self.pos - start, **extra})

    def result(self) -> tuple[str, list[JSON]]:
        ents = sorted(self.entities, key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.parts), ents


_HTML_TAGS = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic",
    "u": "underline", "ins": "underline",
    "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
    "span": "spoiler", "tg-spoiler": "spoiler", "a": "text_link",
    "code": "code", "pre": "pre", "blockquote": "blockquote", "tg-emoji": "custom_emoji",
}  # fmt: skip
_HTML_CHAR_REF = re.compile(r"&(?:#([0-9]{1,7})|#[xX]([0-9a-fA-F]{1,6})|(lt|gt|amp|quot));")
_HTML_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_HTML_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]*")
_HTML_ATTR = re.compile(r"\s*([A-Za-z0-9_-]+)(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s>\"']+)))?")


def _parse_html(src: str) -> tuple[str, list[JSON]]:
    b = _Builder()
    # (tag, start, attrs, byte offset of the tag)
    stack: list[tuple[str, int, dict[str, str], int]] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c == "&":
            m = _HTML_CHAR_REF.match(src, i)
            if m is None:  # Telegram keeps an unrecognised "&" literally
                b.emit("&")
                i += 1
            else:
                b.emit(_html_char(m))
                i = m.end()
            continue
        if c != "<":
            b.emit(c)
            i += 1
            continue
        offset = _byte_offset(src, i)
        if src.startswith("</", i):
            end = src.find(">", i)
            if end < 0:
                raise _ParseError(f"Unclosed end tag at byte offset {offset}")
            name = src[i + 2 : end].strip().lower()
            if not stack:
                raise _ParseError(f'Unexpected end tag "{name}" at byte offset {offset}')
            tag, start, attrs, _ = stack.pop()
            if name != tag:
                raise _ParseError(
                    f'Unmatched end tag at byte offset {offset}, expected "</{tag}>", found "</{name}>"'
                )
            _close_html_tag(b, tag, start, attrs, stack)
            i = end + 1
            continue
        m = _HTML_NAME.match(src, i + 1)
        name = m.group(0).lower() if m else ""
        if name not in _HTML_TAGS:
            raise _ParseError(f'Unsupported start tag "{name}" at byte offset {offset}')
        assert m is not None
        attrs, i = _parse_html_attrs(src, m.end(), name, offset)
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise _ParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {offset}')
        if name == "tg-emoji" and not attrs.get("emoji-id"):
            raise _ParseError(f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset {offset}')
        stack.append((name, b.pos, attrs, offset))
    if stack:
        raise _ParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return b.result()


def _parse_html_attrs(src: str, i: int, tag: str, offset: int) -> tuple[dict[str, str], int]:
    attrs: dict[str, str] = {}
    while True:
        while i < len(src) and src[i].isspace():
            i += 1
        if i >= len(src):
            raise _ParseError(f'Unclosed start tag "{tag}" at byte offset {offset}')
        if src[i] == ">":
            return attrs, i + 1
        m = _HTML_ATTR.match(src, i)
        if not m or m.end() == i:
            raise _ParseError(f'Empty attribute name in the tag "{tag}" at byte offset {offset}')
        value = next((g for g in m.groups()[1:] if g is not None), "")
        attrs[m.group(1).lower()] = _HTML_CHAR_REF.sub(_html_char, value)
        i = m.end()


def _html_char(ref: re.Match[str]) -> str:
    if ref.group(3):
        return _HTML_NAMED[ref.group(3)]
    code = int(ref.group(1)) if ref.group(1) else int(ref.group(2), 16)
    return chr(code) if 0 < code <= 0x10FFFF else "\ufffd"


def _close_html_tag(
    b: _Builder, tag: str, start: int, attrs: dict[str, str], stack: list[tuple[str, int, dict[str, str], int]]
) -> None:
    kind = _HTML_TAGS[tag]
    if kind == "text_link":
        href = attrs.get("href", "")
        if href:
            b.entity("text_link", start, url=href)
    elif kind == "custom_emoji":
        b.entity("custom_emoji", start, custom_emoji_id=attrs["emoji-id"])
    elif kind == "code" and stack and stack[-1][0] == "pre" and attrs.get("class", "").startswith("language-"):
        # <pre><code class="language-x"> is one pre entity with a language
        stack[-1][2]["language"] = attrs["class"][len("language-") :]
    elif kind == "pre":
        extra = {"language": attrs["language"]} if attrs.get("language") else {}
        b.entity("pre", start, **extra)
    elif kind == "blockquote":
        b.entity("expandable_blockquote" if "expandable" in attrs else "blockquote", start)
    else:
        b.entity(kind, start)


_MDV2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_MDV2_NAMES = {
    "bold": "Bold", "italic": "Italic", "underline": "Underline", "strikethrough": "Strikethrough",
    "spoiler": "Spoiler", "text_link": "TextUrl", "custom_emoji": "CustomEmoji", "code": "Code", "pre": "Pre",
}  # fmt: skip


@dataclass
class _Open:
    kind: str
    start: int  # UTF-16 position in the output
    offset: int  # byte offset in the source, for error messages
    first_part: int = 0  # index into _Builder.parts where the entity's text begins
    language: str = ""


def _parse_markdown_v2(src: str) -> tuple[str, list[JSON]]:
    b = _Builder()
    stack: list[_Open] = []
    quote_start: int | None = None
    quote_expandable = False
    i, n = 0, len(src)

    def close_quote() -> None:
        nonlocal quote_start
        if quote_start is None:
            return
        end = b.pos - (1 if b.parts and b.parts[-1] == "\n" else 0)
        if end > quote_start:
            kind = "expandable_blockquote" if quote_expandable else "blockquote"
            b.entities.append({"type": kind, "offset": quote_start, "length": end - quote_start})
        quote_start = None

    while i < n:
        c = src[i]
        top = stack[-1].kind if stack else None
        in_code = top in ("code", "pre")
        if not in_code and (i == 0 or src[i - 1] == "\n"):
            if src.startswith("**>", i) or c == ">":
                if quote_start is None:
                    quote_start, quote_expandable = b.pos, src.startswith("**>", i)
                i += 3 if src.startswith("**>", i) else 1
                continue
            close_quote()
        if c == "\\" and i + 1 < n and 0 < ord(src[i + 1]) <= 126:
            b.emit(src[i + 1])
            i += 2
            continue
        if in_code:
            if top == "pre" and src.startswith("```", i):
                op = stack.pop()
                b.entity("pre", op.start, **({"language": op.language} if op.language else {}))
                i += 3
            elif top == "code" and c == "`":
                b.entity("code", stack.pop().start)
                i += 1
            else:
                b.emit(c)
                i += 1
            continue
        if c not in _MDV2_RESERVED:
            b.emit(c)
            i += 1
            continue
        if (
            quote_start is not None
            and top != "spoiler"
            and src.startswith("||", i)
            and (i + 2 == n or src[i + 2] == "\n")
        ):
            quote_expandable = True  # "||" ending a quotation marks it expandable
            i += 2
            continue
        if top is not None and _mdv2_ends(top, src, i):
            op = stack.pop()
            if top in ("text_link", "custom_emoji"):
                i = _mdv2_close_link(b, op, src, i)
                continue
            b.entity(top, op.start)
            i += 2 if top in ("underline", "spoiler") else 1
            continue
        offset = _byte_offset(src, i)
        if c == "_":
            kind, width = ("underline", 2) if src.startswith("__", i) else ("italic", 1)
        elif c == "*":
            kind, width = "bold", 1
        elif c == "~":
            kind, width = "strikethrough", 1
        elif c == "|" and src.startswith("||", i):
            kind, width = "spoiler", 2
        elif c == "[":
            kind, width = "text_link", 1
        elif c == "!" and src.startswith("![", i):
            kind, width = "custom_emoji", 2
        elif c == "`" and src.startswith("```", i):
            i += 3
            newline = src.find("\n", i)
            language = ""
            if newline >= 0 and not any(ch.isspace() for ch in src[i:newline]):
                language, i = src[i:newline], newline + 1
            stack.append(_Open("pre", b.pos, offset, len(b.parts), language))
            continue
        elif c == "`":
            kind, width = "code", 1
        else:
            raise _ParseError(f"Character '{c}' is reserved and must be escaped with the preceding '\\'")
        stack.append(_Open(kind, b.pos, offset, len(b.parts)))
        i += width
    if stack:
        op = stack[-1]
        raise _ParseError(f"Can't find end of {_MDV2_NAMES[op.kind]} entity at byte offset {op.offset}")
    close_quote()
    return b.result()


def _mdv2_ends(kind: str, src: str, i: int) -> bool:
    c = src[i]
    nxt = src[i + 1 : i + 2]
    return (
        (kind == "bold" and c == "*")
        or (kind == "italic" and c == "_" and nxt != "_")
        or (kind == "underline" and src.startswith("__", i))
        or (kind == "strikethrough" and c == "~")
        or (kind == "spoiler" and src.startswith("||", i))
        or (kind in ("text_link", "custom_emoji") and c == "]")
    )


def _mdv2_close_link(b: _Builder, op: _Open, src: str, i: int) -> int:
    """Handle ``](url)`` after a text link / custom emoji; returns the new index."""
    i += 1  # past "]"
    url = ""
    if src.startswith("(", i):
        j = i + 1
        chars: list[str] = []
        while j < len(src) and src[j] != ")":
            if src[j] == "\\" and j + 1 < len(src):
                j += 1
            chars.append(src[j])
            j += 1
        if j >= len(src):
            raise _ParseError(f"Can't find end of a URL at byte offset {_byte_offset(src, i + 1)}")
        url, i = "".join(chars), j + 1
    if op.kind == "custom_emoji":
        m = re.fullmatch(r"tg://emoji\?id=(\d+)", url)
        if not m:
            raise _ParseError(f"Custom emoji URL must have scheme tg://emoji?id= at byte offset {op.offset}")
        b.entity("custom_emoji", op.start, custom_emoji_id=m.group(1))
    else:
        # Telegram uses the link text itself as the URL when "(url)" is missing.
        b.entity("text_link", op.start, url=url or "".join(b.parts[op.first_part :]))
    return i


_LEGACY_MARKDOWN = {"_": ("italic", "_"), "*": ("bold", "*"), "`": ("code", "`"), "[": ("text_link", "]")}


def _parse_markdown(src: str) -> tuple[str, list[JSON]]:
    """Legacy Markdown: *bold* _italic_ `code` ```pre``` [text](url), no nesting."""
    b = _Builder()
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c == "\\" and i + 1 < n and src[i + 1] in "_*`[":
            b.emit(src[i + 1])
            i += 2
            continue
        if c not in "_*`[":
            b.emit(c)
            i += 1
            continue
        offset = _byte_offset(src, i)
        language = ""
        if src.startswith("```", i):
            kind, end_marker = "pre", "```"
            i += 3
            newline = src.find("\n", i)
            if newline >= 0 and not any(ch.isspace() for ch in src[i:newline]):
                language, i = src[i:newline], newline + 1
        else:
            kind, end_marker = _LEGACY_MARKDOWN[c]
            i += 1
        start = b.pos
        end = src.find(end_marker, i)
        if end < 0:
            raise _ParseError(f"Can't find end of the entity starting at byte offset {offset}")
        b.emit(src[i:end])
        i = end + len(end_marker)
        if kind == "text_link":
            url = ""
            if src.startswith("(", i):
                close = src.find(")", i)
                if close < 0:
                    raise _ParseError(f"Can't find end of a URL at byte offset {_byte_offset(src, i)}")
                url, i = src[i + 1 : close], close + 1
            if url:
                b.entity("text_link", start, url=url)
        else:
            b.entity(kind, start, **({"language": language} if language else {}))
    return b.result()


_PARSERS: dict[str, Callable[[str], tuple[str, list[JSON]]]] = {
    "html": _parse_html,
    "markdown": _parse_markdown,
    "markdownv2": _parse_markdown_v2,
}


def parse_formatted_text(
    text: str, parse_mode: str | None = None, entities: list[JSON] | None = None
) -> tuple[str, list[JSON]]:
    """Return (plain text, entities) as Telegram stores them; raises BotAPIError.

    Like Telegram, surrounding whitespace is trimmed after entity parsing.
    """
    if entities:
        plain, ents = text, [dict(e) for e in entities]
    elif parse_mode:
        parser = _PARSERS.get(parse_mode.lower())
        if parser is None:
            raise _bad_request("unsupported parse_mode")
        try:
            plain, ents = parser(text)
        except _ParseError as exc:
            raise _bad_request(f"can't parse entities: {exc}") from None
    else:
        plain, ents = text, []
    stripped = plain.lstrip()
    cut = _u16(plain) - _u16(stripped)
    stripped = stripped.rstrip()
    total = _u16(stripped)
    fixed: list[JSON] = []
    for e in ents:
        start = max(e["offset"] - cut, 0)
        end = min(e["offset"] + e["length"] - cut, total)
        if end > start:
            fixed.append({**e, "offset": start, "length": end - start})
    return stripped, fixed


# ---------------------------------------------------------------------------
# Validation against api.json (+ the documented limits the spec states in prose)
# ---------------------------------------------------------------------------

_INT_RE = re.compile(r"[+-]?\d{1,20}")
# Parameters Telegram still accepts for backward compatibility and aiogram may
# send (from DefaultBotProperties) although api.json no longer lists them.
_LEGACY_PARAMS: dict[str, tuple[str, list[str]]] = {
    "reply_to_message_id": ("reply_parameters", ["Integer"]),
    "allow_sending_without_reply": ("reply_parameters", ["Boolean"]),
    "disable_web_page_preview": ("link_preview_options", ["Boolean"]),
}
_BUTTON_LABEL_FIELDS = frozenset({"text", "icon_custom_emoji_id", "style"})
_BUTTON_STYLES = frozenset({"danger", "success", "primary"})
_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
_CHAT_ACTIONS = frozenset(
    {
        "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
        "upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note",
    }
)  # fmt: skip
_UPDATE_TYPES_OFF_BY_DEFAULT = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


class Validator:
    """Decodes raw request parameters and checks them against the spec."""

    def __init__(self, spec: BotAPISpec) -> None:
        self.spec = spec
        self._type_hooks: dict[str, Callable[[JSON, str], None]] = {
            "InlineKeyboardButton": self._check_inline_button,
            "KeyboardButton": self._check_keyboard_button,
            "BotCommand": self._check_bot_command,
            "ReplyKeyboardRemove": lambda v, p: self._require_true(v, "remove_keyboard", p),
            "ForceReply": lambda v, p: self._require_true(v, "force_reply", p),
            "ReplyKeyboardMarkup": lambda v, p: self._check_placeholder(v, p),
        }
        self._method_hooks: dict[str, Callable[[JSON], None]] = {
            "sendmessage": self._check_send_message,
            "editmessagetext": self._check_edit_message_text,
            "answercallbackquery": self._check_answer_callback,
            "setmycommands": self._check_set_commands,
            "getmycommands": self._check_commands_language,
            "deletemycommands": self._check_commands_language,
            "sendlocation": self._check_location,
            "sendchataction": self._check_chat_action,
            "getupdates": self._check_get_updates,
        }

    # -- top level ---------------------------------------------------------

    def decode(self, method: JSON, raw: Mapping[str, str], files: Mapping[str, UploadedFile]) -> JSON:
        name: str = method["name"]
        fields = {f["name"]: f for f in method.get("fields", [])}
        for key in raw:
            legacy = _LEGACY_PARAMS.get(key)
            if key not in fields and not (legacy and legacy[0] in fields):
                raise _bad_request(f'unknown parameter "{key}" for method {name}')
        params: JSON = {}
        for key, f in fields.items():
            value = raw.get(key)
            if value is None or value == "":  # Telegram treats "" as absent
                if key in files and "InputFile" in f["types"]:
                    params[key] = files[key]
                elif f["required"]:
                    raise _bad_request(self._empty_message(name, key))
                continue
            params[key] = self._decode_top(key, value, f["types"], files)
        for key, (_, types) in _LEGACY_PARAMS.items():
            if key in raw and raw[key] != "" and key not in fields:
                params[key] = self._decode_top(key, raw[key], types, files)
        if "caption" in params:
            self._check_caption(params, "")
        if params.get("parse_mode") and params["parse_mode"].lower() not in _PARSERS:
            raise _bad_request("unsupported parse_mode")
        hook = self._method_hooks.get(name.lower())
        if hook:
            hook(params)
        return params

    @staticmethod
    def _empty_message(method: str, key: str) -> str:
        if key == "text" and method.lower() in ("sendmessage", "editmessagetext"):
            return "message text is empty"
        return f"{key} is empty"

    def _decode_top(self, key: str, raw: str, types: Sequence[str], files: Mapping[str, UploadedFile]) -> Any:
        structured = [t for t in types if t.startswith("Array of ") or (t in self.spec.types and t != "InputFile")]
        for t in types:
            if t == "Integer" and _INT_RE.fullmatch(raw.strip()):
                return int(raw)
            if t == "Float":
                try:
                    number = float(raw)
                except ValueError:
                    continue
                if math.isfinite(number):
                    return number
            if t == "Boolean" and raw.lower() in ("true", "false"):
                return raw.lower() == "true"
            if t == "InputFile" and raw.startswith("attach://"):
                part = files.get(raw[len("attach://") :])
                if part is None:
                    raise _bad_request(f'file for field "{key}" was not attached: no part named {raw[9:]!r}')
                return part
        if structured:
            try:
                value = json.loads(raw)
            except ValueError:
                if "String" not in types:
                    raise _bad_request(f"can't parse {key} JSON object") from None
            else:
                try:
                    return self.check(value, structured, key)
                except _Mismatch as exc:
                    if "String" not in types:
                        raise _bad_request(f"can't parse {key} JSON object: {exc}") from None
        if "String" in types:
            return raw
        raise _bad_request(f'field "{key}" must be of type {" or ".join(types)}')

    # -- nested values -------------------------------------------------------

    def check(self, value: Any, types: Sequence[str], path: str) -> Any:
        """Validate a decoded JSON value against a union of spec type expressions."""
        if len(types) == 1:
            return self._check_one(value, types[0], path)
        ranked = sorted(types, key=lambda t: -self._affinity(value, t))
        first: _Mismatch | None = None
        for t in ranked:
            try:
                return self._check_one(value, t, path)
            except _Mismatch as exc:
                first = first or exc
        assert first is not None
        raise first

    def _affinity(self, value: Any, type_name: str) -> int:
        """How well a dict fits an object type, to report the most relevant error."""
        if not isinstance(value, dict) or type_name not in self.spec.types:
            return 0
        fields = self.spec.fields(type_name)
        known = sum(1 for k in value if k in fields)
        disc = self.spec.discriminator(type_name)
        bonus = 5 if disc and value.get(disc[0]) == disc[1] else 0
        return known - 2 * (len(value) - known) + bonus

    def _check_one(self, value: Any, t: str, path: str) -> Any:
        if t.startswith("Array of "):
            if not isinstance(value, list):
                raise _Mismatch(path, f"must be an {t}")
            inner = t[len("Array of ") :]
            return [self._check_one(item, inner, _join(path, i)) for i, item in enumerate(value)]
        if t == "Integer":
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            raise _Mismatch(path, "must be an Integer")
        if t == "Float":
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return value
            raise _Mismatch(path, "must be a Float")
        if t == "Boolean":
            if isinstance(value, bool):
                return value
            raise _Mismatch(path, "must be a Boolean")
        if t in ("String", "InputFile"):
            if isinstance(value, str):
                return value
            raise _Mismatch(path, "must be a String")
        spec_type = self.spec.types.get(t)
        if spec_type is None:
            raise _Mismatch(path, f"unknown type {t} in the spec")
        if "subtypes" in spec_type:
            return self._check_subtypes(value, t, spec_type["subtypes"], path)
        if not spec_type.get("fields"):
            if not isinstance(value, dict):
                raise _Mismatch(path, f"must be a JSON object ({t})")
            return value
        return self._check_object(value, t, path)

    def _check_subtypes(self, value: Any, t: str, subtypes: Sequence[str], path: str) -> Any:
        candidates: list[str] = []
        for sub in subtypes:
            disc = self.spec.discriminator(sub)
            if disc and isinstance(value, dict) and value.get(disc[0]) != disc[1]:
                continue
            candidates.append(sub)
        if not candidates:
            disc = self.spec.discriminator(subtypes[0])
            key = disc[0] if disc else "type"
            allowed = sorted({d[1] for s in subtypes if (d := self.spec.discriminator(s))})
            raise _Mismatch(_join(path, key), f"{t} {key} must be one of {', '.join(allowed)}")
        return self.check(value, candidates, path)

    def _check_object(self, value: Any, t: str, path: str) -> JSON:
        if not isinstance(value, dict):
            raise _Mismatch(path, f"must be a JSON object ({t})")
        fields = self.spec.fields(t)
        out: JSON = {}
        for key, item in value.items():
            if item is None:  # JSON null means "absent"
                continue
            f = fields.get(key)
            if f is None:
                raise _Mismatch(_join(path, key), f"unknown field of {t}")
            out[key] = self.check(item, f["types"], _join(path, key))
        for key, f in fields.items():
            if f["required"] and key not in out:
                raise _Mismatch(_join(path, key), f"required field of {t} is missing")
        disc = self.spec.discriminator(t)
        if disc and out.get(disc[0]) != disc[1]:
            raise _Mismatch(_join(path, disc[0]), f'must be "{disc[1]}" for {t}')
        if "caption" in out and "parse_mode" in fields:
            self._check_caption(out, path)
        hook = self._type_hooks.get(t)
        if hook:
            hook(out, path)
        return out

    # -- type hooks (limits the spec only states in prose) --------------------

    @staticmethod
    def _check_inline_button(button: JSON, path: str) -> None:
        if not button["text"].strip():
            raise _bad_request(f"can't parse inline keyboard button: text must be non-empty ({path})")
        actions = [k for k in button if k not in _BUTTON_LABEL_FIELDS]
        if not actions:
            raise _bad_request(
                "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
            )
        if len(actions) > 1:
            raise _bad_request(
                f"can't parse inline keyboard button: exactly one of the optional fields must be used, "
                f"got {', '.join(actions)} ({path})"
            )
        data = button.get("callback_data")
        if data is not None and not 1 <= len(data.encode("utf-8")) <= 64:
            raise _bad_request("BUTTON_DATA_INVALID")
        if "style" in button and button["style"] not in _BUTTON_STYLES:
            raise _bad_request(f"can't parse inline keyboard button: unsupported style ({path})")
        url = button.get("url")
        if url is not None and (not url or any(ch.isspace() for ch in url)):
            raise _bad_request("BUTTON_URL_INVALID")

    @staticmethod
    def _check_keyboard_button(button: JSON, path: str) -> None:
        if not button["text"].strip():
            raise _bad_request(f"can't parse keyboard button: text must be non-empty ({path})")
        requests = [k for k in button if k not in _BUTTON_LABEL_FIELDS]
        if len(requests) > 1:
            raise _bad_request(
                f"can't parse keyboard button: at most one of the optional fields may be used, "
                f"got {', '.join(requests)} ({path})"
            )
        if "style" in button and button["style"] not in _BUTTON_STYLES:
            raise _bad_request(f"can't parse keyboard button: unsupported style ({path})")

    @staticmethod
    def _check_bot_command(command: JSON, path: str) -> None:
        if not _COMMAND_RE.fullmatch(command["command"]):
            raise _bad_request("BOT_COMMAND_INVALID")
        if not command["description"].strip() or len(command["description"]) > 256:
            raise _bad_request("BOT_COMMAND_DESCRIPTION_INVALID")

    @staticmethod
    def _require_true(value: JSON, key: str, path: str) -> None:
        if value.get(key) is not True:
            raise _bad_request(f"can't parse reply keyboard markup JSON object: {_join(path, key)} must be True")
        Validator._check_placeholder(value, path)

    @staticmethod
    def _check_placeholder(value: JSON, path: str) -> None:
        placeholder = value.get("input_field_placeholder")
        if placeholder is not None and not 1 <= len(placeholder) <= 64:
            raise _bad_request(f"{_join(path, 'input_field_placeholder')} must be 1-64 characters")

    @staticmethod
    def _check_caption(obj: JSON, path: str) -> None:
        caption, _ = parse_formatted_text(obj["caption"], obj.get("parse_mode"), obj.get("caption_entities"))
        if len(caption) > 1024:
            raise _bad_request("message caption is too long" + (f" ({path})" if path else ""))

    # -- method hooks ----------------------------------------------------------

    @staticmethod
    def check_message_text(params: JSON) -> tuple[str, list[JSON]]:
        text, entities = parse_formatted_text(params["text"], params.get("parse_mode"), params.get("entities"))
        if not text:
            raise _bad_request("message text is empty")
        if len(text) > 4096:
            raise _bad_request("message is too long")
        return text, entities

    def _check_send_message(self, params: JSON) -> None:
        self.check_message_text(params)

    def _check_edit_message_text(self, params: JSON) -> None:
        if "text" in params:
            self.check_message_text(params)
        elif "rich_message" not in params:
            raise _bad_request("message text is empty")

    @staticmethod
    def _check_answer_callback(params: JSON) -> None:
        if len(params.get("text") or "") > 200:
            raise _bad_request("MESSAGE_TOO_LONG: callback query answer text must be at most 200 characters")

    def _check_set_commands(self, params: JSON) -> None:
        if len(params["commands"]) > 100:
            raise _bad_request("BOT_COMMANDS_TOO_MUCH")
        self._check_commands_language(params)

    @staticmethod
    def _check_commands_language(params: JSON) -> None:
        lang = params.get("language_code")
        if lang is not None and not re.fullmatch(r"[a-z]{2}", lang):
            raise _bad_request("invalid language code specified")

    @staticmethod
    def _check_location(params: JSON) -> None:
        if not -90 <= params["latitude"] <= 90:
            raise _bad_request("wrong latitude: must be between -90 and 90")
        if not -180 <= params["longitude"] <= 180:
            raise _bad_request("wrong longitude: must be between -180 and 180")
        if not 0 <= params.get("horizontal_accuracy", 0) <= 1500:
            raise _bad_request("horizontal_accuracy must be between 0 and 1500")
        live = params.get("live_period")
        if live is not None and not (60 <= live <= 86400 or live == 0x7FFFFFFF):
            raise _bad_request("live_period must be between 60 and 86400 or 0x7FFFFFFF")
        if not 1 <= params.get("heading", 1) <= 360:
            raise _bad_request("heading must be between 1 and 360")
        if not 1 <= params.get("proximity_alert_radius", 1) <= 100000:
            raise _bad_request("proximity_alert_radius must be between 1 and 100000")

    @staticmethod
    def _check_chat_action(params: JSON) -> None:
        if params["action"] not in _CHAT_ACTIONS:
            raise _bad_request("wrong parameter action in request")

    @staticmethod
    def _check_get_updates(params: JSON) -> None:
        if not 1 <= params.get("limit", 100) <= 100:
            raise _bad_request("limit must be between 1 and 100")


# ---------------------------------------------------------------------------
# Simulated world
# ---------------------------------------------------------------------------


@dataclass(eq=False)
class SimUser:
    """A simulated Telegram user; their private chat id equals ``id``."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    blocked: bool = False
    started: bool = False  # has written to the bot in private: the bot may message them
    seen: bool = False  # the bot has seen them somewhere (group or private)

    @property
    def chat_id(self) -> int:
        return self.id

    def to_dict(self) -> JSON:
        d: JSON = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            if getattr(self, key):
                d[key] = getattr(self, key)
        return d


@dataclass(eq=False)
class SimChat:
    """A chat the bot is in, with every message (user and bot) by id."""

    id: int
    type: Literal["private", "group", "supergroup"]
    title: str | None = None
    username: str | None = None
    user: SimUser | None = None
    history: dict[int, JSON] = field(default_factory=dict)
    bot_message_ids: list[int] = field(default_factory=list)
    last_message_id: int = 0

    def next_message_id(self) -> int:
        self.last_message_id += 1
        return self.last_message_id

    def to_dict(self) -> JSON:
        if self.type == "private":
            assert self.user is not None
            d = {"id": self.id, "type": "private", "first_name": self.user.first_name}
            for key in ("last_name", "username"):
                if getattr(self.user, key):
                    d[key] = getattr(self.user, key)
            return d
        d = {"id": self.id, "type": self.type, "title": self.title}
        if self.username:
            d["username"] = self.username
        return d


@dataclass
class _Queued:
    update: JSON
    sticky: bool = False  # a redelivered copy survives offsets until delivered once
    delivered: bool = False

    @property
    def update_id(self) -> int:
        return int(self.update["update_id"])

    @property
    def kind(self) -> str:
        return next(k for k in self.update if k != "update_id")


@dataclass
class _Failure:
    error_code: int
    description: str
    retry_after: int | None


class _InjectedFault(BotAPIError):
    """A refusal a test asked for; recorded with ``Rejection.injected=True``."""


# What Telegram answers in the situations a test most often wants to fake.
_CHAT_FAULT_DESCRIPTIONS = {
    400: f"Bad Request: {ERR_CHAT_NOT_FOUND}",
    403: "Forbidden: bot was blocked by the user",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


@dataclass
class _ChatFault:
    error_code: int
    description: str
    parameters: JSON | None
    remaining: int | None  # None: until clear_faults()

    def error(self) -> _InjectedFault:
        # A fresh exception each time: re-raising one instance would grow its traceback.
        return _InjectedFault(self.error_code, self.description, self.parameters)


@dataclass
class _ChatHang:
    seconds: float
    after_delivery: bool  # deliver first, then hold the answer back (a lost response)
    remaining: int | None  # None: until clear_faults()


_Fault = TypeVar("_Fault", _ChatFault, _ChatHang)


def _take(faults: dict[int, _Fault], chat_id: int | None) -> _Fault | None:
    """The chat's active _ChatFault/_ChatHang, counting one use of it (None if there is none)."""
    if chat_id is None:
        return None
    fault = faults.get(chat_id)
    if fault is None:
        return None
    if fault.remaining is not None:
        fault.remaining -= 1
        if fault.remaining <= 0:
            del faults[chat_id]
    return fault


@dataclass
class _TokenBucket:
    capacity: float
    rate: float  # tokens per second
    tokens: float
    updated: float

    def wait(self, now: float) -> float:
        """Seconds until one token is available (0 if one is now)."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        # The epsilon absorbs float error, so a client that waited exactly long enough gets through.
        return max(0.0, (1 - self.tokens) / self.rate - 1e-9)


class _RateLimiter:
    """Telegram's flood control for calls that send or edit messages (see RateLimits)."""

    def __init__(self, limits: RateLimits, now: float) -> None:
        self.limits = limits
        self._global = self._bucket(limits.per_second, limits.per_second, now)
        self._chats: dict[int, _TokenBucket] = {}

    @staticmethod
    def _bucket(capacity: float | None, rate: float | None, now: float) -> _TokenBucket | None:
        if capacity is None or rate is None:
            return None
        return _TokenBucket(capacity, rate, capacity, now)

    def _chat_bucket(self, chat_id: int, group: bool, now: float) -> _TokenBucket | None:
        bucket = self._chats.get(chat_id)
        if bucket is None:
            lim = self.limits
            if group:
                per_minute = lim.group_per_minute
                bucket = self._bucket(per_minute, per_minute / 60 if per_minute else None, now)
            else:
                bucket = self._bucket(lim.chat_burst, lim.chat_per_second, now)
            if bucket is not None:
                self._chats[chat_id] = bucket
        return bucket

    def acquire(self, chat_id: int | None, group: bool, now: float) -> list[_TokenBucket]:
        """Take a token from every bucket that applies, or raise the 429 and take none."""
        buckets = [self._global]
        if chat_id is not None:
            buckets.append(self._chat_bucket(chat_id, group, now))
        live = [b for b in buckets if b is not None]
        wait = max((b.wait(now) for b in live), default=0.0)
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            raise BotAPIError(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})
        for b in live:
            b.tokens -= 1
        return live

    @staticmethod
    def release(buckets: Iterable[_TokenBucket]) -> None:
        """Give tokens back: only accepted calls count against the limits."""
        for b in buckets:
            b.tokens = min(b.capacity, b.tokens + 1)


def _is_sending(method: JSON) -> bool:
    """Does the method send or edit a message (the calls Telegram's flood limits count)?

    send*/edit*/copy*/forward* methods that return a message: not sendChatAction,
    sendGift, sendMessageDraft, editForumTopic, editChatInviteLink, editStory, ...
    """
    name = method["name"]
    returns = {r.removeprefix("Array of ") for r in method.get("returns", [])}
    return name.startswith(("send", "edit", "copy", "forward")) and bool(returns & {"Message", "MessageId"})


def _max_in_window(times: Iterable[float], window: float) -> int:
    """The most timestamps that fit in a half-open interval [t, t + window)."""
    if window <= 0:
        raise ValueError("window must be positive")
    ordered = sorted(times)
    best = start = 0
    for end, t in enumerate(ordered):
        while t - ordered[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


@dataclass
class _Poll:
    request: web.Request
    terminated: bool = False

    def disconnected(self) -> bool:
        transport = self.request.transport
        return transport is None or transport.is_closing()


_EXTRA_KEYS = ("edits", "deleted", "reply_keyboard")
_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM")
# 1x1 white JPEG: simulated user photos must survive a bot that inspects them
_TINY_JPEG = bytes.fromhex(
    "ffd8ffe000104a46494600010100000100010000ffdb004300080606070605080707070909080a0c140d0c0b0b0c1912"
    "130f141d1a1f1e1d1a1c1c20242e2720222c231c1c2837292c30313434341f27393d38323c2e333432ffc0000b0800"
    "01000101011100ffc4001f0000010501010101010100000000000000000102030405060708090a0bffc400b5100002"
    "010303020403050504040000017d01020300041105122131410613516107227114328191a1082342b1c11552d1f024"
    "33627282090a161718191a25262728292a3435363738393a434445464748494a535455565758595a636465666768696a"
    "737475767778797a838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5"
    "c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9faffda0008010100003f00fbfcff"
    "d9"
)
_MEDIA_KINDS = {
    "sendphoto": "photo", "senddocument": "document", "sendvoice": "voice", "sendaudio": "audio",
    "sendvideo": "video", "sendanimation": "animation", "sendsticker": "sticker", "sendvideonote": "video_note",
}  # fmt: skip


def _is_image(data: bytes) -> bool:
    return data.startswith(_IMAGE_MAGIC) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")


def _public(message: JSON) -> JSON:
    """The message as Telegram would send it: without the double-only keys."""
    out = {k: copy.deepcopy(v) for k, v in message.items() if k not in _EXTRA_KEYS}
    if "reply_to_message" in out:
        out["reply_to_message"] = _public(out["reply_to_message"])
    return out


def _commands_key(scope: JSON | None, language_code: str | None) -> tuple[str, str]:
    scope = scope or {"type": "default"}
    parts = [scope["type"]] + [str(scope[k]) for k in ("chat_id", "user_id") if k in scope]
    return ":".join(parts), language_code or ""


_BOT_COMMAND_RE = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")


def _command_entities(text: str) -> list[JSON]:
    return [
        {"type": "bot_command", "offset": _u16(text[: m.start()]), "length": _u16(m.group(0))}
        for m in _BOT_COMMAND_RE.finditer(text)
    ]


# ---------------------------------------------------------------------------
# The double
# ---------------------------------------------------------------------------

Handler = Callable[[JSON, web.Request], Awaitable[Any]]
ConflictPolicy = Literal["terminate_previous", "reject_new"]


class BotAPIDouble:
    """Strict in-process Telegram Bot API server for tests (see module docstring).

    ``conflict_policy`` decides who gets the 409 when getUpdates overlaps:
    ``"terminate_previous"`` (what the real server does: the older poll is
    answered with 409, the newcomer proceeds) or ``"reject_new"``. Polls whose
    client has disconnected never count as in progress.
    ``callback_timeout`` (seconds, default: no limit) makes answerCallbackQuery
    fail with "query is too old" for callbacks pressed longer ago than that.
    ``limits`` turns on Telegram's flood limits from the start (see
    ``enforce_limits``; off by default). ``clock`` (default ``time.monotonic``)
    times the rate limits and ``sent_log``; a test may pass a fake clock it
    advances by hand to make them exact and instant.
    ``idle_timeouts`` makes the waits' timeouts (``next_message``, ``wait_answered``,
    ``wait_until``, ``deadline``) count only time in which the bot made no call but
    getUpdates: a test that floods the bot with hundreds of residents at once then
    fails when the bot stalls, not when a slow or busy machine takes longer to
    work through the queue.
    """

    def __init__(
        self,
        token: str = "123456789:TEST-doithoai-double",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = "doithoai_test_bot",
        first_name: str = "Đối Thoại Test",
        spec: BotAPISpec | Path | str | None = None,
        conflict_policy: ConflictPolicy = "terminate_previous",
        callback_timeout: float | None = None,
        limits: RateLimits | Mapping[str, Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
        idle_timeouts: bool = False,
    ) -> None:
        self.token = token
        self.idle_timeouts = idle_timeouts
        self._progress = 0  # Bot API calls other than getUpdates, accepted or refused
        self.spec = spec if isinstance(spec, BotAPISpec) else BotAPISpec.load(spec)
        self.validator = Validator(self.spec)
        self.conflict_policy: ConflictPolicy = conflict_policy
        self.callback_timeout = callback_timeout
        self._host = host
        self._port = port
        bot_id_text = token.split(":", 1)[0]
        self.bot_user: JSON = {
            "id": int(bot_id_text) if bot_id_text.isdigit() else 1,
            "is_bot": True,
            "first_name": first_name,
            "username": username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

        # Recording (public, for assertions)
        self.calls: list[Call] = []
        self.rejections: list[Rejection] = []
        self.callback_answers: dict[str, str | None] = {}
        self.commands: dict[tuple[str, str], list[JSON]] = {}
        self.files: dict[str, FileRecord] = {}
        self.users: dict[int, SimUser] = {}
        self.chats: dict[int, SimChat] = {}
        self.webhook_url: str | None = None
        self.filtered_updates: list[JSON] = []  # dropped because of allowed_updates
        self.sent_log: list[Sent] = []  # accepted calls that sent or edited a message
        self.clock = clock

        self._queue: list[_Queued] = []
        self._sent_updates: dict[int, JSON] = {}
        self._next_update_id = 10_000
        self._next_user_id = 100_000_001
        self._next_group_id = 1
        self._next_callback_id = 1
        self._next_file_id = 1
        self._pending_callbacks: dict[str, float] = {}
        self._allowed_updates: frozenset[str] | None = None
        self._active_poll: _Poll | None = None
        self._failures: dict[str, deque[_Failure]] = {}
        self._chat_faults: dict[int, _ChatFault] = {}
        self._chat_hangs: dict[int, _ChatHang] = {}
        self._sending_methods = frozenset(n.lower() for n, m in self.spec.methods.items() if _is_sending(m))
        self._limiter: _RateLimiter | None = None
        self.enforce_limits(limits)
        self._cursors: dict[int, int] = {}
        self._changed = asyncio.Event()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._handlers: dict[str, Handler] = {
            "getme": self._m_get_me,
            "getupdates": self._m_get_updates,
            "setwebhook": self._m_set_webhook,
            "deletewebhook": self._m_delete_webhook,
            "getwebhookinfo": self._m_get_webhook_info,
            "setmycommands": self._m_set_my_commands,
            "getmycommands": self._m_get_my_commands,
            "deletemycommands": self._m_delete_my_commands,
            "sendmessage": self._m_send_message,
            "editmessagetext": self._m_edit_message_text,
            "editmessagereplymarkup": self._m_edit_message_reply_markup,
            "deletemessage": self._m_delete_message,
            "answercallbackquery": self._m_answer_callback_query,
            "sendlocation": self._m_send_location,
            "sendchataction": self._m_send_chat_action,
            "getchat": self._m_get_chat,
            "getfile": self._m_get_file,
            "close": self._m_true,
            "logout": self._m_true,
        }

    # -- lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("BotAPIDouble already started")
        self._closing = False
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._add_control_routes(app)
        app.router.add_route("*", "/{tail:.*}", self._handle_unknown_path)
        # handler_cancellation: a client that hangs up mid long-poll must not
        # leave a phantom getUpdates "in progress".
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        self._port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        self._closing = True
        self._notify()  # release pending long polls so shutdown is immediate
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> BotAPIDouble:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        if self._runner is None:
            raise RuntimeError("BotAPIDouble is not started")
        return f"http://{self._host}:{self._port}"

    @property
    def api_url(self) -> str:
        """``{base_url}/bot{token}`` — append ``/method``."""
        return f"{self.base_url}/bot{self.token}"

    # -- simulated people --------------------------------------------------------

    def user(
        self,
        user_id: int | None = None,
        first_name: str = "An",
        language_code: str | None = "vi",
        *,
        last_name: str | None = None,
        username: str | None = None,
    ) -> SimUser:
        """Create a simulated user. The bot can message them once they have written."""
        if user_id is None:
            while self._next_user_id in self.users:
                self._next_user_id += 1
            user_id = self._next_user_id
            self._next_user_id += 1
        if user_id in self.users:
            raise ValueError(f"user {user_id} already exists")
        if user_id <= 0:
            raise ValueError("user ids are positive")
        u = SimUser(user_id, first_name, last_name, username, language_code)
        self.users[user_id] = u
        return u

    def group(self, title: str = "Tổ dân phố 1", *, supergroup: bool = False, username: str | None = None) -> SimChat:
        """Create a group chat the bot is a member of."""
        n = self._next_group_id
        self._next_group_id += 1
        chat_id = -(1_000_000_000_000 + n) if supergroup else -(4_000_000_000 + n)
        chat = SimChat(chat_id, "supergroup" if supergroup else "group", title=title, username=username)
        self.chats[chat_id] = chat
        return chat

    def block(self, user: SimUser | int) -> JSON:
        """The user blocks the bot: sends to them get 403; queues my_chat_member."""
        u = self._user(user)
        u.blocked = True
        return self._queue_member_change(u, "member", "kicked")

    def unblock(self, user: SimUser | int) -> JSON:
        u = self._user(user)
        u.blocked = False
        return self._queue_member_change(u, "kicked", "member")

    # -- injection -----------------------------------------------------------------

    def send_text(self, user: SimUser | int, text: str, chat: SimChat | int | None = None) -> JSON:
        """The user writes ``text``; bot_command entities are added like Telegram does."""
        extra: JSON = {"text": text}
        entities = _command_entities(text)
        if entities:
            extra["entities"] = entities
        return self._user_message(user, chat, extra)

    def send_contact(
        self, user: SimUser | int, phone: str, own: bool = True, chat: SimChat | int | None = None
    ) -> JSON:
        """The user shares a contact; ``own`` (the request_contact button) sets user_id."""
        u = self._user(user)
        contact: JSON = {"phone_number": phone, "first_name": u.first_name}
        if u.last_name:
            contact["last_name"] = u.last_name
        if own:
            contact["user_id"] = u.id
        return self._user_message(u, chat, {"contact": contact})

    def send_location(
        self,
        user: SimUser | int,
        latitude: float = 21.0285,
        longitude: float = 105.8542,
        chat: SimChat | int | None = None,
    ) -> JSON:
        return self._user_message(user, chat, {"location": {"latitude": latitude, "longitude": longitude}})

    def send_sticker(self, user: SimUser | int, emoji: str = "👍", chat: SimChat | int | None = None) -> JSON:
        rec = self._register_file("sticker", b"RIFF\x00\x00\x00\x00WEBPVP8 ", "sticker.webp", "image/webp")
        sticker = {
            "file_id": rec.file_id, "file_unique_id": rec.file_unique_id, "type": "regular",
            "width": 512, "height": 512, "is_animated": False, "is_video": False, "emoji": emoji,
            "file_size": len(rec.data),
        }  # fmt: skip
        return self._user_message(user, chat, {"sticker": sticker})

    def send_photo(
        self,
        user: SimUser | int,
        caption: str | None = None,
        chat: SimChat | int | None = None,
        data: bytes = _TINY_JPEG,
    ) -> JSON:
        rec = self._register_file("photo", data, "photo.jpg", "image/jpeg")
        extra: JSON = {"photo": [self._photo_size(rec)]}
        if caption:
            extra["caption"] = caption
        return self._user_message(user, chat, extra)

    def send_voice(
        self, user: SimUser | int, duration: int = 3, chat: SimChat | int | None = None, data: bytes = b"OggS\x00"
    ) -> JSON:
        rec = self._register_file("voice", data, "voice.ogg", "audio/ogg")
        voice = {
            "file_id": rec.file_id, "file_unique_id": rec.file_unique_id, "duration": duration,
            "mime_type": "audio/ogg", "file_size": len(data),
        }  # fmt: skip
        return self._user_message(user, chat, {"voice": voice})

    def send_document(
        self,
        user: SimUser | int,
        file_name: str = "don.pdf",
        mime_type: str = "application/pdf",
        chat: SimChat | int | None = None,
        data: bytes = b"%PDF-1.4\n%%EOF\n",
        caption: str | None = None,
    ) -> JSON:
        rec = self._register_file("document", data, file_name, mime_type)
        extra: JSON = {"document": self._document(rec)}
        if caption:
            extra["caption"] = caption
        return self._user_message(user, chat, extra)

    def press(
        self, user: SimUser | int, message: JSON | int | Any, data: str, chat: SimChat | int | None = None
    ) -> JSON:
        """The user presses an inline button with ``data`` on a bot message.

        ``message`` is a bot message dict (or aiogram Message), or a message_id in ``chat`` (default:
        the user's private chat). The *current* message must carry a button
        with that callback_data, else AssertionError (use press_raw for stale
        buttons).
        """
        u = self._user(user)
        target, message_id = self._press_target(u, message, chat)
        msg = target.history.get(message_id)
        if msg is None or msg.get("deleted"):
            raise AssertionError(f"no message {message_id} in chat {target.id}")
        if msg.get("from", {}).get("id") != self.bot_user["id"]:
            raise AssertionError(f"message {message_id} in chat {target.id} was not sent by the bot")
        buttons = [
            b.get("callback_data")
            for row in msg.get("reply_markup", {}).get("inline_keyboard", [])
            for b in row
            if "callback_data" in b
        ]
        if data not in buttons:
            raise AssertionError(
                f"message {message_id} in chat {target.id} has no inline button with callback_data "
                f"{data!r}; it has {buttons!r}"
            )
        return self._queue_callback(u, target, message_id, data)

    def press_raw(
        self, user: SimUser | int, message_id: int, data: str, chat: SimChat | int | None = None
    ) -> JSON:
        """Like press() without checks: simulates a stale button on an old message."""
        u = self._user(user)
        target, _ = self._press_target(u, message_id, chat)
        return self._queue_callback(u, target, message_id, data)

    def queue_update(self, payload: JSON) -> JSON:
        """Queue an arbitrary update (``{"my_chat_member": {...}}``); assigns update_id."""
        if len(payload) != 1 or "update_id" in payload:
            raise ValueError("payload must hold exactly one update field and no update_id")
        update: JSON = {"update_id": self._next_update_id, **copy.deepcopy(payload)}
        self._next_update_id += 1
        self._sent_updates[update["update_id"]] = update
        self._queue.append(_Queued(update))
        self._notify()
        return update

    def redeliver(self, update: JSON | int) -> JSON:
        """Queue an exact copy (same update_id), as Telegram does after a bot crash.

        The copy is delivered even if the bot already confirmed a higher offset.
        """
        original = self._sent_updates[update] if isinstance(update, int) else update
        clone = copy.deepcopy(original)
        self._queue.append(_Queued(clone, sticky=True))
        self._notify()
        return clone

    def fail_next(
        self,
        method: str,
        times: int = 1,
        *,
        error_code: int = 429,
        description: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail (before validation)."""
        spec_method = self.spec.method(method)
        if spec_method is None:
            raise ValueError(f"unknown Bot API method {method!r}")
        if error_code == 429 and retry_after is None:
            retry_after = 1
        if description is None:
            description = {
                429: f"Too Many Requests: retry after {retry_after}",
                500: "Internal Server Error",
                502: "Bad Gateway",
                400: "Bad Request",
                403: "Forbidden",
            }.get(error_code, f"Error {error_code}")
        queue = self._failures.setdefault(spec_method["name"].lower(), deque())
        queue.extend(_Failure(error_code, description, retry_after) for _ in range(times))

    def fail_chat(
        self,
        chat: SimChat | SimUser | int,
        error_code: int,
        *,
        times: int | None = None,
        description: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Make the next ``times`` (None: all, until ``clear_faults``) sending calls to ``chat`` fail.

        Sending calls are those that send or edit a message (the ones rate limits
        count). The refusal comes after validation, as Telegram checks the chat
        after the parameters; it is recorded with ``Rejection.injected=True``.
        Default descriptions: 400 "chat not found", 403 "bot was blocked by the
        user", 429 "retry after N" (``retry_after`` defaults to 1), 500.
        A new fault for the chat replaces the previous one.
        """
        if not 400 <= error_code <= 599:
            raise ValueError(f"error_code must be a 4xx or 5xx HTTP status, not {error_code}")
        if times is not None and times < 1:
            raise ValueError("times must be at least 1 (or None for until cleared)")
        parameters: JSON | None = None
        if error_code == 429:
            retry_after = 1 if retry_after is None else retry_after
            parameters = {"retry_after": retry_after}
            default = f"Too Many Requests: retry after {retry_after}"
        else:
            default = _CHAT_FAULT_DESCRIPTIONS.get(error_code, f"Error {error_code}")
        self._chat_faults[self._chat_id(chat)] = _ChatFault(error_code, description or default, parameters, times)

    def hang_chat(
        self,
        chat: SimChat | SimUser | int,
        seconds: float,
        *,
        times: int | None = None,
        after_delivery: bool = False,
    ) -> None:
        """Make sending calls to ``chat`` take ``seconds`` before they are answered.

        By default the call waits before it is processed: a client that times out
        and hangs up has sent nothing (aiohttp cancels the handler). With
        ``after_delivery=True`` the message is stored first and only the answer is
        late, like a Telegram response lost on the way: the client gives up
        although the message was sent. ``stop()`` cuts any hang short.
        """
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        if times is not None and times < 1:
            raise ValueError("times must be at least 1 (or None for until cleared)")
        self._chat_hangs[self._chat_id(chat)] = _ChatHang(seconds, after_delivery, times)

    def clear_faults(self, chat: SimChat | SimUser | int | None = None) -> None:
        """Remove the chat's ``fail_chat``/``hang_chat`` faults; without a chat, every fault (``fail_next`` too)."""
        if chat is None:
            self._chat_faults.clear()
            self._chat_hangs.clear()
            self._failures.clear()
            return
        cid = self._chat_id(chat)
        self._chat_faults.pop(cid, None)
        self._chat_hangs.pop(cid, None)

    # -- rate limits -----------------------------------------------------------------

    def enforce_limits(
        self, limits: RateLimits | Mapping[str, Any] | None = TELEGRAM_LIMITS, /, **overrides: Any
    ) -> RateLimits | None:
        """Refuse sending calls over Telegram's flood limits with 429 "retry after N".

        ``enforce_limits()`` uses Telegram's figures; keywords or a dict/RateLimits
        change them (``enforce_limits(per_second=50, chat_per_second=None)``);
        ``enforce_limits(None)`` turns limits off (the default). Each call starts
        with full buckets. Only calls that send or edit a message count, only
        accepted ones use a token, and a refused call stores nothing. Returns the
        limits now in force.
        """
        active = RateLimits.coerce(limits)
        if overrides:
            if active is None:
                raise ValueError("limits are off (None): there is nothing to override")
            active = RateLimits.coerce({**asdict(active), **overrides})
        self._limiter = None if active is None else _RateLimiter(active, self.clock())
        return active

    @property
    def limits(self) -> RateLimits | None:
        """The rate limits in force, or None when they are off."""
        return self._limiter.limits if self._limiter else None

    # -- recording / queries -----------------------------------------------------

    def real_rejections(self) -> list[Rejection]:
        """Refusals the bot earned itself: all but injected faults (rate-limit 429s included)."""
        return [r for r in self.rejections if not r.injected]

    def max_rate(self, window: float = 1.0) -> int:
        """The most sending calls accepted within any ``window`` seconds, over all chats."""
        return _max_in_window((s.at for s in self.sent_log), window)

    def max_chat_rate(self, window: float = 1.0, chat: SimChat | SimUser | int | None = None) -> int:
        """The most sending calls accepted within any ``window`` seconds in one chat.

        For ``chat``, or the busiest chat when it is None. Inline-message edits name no chat and are left out.
        """
        wanted = None if chat is None else self._chat_id(chat)
        per_chat: dict[int, list[float]] = {}
        for s in self.sent_log:
            if s.chat_id is not None and (wanted is None or s.chat_id == wanted):
                per_chat.setdefault(s.chat_id, []).append(s.at)
        return max((_max_in_window(times, window) for times in per_chat.values()), default=0)

    def _rates(self, window: float) -> JSON:
        return {"window": window, "max_rate": self.max_rate(window), "max_chat_rate": self.max_chat_rate(window)}

    def calls_of(self, method: str) -> list[JSON]:
        """Decoded params of every accepted call of ``method`` (case-insensitive)."""
        return [c.params for c in self.calls if c.method.lower() == method.lower()]

    def messages(self, chat_id: SimChat | SimUser | int) -> list[JSON]:
        """Current (edited in place) bot messages in the chat, oldest first; deleted ones excluded."""
        chat = self.chats.get(self._chat_id(chat_id))
        if chat is None:
            return []
        return [chat.history[i] for i in chat.bot_message_ids if not chat.history[i].get("deleted")]

    def pending_updates(self) -> list[JSON]:
        return [q.update for q in self._queue]

    def unanswered_callbacks(self) -> list[str]:
        return list(self._pending_callbacks)

    async def next_message(self, chat_id: SimChat | SimUser | int, timeout: float = 10) -> JSON:
        """The next bot message sent to the chat that this helper has not yet returned."""
        cid = self._chat_id(chat_id)

        def fetch() -> JSON | None:
            chat = self.chats.get(cid)
            cursor = self._cursors.get(cid, 0)
            if chat is None or cursor >= len(chat.bot_message_ids):
                return None
            self._cursors[cid] = cursor + 1
            return chat.history[chat.bot_message_ids[cursor]]

        return await self._wait(fetch, timeout, lambda: f"no new bot message in chat {cid}")

    async def wait_until(self, predicate: Callable[[], T], timeout: float = 10) -> T:
        """Wait until ``predicate()`` is truthy (re-checked on every change) and return it."""
        return await self._wait(predicate, timeout, lambda: f"condition {predicate!r} never became true")

    async def wait_answered(self, callback_query: JSON | str, timeout: float = 10) -> str | None:
        """Wait until the callback query (id or its update) is answered; returns the answer text."""
        if isinstance(callback_query, dict):
            cq = callback_query.get("callback_query", callback_query)
            qid = str(cq["id"])
        else:
            qid = callback_query
        await self._wait(lambda: qid in self.callback_answers, timeout, lambda: f"callback query {qid} not answered")
        return self.callback_answers[qid]

    # -- internals: world ------------------------------------------------------------

    def _notify(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    def deadline(self, timeout: float) -> "Deadline":
        """`timeout` seconds from now; with ``idle_timeouts``, from the bot's latest call."""
        return Deadline(self, timeout)

    async def _wait(self, probe: Callable[[], T], timeout: float, explain: Callable[[], str]) -> T:
        deadline = self.deadline(timeout)
        while True:
            event = self._changed
            value = probe()
            if value:
                return value
            remaining = deadline.remaining()
            if remaining <= 0:
                recent = ", ".join(f"{c.method}" for c in self.calls[-10:])
                rejected = "; ".join(f"{r.method}: {r.description}" for r in self.rejections[-5:])
                raise DoubleTimeout(
                    f"timed out after {timeout}s: {explain()} (last calls: {recent or 'none'};"
                    f" last rejections: {rejected or 'none'})"
                )
            # Also poll: predicates may depend on state outside the double.
            try:
                await asyncio.wait_for(event.wait(), min(remaining, 0.05))
            except asyncio.TimeoutError:
                pass

    def _user(self, user: SimUser | int) -> SimUser:
        if isinstance(user, SimUser):
            return user
        try:
            return self.users[user]
        except KeyError:
            raise KeyError(f"unknown simulated user {user}") from None

    @staticmethod
    def _chat_id(chat: SimChat | SimUser | int) -> int:
        return chat.id if isinstance(chat, (SimChat, SimUser)) else int(chat)

    def _private_chat(self, u: SimUser) -> SimChat:
        chat = self.chats.get(u.id)
        if chat is None:
            chat = self.chats[u.id] = SimChat(u.id, "private", user=u)
        return chat

    def _target_chat(self, u: SimUser, chat: SimChat | int | None) -> SimChat:
        if chat is None:
            return self._private_chat(u)
        cid = self._chat_id(chat)
        if cid == u.id:
            return self._private_chat(u)
        if cid not in self.chats:
            raise KeyError(f"unknown chat {cid}: create it with double.group()")
        return self.chats[cid]

    def _user_message(self, user: SimUser | int, chat: SimChat | int | None, content: JSON) -> JSON:
        u = self._user(user)
        target = self._target_chat(u, chat)
        u.seen = True
        if target.type == "private":
            u.started = True
        message: JSON = {
            "message_id": target.next_message_id(),
            "from": u.to_dict(),
            "chat": target.to_dict(),
            "date": int(time.time()),
            **content,
        }
        target.history[message["message_id"]] = message
        return self.queue_update({"message": message})

    def _press_target(self, u: SimUser, message: Any, chat: SimChat | int | None) -> tuple[SimChat, int]:
        if isinstance(message, dict):
            chat = message["chat"]["id"] if chat is None else chat
            message_id = int(message["message_id"])
        elif isinstance(message, int):
            message_id = message
        else:  # an aiogram Message (anything with .message_id and .chat.id)
            chat = message.chat.id if chat is None else chat
            message_id = int(message.message_id)
        return self._target_chat(u, chat), message_id

    def _queue_callback(self, u: SimUser, chat: SimChat, message_id: int, data: str) -> JSON:
        u.seen = True
        qid = str(4_000_000_000_000_000_000 + self._next_callback_id)
        self._next_callback_id += 1
        msg = chat.history.get(message_id)
        if msg is None or msg.get("deleted"):
            shown: JSON = {"chat": chat.to_dict(), "message_id": message_id, "date": 0}  # InaccessibleMessage
        else:
            shown = _public(msg)
        self._pending_callbacks[qid] = time.monotonic()
        return self.queue_update(
            {
                "callback_query": {
                    "id": qid,
                    "from": u.to_dict(),
                    "message": shown,
                    "chat_instance": str(abs(chat.id) * 7 + 13),
                    "data": data,
                }
            }
        )

    def _queue_member_change(self, u: SimUser, old: str, new: str) -> JSON:
        chat = self._private_chat(u)
        return self.queue_update(
            {
                "my_chat_member": {
                    "chat": chat.to_dict(),
                    "from": u.to_dict(),
                    "date": int(time.time()),
                    "old_chat_member": {"status": old, "user": self.bot_user_short()},
                    "new_chat_member": (
                        {"status": new, "user": self.bot_user_short()}
                        if new == "member"
                        else {"status": new, "user": self.bot_user_short(), "until_date": 0}
                    ),
                }
            }
        )

    def bot_user_short(self) -> JSON:
        return {k: self.bot_user[k] for k in ("id", "is_bot", "first_name", "username")}

    def _register_file(self, kind: str, data: bytes, file_name: str | None, mime_type: str | None) -> FileRecord:
        n = self._next_file_id
        self._next_file_id += 1
        rec = FileRecord(f"DBL{kind[:3].upper()}-{n:08d}-doithoai", f"U{n:08d}", kind, data, file_name, mime_type)
        self.files[rec.file_id] = rec
        return rec

    @staticmethod
    def _photo_size(rec: FileRecord) -> JSON:
        return {"file_id": rec.file_id, "file_unique_id": rec.file_unique_id, "width": 320, "height": 320,
                "file_size": len(rec.data)}  # fmt: skip

    @staticmethod
    def _document(rec: FileRecord) -> JSON:
        d: JSON = {"file_id": rec.file_id, "file_unique_id": rec.file_unique_id, "file_size": len(rec.data)}
        if rec.file_name:
            d["file_name"] = rec.file_name
        if rec.mime_type:
            d["mime_type"] = rec.mime_type
        return d

    # -- internals: Bot API helpers -------------------------------------------------

    def _resolve_chat(self, chat_id: int | str) -> SimChat:
        """The chat the bot wants to act in, refused like Telegram refuses it."""
        if isinstance(chat_id, str):
            chat = next((c for c in self.chats.values() if c.username and f"@{c.username}" == chat_id), None)
            if chat is None or chat.type == "private":
                raise _bad_request(ERR_CHAT_NOT_FOUND)
            return chat
        chat = self.chats.get(chat_id)
        u = self.users.get(chat_id)
        if u is not None and not u.started:
            if u.seen:
                raise BotAPIError(403, "Forbidden: bot can't initiate conversation with a user")
            raise _bad_request(ERR_CHAT_NOT_FOUND)
        if chat is None:
            raise _bad_request(ERR_CHAT_NOT_FOUND)
        if chat.user is not None and chat.user.blocked:
            raise BotAPIError(403, "Forbidden: bot was blocked by the user")
        return chat

    def _store_bot_message(self, chat: SimChat, content: JSON, params: JSON) -> JSON:
        reply_to = self._reply_target(chat, params)
        msg: JSON = {
            "message_id": chat.next_message_id(),
            "from": dict(self.bot_user_short()),
            "chat": chat.to_dict(),
            "date": int(time.time()),
            **content,
        }
        if reply_to is not None:
            msg["reply_to_message"] = {k: v for k, v in _public(reply_to).items() if k != "reply_to_message"}
        markup = params.get("reply_markup")
        if markup and "inline_keyboard" in markup:
            if any(markup["inline_keyboard"]):
                msg["reply_markup"] = markup
        elif markup:
            msg["reply_keyboard"] = markup
        msg["edits"] = 0
        chat.history[msg["message_id"]] = msg
        chat.bot_message_ids.append(msg["message_id"])
        return _public(msg)

    def _reply_target(self, chat: SimChat, params: JSON) -> JSON | None:
        reply = dict(params.get("reply_parameters") or {})
        if "reply_to_message_id" in params:
            reply.setdefault("message_id", params["reply_to_message_id"])
            reply.setdefault("allow_sending_without_reply", params.get("allow_sending_without_reply", False))
        if not reply:
            return None
        target = chat if "chat_id" not in reply else self._resolve_chat(reply["chat_id"])
        msg = target.history.get(reply["message_id"])
        if msg is None or msg.get("deleted"):
            if reply.get("allow_sending_without_reply"):
                return None
            raise _bad_request("message to be replied not found")
        return msg

    def _editable_message(self, params: JSON) -> tuple[SimChat, JSON]:
        if "inline_message_id" in params:
            raise _bad_request("MESSAGE_ID_INVALID")  # the double has no inline messages
        if "chat_id" not in params or "message_id" not in params:
            raise _bad_request("message identifier is not specified")
        chat = self._resolve_chat(params["chat_id"])
        msg = chat.history.get(params["message_id"])
        if msg is None or msg.get("deleted"):
            raise _bad_request(ERR_MESSAGE_TO_EDIT_NOT_FOUND)
        if msg["from"]["id"] != self.bot_user["id"]:
            raise _bad_request("message can't be edited")
        return chat, msg

    @staticmethod
    def _inline_markup(params: JSON) -> JSON | None:
        markup = params.get("reply_markup")
        # An empty inline keyboard removes the keyboard, like passing none.
        return markup if markup and any(markup.get("inline_keyboard", [])) else None

    def _apply_edit(self, msg: JSON, changes: JSON, markup: JSON | None) -> JSON:
        new_state = {**msg, **changes}
        for key, value in changes.items():
            if value is None:
                new_state.pop(key, None)
        if markup is None:
            new_state.pop("reply_markup", None)
        else:
            new_state["reply_markup"] = markup
        if {k: v for k, v in new_state.items() if k != "edit_date"} == {
            k: v for k, v in msg.items() if k != "edit_date"
        }:
            raise _bad_request(ERR_NOT_MODIFIED)
        msg.clear()
        msg.update(new_state)
        msg["edit_date"] = int(time.time())
        msg["edits"] = int(msg.get("edits", 0)) + 1
        return _public(msg)

    def _input_file(self, kind: str, value: UploadedFile | str) -> FileRecord:
        """Turn an InputFile/file_id/URL parameter into a stored file, refusing what Telegram refuses."""
        if isinstance(value, UploadedFile):
            if not value.data:
                raise _bad_request("file must be non-empty")
            if kind == "photo" and not _is_image(value.data):
                raise _bad_request("IMAGE_PROCESS_FAILED")
            mime = value.content_type
            if not mime or mime == "application/octet-stream":
                mime = mimetypes.guess_type(value.filename)[0] or "application/octet-stream"
            return self._register_file(kind, value.data, value.filename, mime)
        if value.startswith(("http://", "https://")):
            name = value.rstrip("/").rsplit("/", 1)[-1] or "file"
            return self._register_file(kind, b"", name, mimetypes.guess_type(name)[0])
        rec = self.files.get(value)
        if rec is None:
            raise _bad_request("wrong file identifier/HTTP URL specified")
        if rec.kind != kind:
            raise _bad_request(f"can't use file of type {rec.kind.capitalize()} as {kind.capitalize()}")
        return rec

    @staticmethod
    def _caption(params: JSON) -> JSON:
        if "caption" not in params:
            return {}
        caption, entities = parse_formatted_text(
            params["caption"], params.get("parse_mode"), params.get("caption_entities")
        )
        out: JSON = {"caption": caption} if caption else {}
        if entities:
            out["caption_entities"] = entities
        return out

    # -- Bot API methods ---------------------------------------------------------------

    async def _m_true(self, params: JSON, request: web.Request) -> bool:
        return True

    async def _m_get_me(self, params: JSON, request: web.Request) -> JSON:
        return dict(self.bot_user)

    async def _m_get_updates(self, params: JSON, request: web.Request) -> list[JSON]:
        if self.webhook_url:
            raise BotAPIError(409, ERR_WEBHOOK_ACTIVE)
        previous = self._active_poll
        if previous is not None and not previous.disconnected():
            if self.conflict_policy == "reject_new":
                raise BotAPIError(409, ERR_CONFLICT)
            previous.terminated = True
        poll = self._active_poll = _Poll(request)
        self._notify()  # wakes the terminated poll

        if "allowed_updates" in params:
            # An empty list means "all types except the opt-in ones", as in Telegram.
            self._allowed_updates = frozenset(params["allowed_updates"]) or None
        self._confirm(params.get("offset"))
        limit = params.get("limit", 100)
        timeout = max(params.get("timeout", 0), 0)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while True:
                event = self._changed
                if poll.terminated:
                    raise BotAPIError(409, ERR_CONFLICT)
                batch = self._deliverable(limit)
                remaining = deadline - loop.time()
                if batch or remaining <= 0 or self._closing:
                    for queued in batch:
                        queued.delivered = True
                    return [copy.deepcopy(q.update) for q in batch]
                try:
                    await asyncio.wait_for(event.wait(), remaining)
                except asyncio.TimeoutError:
                    pass
        finally:
            if self._active_poll is poll:
                self._active_poll = None

    def _confirm(self, offset: int | None) -> None:
        if offset is None:
            return
        if offset < 0:  # keep only the last -offset updates
            self._queue = self._queue[offset:]
            return
        self._queue = [q for q in self._queue if q.update_id >= offset or (q.sticky and not q.delivered)]

    def _deliverable(self, limit: int) -> list[_Queued]:
        batch: list[_Queued] = []
        kept: list[_Queued] = []
        for q in self._queue:
            allowed = q.kind in self._allowed_updates if self._allowed_updates else (
                q.kind not in _UPDATE_TYPES_OFF_BY_DEFAULT
            )
            if not allowed:
                self.filtered_updates.append(q.update)
                continue
            kept.append(q)
            if len(batch) < limit:
                batch.append(q)
        self._queue = kept
        return batch

    async def _m_set_webhook(self, params: JSON, request: web.Request) -> bool:
        self.webhook_url = params["url"] or None
        if params.get("drop_pending_updates"):
            self._queue.clear()
        return True

    async def _m_delete_webhook(self, params: JSON, request: web.Request) -> bool:
        self.webhook_url = None
        if params.get("drop_pending_updates"):
            self._queue.clear()
        return True

    async def _m_get_webhook_info(self, params: JSON, request: web.Request) -> JSON:
        return {
            "url": self.webhook_url or "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._queue),
        }

    async def _m_set_my_commands(self, params: JSON, request: web.Request) -> bool:
        self.commands[_commands_key(params.get("scope"), params.get("language_code"))] = params["commands"]
        return True

    async def _m_get_my_commands(self, params: JSON, request: web.Request) -> list[JSON]:
        return copy.deepcopy(self.commands.get(_commands_key(params.get("scope"), params.get("language_code")), []))

    async def _m_delete_my_commands(self, params: JSON, request: web.Request) -> bool:
        self.commands.pop(_commands_key(params.get("scope"), params.get("language_code")), None)
        return True

    async def _m_send_message(self, params: JSON, request: web.Request) -> JSON:
        chat = self._resolve_chat(params["chat_id"])
        text, entities = Validator.check_message_text(params)
        content: JSON = {"text": text}
        if entities:
            content["entities"] = entities
        return self._store_bot_message(chat, content, params)

    async def _m_edit_message_text(self, params: JSON, request: web.Request) -> JSON:
        _, msg = self._editable_message(params)
        if "text" not in msg:
            raise _bad_request("there is no text in the message to edit")
        if "text" not in params:
            raise _bad_request("rich messages are not supported by the double")
        text, entities = Validator.check_message_text(params)
        return self._apply_edit(msg, {"text": text, "entities": entities or None}, self._inline_markup(params))

    async def _m_edit_message_reply_markup(self, params: JSON, request: web.Request) -> JSON:
        _, msg = self._editable_message(params)
        return self._apply_edit(msg, {}, self._inline_markup(params))

    async def _m_delete_message(self, params: JSON, request: web.Request) -> bool:
        chat = self._resolve_chat(params["chat_id"])
        msg = chat.history.get(params["message_id"])
        if msg is None or msg.get("deleted"):
            raise _bad_request("message to delete not found")
        if msg["from"]["id"] != self.bot_user["id"] and chat.type != "private":
            raise _bad_request("message can't be deleted")  # the bot is no admin in groups
        msg["deleted"] = True
        return True

    async def _m_answer_callback_query(self, params: JSON, request: web.Request) -> bool:
        qid = params["callback_query_id"]
        pressed = self._pending_callbacks.pop(qid, None)
        if pressed is None:
            raise _bad_request(ERR_QUERY_TOO_OLD)
        if self.callback_timeout is not None and time.monotonic() - pressed > self.callback_timeout:
            raise _bad_request(ERR_QUERY_TOO_OLD)
        self.callback_answers[qid] = params.get("text")
        return True

    async def _m_send_location(self, params: JSON, request: web.Request) -> JSON:
        chat = self._resolve_chat(params["chat_id"])
        location = {k: params[k] for k in ("latitude", "longitude", "horizontal_accuracy", "live_period",
                                           "heading", "proximity_alert_radius") if k in params}  # fmt: skip
        return self._store_bot_message(chat, {"location": location}, params)

    async def _m_send_chat_action(self, params: JSON, request: web.Request) -> bool:
        self._resolve_chat(params["chat_id"])
        return True

    async def _m_get_chat(self, params: JSON, request: web.Request) -> JSON:
        chat_id = params["chat_id"]
        chat = self.chats.get(chat_id) if isinstance(chat_id, int) else None
        if chat is None or (chat.user is not None and not chat.user.started):
            raise _bad_request(ERR_CHAT_NOT_FOUND)
        gifts = {k: False for k in ("unlimited_gifts", "limited_gifts", "unique_gifts", "premium_subscription",
                                    "gifts_from_channels")}  # fmt: skip
        return {**chat.to_dict(), "accent_color_id": 0, "max_reaction_count": 11, "accepted_gift_types": gifts}

    async def _m_get_file(self, params: JSON, request: web.Request) -> JSON:
        rec = self.files.get(params["file_id"])
        if rec is None:
            raise _bad_request("invalid file_id")
        return {"file_id": rec.file_id, "file_unique_id": rec.file_unique_id, "file_size": len(rec.data),
                "file_path": rec.file_path}  # fmt: skip

    async def _m_generic(self, method: JSON, params: JSON) -> Any:
        """Validated but otherwise unimplemented methods: a plausible result."""
        returns = method.get("returns", ["Boolean"])
        if returns == ["Message"] and "chat_id" in params:
            chat = self._resolve_chat(params["chat_id"])
            content = self._generic_content(method["name"].lower(), params)
            return self._store_bot_message(chat, content, params)
        if returns and returns[0].startswith("Array of"):
            return []
        return True

    def _generic_content(self, name: str, params: JSON) -> JSON:
        content = self._caption(params)
        kind = _MEDIA_KINDS.get(name)
        if kind is not None:
            rec = self._input_file(kind, params[kind])
            if kind == "photo":
                content["photo"] = [self._photo_size(rec)]
            else:
                media = self._document(rec)
                if kind in ("voice", "audio", "video", "animation", "video_note"):
                    media["duration"] = params.get("duration", 1)
                if kind in ("video", "animation", "sticker"):
                    media.update(width=params.get("width", 320), height=params.get("height", 320))
                if kind == "sticker":
                    media.update(type="regular", is_animated=False, is_video=False)
                if kind == "video_note":
                    media["length"] = params.get("length", 240)
                content[kind] = media
        elif name == "sendcontact":
            content["contact"] = {k: params[k] for k in ("phone_number", "first_name", "last_name", "vcard")
                                  if k in params}  # fmt: skip
        elif name == "sendvenue":
            content["venue"] = {
                "location": {"latitude": params["latitude"], "longitude": params["longitude"]},
                "title": params["title"],
                "address": params["address"],
            }
        elif name == "senddice":
            content["dice"] = {"emoji": params.get("emoji", "🎲"), "value": 1}
        return content

    # -- HTTP: Bot API -------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.Response:
        name = request.match_info["method"]
        raw: dict[str, str] = {}
        try:
            if request.match_info["token"] != self.token:
                raise BotAPIError(401, "Unauthorized")
            method = self.spec.method(name)
            if method is None:
                raise BotAPIError(404, "Not Found")
            name = method["name"]
            raw, files = await self._read_params(request)
            failures = self._failures.get(name.lower())
            if failures:
                failure = failures.popleft()
                params = {"retry_after": failure.retry_after} if failure.retry_after is not None else None
                raise _InjectedFault(failure.error_code, failure.description, params)
            params = self.validator.decode(method, raw, files)
            late_answer = 0.0
            if name.lower() in self._sending_methods:
                result, late_answer = await self._send(method, params, request)
            else:
                result = await self._dispatch(method, params, request)
        except BotAPIError as exc:
            self.rejections.append(
                Rejection(name, raw, exc.error_code, exc.description, injected=isinstance(exc, _InjectedFault))
            )
            if name.lower() != "getupdates":
                self._progress += 1
            self._notify()
            return web.json_response(exc.payload(), status=exc.error_code)
        except Exception as exc:  # a bug in the double must fail loudly, not look like Telegram
            _log.exception("BotAPIDouble crashed handling %s", name)
            error = BotAPIError(500, f"Internal Server Error: BotAPIDouble bug: {exc!r}")
            self.rejections.append(Rejection(name, raw, error.error_code, error.description))
            return web.json_response(error.payload(), status=500)
        self.calls.append(Call(name, params))
        if name.lower() != "getupdates":
            self._progress += 1
        self._notify()
        if late_answer:
            await self._pause(late_answer)  # recorded already: a client that gives up has still sent it
        return web.json_response({"ok": True, "result": result}, dumps=_dumps)

    async def _dispatch(self, method: JSON, params: JSON, request: web.Request) -> Any:
        handler = self._handlers.get(method["name"].lower())
        if handler is not None:
            return await handler(params, request)
        return await self._m_generic(method, params)

    async def _send(self, method: JSON, params: JSON, request: web.Request) -> tuple[Any, float]:
        """A call that sends or edits a message: hangs, injected faults and rate limits around it.

        In the order Telegram would meet them: the request is slow to arrive,
        the chat refuses, flood control refuses, then the method runs. Returns
        the result and how long to hold the answer back (``after_delivery`` hangs).
        """
        chat_id = self._sending_chat_id(params)
        hang = _take(self._chat_hangs, chat_id)
        if hang is not None and not hang.after_delivery:
            await self._pause(hang.seconds)
        fault = _take(self._chat_faults, chat_id)
        if fault is not None:
            raise fault.error()
        taken: list[_TokenBucket] = []
        if self._limiter is not None:
            chat = self.chats.get(chat_id) if chat_id is not None else None
            # An unknown chat is refused by the method anyway; its id's sign tells the kind.
            group = chat.type != "private" if chat is not None else chat_id is not None and chat_id < 0
            taken = self._limiter.acquire(chat_id, group, self.clock())
        try:
            result = await self._dispatch(method, params, request)
        except BaseException:
            _RateLimiter.release(taken)  # refused by the method (or cancelled): nothing was sent
            raise
        self.sent_log.append(Sent(self.clock(), chat_id, method["name"]))
        return result, hang.seconds if hang is not None and hang.after_delivery else 0.0

    def _sending_chat_id(self, params: JSON) -> int | None:
        """The numeric id of the chat a sending call targets (None: inline message or unknown @name)."""
        chat_id = params.get("chat_id")
        if isinstance(chat_id, int):
            return chat_id
        if isinstance(chat_id, str):
            return next((c.id for c in self.chats.values() if c.username and f"@{c.username}" == chat_id), None)
        return None

    async def _pause(self, seconds: float) -> None:
        """Sleep, but let stop() cut it short so a hung chat never delays teardown."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not self._closing and (remaining := deadline - loop.time()) > 0:
            event = self._changed
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    @staticmethod
    async def _read_params(request: web.Request) -> tuple[dict[str, str], dict[str, UploadedFile]]:
        raw: dict[str, str] = dict(request.query)
        files: dict[str, UploadedFile] = {}
        if not request.can_read_body:
            return raw, files
        ctype = request.content_type
        if ctype == "application/json":
            try:
                body = json.loads(await request.text() or "{}")
            except ValueError:
                raise _bad_request("can't parse JSON body") from None
            if not isinstance(body, dict):
                raise _bad_request("JSON body must be an object")
            for key, value in body.items():
                # Telegram reads a JSON body as if each value had been a form field.
                if value is not None:
                    raw[key] = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        elif ctype == "multipart/form-data":
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if not isinstance(part, BodyPartReader) or part.name is None:
                    continue
                if part.filename is not None:
                    data = await part.read()
                    ptype = part.headers.get("Content-Type", "application/octet-stream")
                    files[part.name] = UploadedFile(part.name, part.filename, ptype, bytes(data))
                else:
                    raw[part.name] = await part.text()
        elif ctype == "application/x-www-form-urlencoded":
            form = await request.post()
            raw.update({k: v for k, v in form.items() if isinstance(v, str)})
        return raw, files

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.json_response(BotAPIError(401, "Unauthorized").payload(), status=401)
        path = request.match_info["path"]
        rec = next((r for r in self.files.values() if r.file_path == path), None)
        if rec is None:
            return web.json_response(BotAPIError(404, "Not Found").payload(), status=404)
        return web.Response(body=rec.data, content_type=rec.mime_type or "application/octet-stream")

    async def _handle_unknown_path(self, request: web.Request) -> web.Response:
        return web.json_response(BotAPIError(404, "Not Found").payload(), status=404)

    # -- HTTP: control API ------------------------------------------------------------------

    def _add_control_routes(self, app: web.Application) -> None:
        getters: dict[str, Callable[[web.Request], Any]] = {
            "users": lambda r: [u.to_dict() | {"blocked": u.blocked} for u in self.users.values()],
            "messages": lambda r: self.messages(int(r.query["chat_id"])),
            "calls": lambda r: [
                {"method": c.method, "params": c.params}
                for c in self.calls
                if "method" not in r.query or c.method.lower() == r.query["method"].lower()
            ],
            "rejections": lambda r: [dict(x._asdict()) for x in self.rejections],
            "callback_answers": lambda r: self.callback_answers,
            "commands": lambda r: [
                {"scope": scope, "language_code": lang, "commands": cmds}
                for (scope, lang), cmds in self.commands.items()
            ],
            "updates": lambda r: self.pending_updates(),
            "sent_log": lambda r: [s._asdict() for s in self.sent_log],
            "rates": lambda r: self._rates(float(r.query.get("window", 1.0))),
            "limits": lambda r: _limits_json(self.limits),
        }
        actions: dict[str, Callable[[JSON], Any]] = {
            "users": lambda b: self.user(
                b.get("user_id"), b.get("first_name", "An"), b.get("language_code", "vi"),
                last_name=b.get("last_name"), username=b.get("username"),
            ).to_dict(),
            "groups": lambda b: self.group(
                b.get("title", "Tổ dân phố 1"), supergroup=bool(b.get("supergroup")), username=b.get("username")
            ).to_dict(),
            "send_text": lambda b: self.send_text(b["user_id"], b["text"], b.get("chat_id")),
            "press": lambda b: self.press(b["user_id"], b["message_id"], b["data"], b.get("chat_id")),
            "press_raw": lambda b: self.press_raw(b["user_id"], b["message_id"], b["data"], b.get("chat_id")),
            "send_contact": lambda b: self.send_contact(b["user_id"], b["phone"], b.get("own", True), b.get("chat_id")),
            "send_location": lambda b: self.send_location(
                b["user_id"], b.get("latitude", 21.0285), b.get("longitude", 105.8542), b.get("chat_id")
            ),
            "send_sticker": lambda b: self.send_sticker(b["user_id"], chat=b.get("chat_id")),
            "send_photo": lambda b: self.send_photo(b["user_id"], b.get("caption"), b.get("chat_id")),
            "send_voice": lambda b: self.send_voice(b["user_id"], chat=b.get("chat_id")),
            "send_document": lambda b: self.send_document(b["user_id"], chat=b.get("chat_id")),
            "block": lambda b: self.block(b["user_id"]),
            "unblock": lambda b: self.unblock(b["user_id"]),
            "redeliver": lambda b: self.redeliver(int(b["update_id"])),
            "queue_update": lambda b: self.queue_update(b),
            "fail_next": lambda b: self.fail_next(
                b["method"], int(b.get("times", 1)), error_code=int(b.get("error_code", 429)),
                description=b.get("description"), retry_after=b.get("retry_after"),
            ),
            # A JSON null body turns the limits off; {} (or no body) sets Telegram's.
            "limits": lambda b: _limits_json(self.enforce_limits(b)),
            "fail_chat": lambda b: self.fail_chat(
                int(b["chat_id"]), int(b["error_code"]), times=b.get("times"),
                description=b.get("description"), retry_after=b.get("retry_after"),
            ),
            "hang_chat": lambda b: self.hang_chat(
                int(b["chat_id"]), float(b["seconds"]), times=b.get("times"),
                after_delivery=bool(b.get("after_delivery", False)),
            ),
            "clear_faults": lambda b: self.clear_faults(b.get("chat_id")),
        }  # fmt: skip

        def control(fn: Callable[[Any], Any], *, body: bool) -> Callable[[web.Request], Awaitable[web.Response]]:
            async def handle(request: web.Request) -> web.Response:
                try:
                    arg = (await request.json() if request.can_read_body else {}) if body else request
                    return web.json_response({"ok": True, "result": fn(arg)}, dumps=_dumps)
                except (AssertionError, KeyError, ValueError, TypeError) as exc:
                    return web.json_response({"ok": False, "error": f"{type(exc).__name__}: {exc}"}, status=400)

            return handle

        for name, getter in getters.items():
            app.router.add_get(f"/_double/{name}", control(getter, body=False))
        for name, action in actions.items():
            app.router.add_post(f"/_double/{name}", control(action, body=True))

        async def next_message(request: web.Request) -> web.Response:
            try:
                msg = await self.next_message(int(request.query["chat_id"]), float(request.query.get("timeout", 10)))
            except (DoubleTimeout, KeyError, ValueError) as exc:
                return web.json_response({"ok": False, "error": str(exc)}, status=400)
            return web.json_response({"ok": True, "result": msg}, dumps=_dumps)

        app.router.add_get("/_double/next_message", next_message)


def _limits_json(limits: RateLimits | None) -> JSON | None:
    return asdict(limits) if limits is not None else None


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, default=lambda o: repr(o))


# ---------------------------------------------------------------------------
# Standalone server
# ---------------------------------------------------------------------------


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.botapi_double",
        description="Run the strict Telegram Bot API double standalone (control API under /_double/).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default="123456789:TEST-doithoai-double")
    parser.add_argument("--username", default="doithoai_test_bot")
    parser.add_argument("--spec", default=None, help=f"api.json path (default: ${SPEC_ENV_VAR} or shared/)")
    args = parser.parse_args(list(argv) if argv is not None else None)

    async def serve() -> None:
        double = BotAPIDouble(args.token, host=args.host, port=args.port, username=args.username, spec=args.spec)
        await double.start()
        print(f"Bot API double (spec {double.spec.version}) on {double.base_url}", flush=True)
        print(f"  bot API:     {double.api_url}/<method>", flush=True)
        print(f"  control API: {double.base_url}/_double/...", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await double.stop()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
