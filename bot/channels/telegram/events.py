"""Telegram updates, as Telegram sent them (JSON), → core events. Identifiers become strings, as every channel's are.

Read from the JSON as Telegram documents it (core.telegram.org/bots/api#update). Every field read
is checked for its type here: a webhook delivery is read once before it is stored
(bot/channels/telegram/runner.py), and one that does not have Telegram's shape raises ValueError
and is never stored."""

from __future__ import annotations

import logging
import mimetypes
from typing import Awaitable, Callable

from bot.domain.messages import Event, FileRef, FileUnavailable, Kind, split_command

from .client import BotAPI, BotAPIError

CHANNEL = "telegram"
DOWNLOAD_TIMEOUT = 60  # seconds for getFile plus the download itself

log = logging.getLogger(__name__)


def _fetcher(bot: BotAPI | None, file_id: str) -> Callable[[], Awaitable[bytes]]:
    async def fetch() -> bytes:
        if bot is None:
            raise FileUnavailable("no bot to download with")
        try:
            file = await bot.call("getFile", {"file_id": file_id}, timeout=DOWNLOAD_TIMEOUT)
            path = file.get("file_path") if isinstance(file, dict) else None
            if not isinstance(path, str) or not path:
                raise FileUnavailable("Telegram gave no file path")
            return await bot.download(path, timeout=DOWNLOAD_TIMEOUT)
        except BotAPIError as exc:  # refused (too big for bots), gone, or the network: all "not now"
            # Only the type: no error of the client carries the URL, and with it the token.
            log.warning("downloading a file from Telegram failed: %s", type(exc).__name__)
            raise FileUnavailable(type(exc).__name__) from None

    return fetch


def file_ref(message: dict, bot: BotAPI | None) -> FileRef | None:
    """The photo (its largest size) or document of a message, to be downloaded only if a flow asks for it."""
    photos = message.get("photo")
    if isinstance(photos, list) and photos:
        photo = photos[-1]  # Telegram lists the sizes smallest first
        return FileRef(kind="photo", filename=f"photo-{_text(photo, 'file_unique_id')}.jpg", mime_type="image/jpeg",
                       size=_number(photo, "file_size"), fetch=_fetcher(bot, _text(photo, "file_id")))
    for part in ("voice", "audio"):  # a voice note (OGG/Opus), or an audio file sent as such
        sound = message.get(part)
        if isinstance(sound, dict):
            name = sound.get("file_name") or f"{part}-{_text(sound, 'file_unique_id')}.ogg"
            return FileRef(kind="voice", filename=name, mime_type=sound.get("mime_type") or "audio/ogg", size=_number(sound, "file_size"),
                           fetch=_fetcher(bot, _text(sound, "file_id")), seconds=_number(sound, "duration"))
    document = message.get("document")
    if isinstance(document, dict):
        name = document.get("file_name") or f"file-{_text(document, 'file_unique_id')}"
        mime = document.get("mime_type") or mimetypes.guess_type(name)[0] or "application/octet-stream"
        return FileRef(kind="document", filename=name, mime_type=mime, size=_number(document, "file_size"),
                       fetch=_fetcher(bot, _text(document, "file_id")))
    return None


def read_update(update: dict, bot_username: str | None, bot: BotAPI | None = None) -> tuple[Event | None, str | None]:
    """An update as Telegram sent it → (the conversation's event, the button press's id to answer).
    (None, None): nothing to answer (another kind of update, a bot's message). ValueError: it does
    not have Telegram's shape."""
    update_id = _id(update, "update_id")
    message, query = update.get("message"), update.get("callback_query")
    if isinstance(message, dict):
        return from_message(message, update_id, bot_username, bot), None
    if isinstance(query, dict):
        return from_callback(query, update_id), _text(query, "id")
    return None, None


def from_message(message: dict, update_id: int, bot_username: str | None, bot: BotAPI | None = None) -> Event | None:
    """A message as Telegram sent it; None when it is nobody's to answer (a bot's, another bot's
    command in a group)."""
    chat = _chat(_part(message, "chat"))
    _id(message, "message_id")
    _id(message, "date")
    for key, kind in _MESSAGE_PARTS.items():
        if key in message and not isinstance(message[key], kind):
            raise ValueError(f"{key} is not a {kind.__name__}")
    if message.get("from") is None:
        return None  # a channel's post: nobody to answer
    user = _user(_part(message, "from"))
    if user["is_bot"]:
        return None
    base = dict(
        channel=CHANNEL,
        user_id=str(user["id"]),
        chat_id=str(chat["id"]),
        update_id=str(update_id),
        private=chat["type"] == "private",
        language=user.get("language_code"),
        bot_link=f"https://t.me/{bot_username}" if bot_username else None,
    )
    contact = message.get("contact")
    if isinstance(contact, dict):
        own = contact.get("user_id") == user["id"]
        return Event(kind=Kind.CONTACT, phone=_text(contact, "phone_number"), contact_is_own=own, **base)
    text = message.get("text")
    if not isinstance(text, str):
        # A photo or file stays "unsupported" (residents are told the bot reads text); a staff flow may take it.
        caption = message.get("caption")
        return Event(kind=Kind.UNSUPPORTED, text=caption if isinstance(caption, str) else "", file=file_ref(message, bot), **base)
    found = split_command(text)
    if found is not None:
        head, args = found
        command, _, addressee = head.partition("@")
        if addressee and bot_username and addressee.lower() != bot_username.lower():
            return None  # a command for another bot in a group
        return Event(kind=Kind.COMMAND, text=text, command=command.lower(), args=args, **base)
    return Event(kind=Kind.TEXT, text=text, **base)


def from_callback(query: dict, update_id: int) -> Event:
    """A button press as Telegram sent it."""
    user = _user(_part(query, "from"))
    user_id = user["id"]
    _text(query, "chat_instance")
    message = query.get("message")
    if message is not None:
        message = _part(query, "message")
        chat = _chat(_part(message, "chat"))
        chat_id, message_id = chat["id"], _id(message, "message_id")
    data = _optional_text(query, "data")
    return Event(
        channel=CHANNEL,
        kind=Kind.BUTTON,
        user_id=str(user_id),
        chat_id=str(chat_id if message is not None else user_id),
        update_id=str(update_id),
        data=data or "",
        # Only a message that still shows buttons has any to retire (Telegram refuses a no-op edit).
        message_ref=str(message_id) if message is not None and message.get("reply_markup") else None,
        private=message is None or chat["type"] == "private",
        language=user.get("language_code"),
    )


def chat_of(update: dict) -> str:
    """The chat of an update not yet read, so that a chat's updates queue together."""
    for kind in ("message", "edited_message", "callback_query"):
        part = update.get(kind)
        if isinstance(part, dict):
            holder = part.get("message") if kind == "callback_query" and isinstance(part.get("message"), dict) else part
            chat = holder.get("chat")
            if isinstance(chat, dict) and "id" in chat:
                return str(chat["id"])
            if isinstance(part.get("from"), dict):
                return str(part["from"].get("id"))
    return f"update:{update.get('update_id')}"


# The parts of a message that are read, by the type Telegram gives them.
_MESSAGE_PARTS: dict[str, type] = {"text": str, "caption": str, "contact": dict, "photo": list, "document": dict, "voice": dict,
                                   "audio": dict}


def _user(user: dict) -> dict:
    _id(user, "id")
    if not isinstance(user.get("is_bot"), bool):
        raise ValueError("is_bot is not a boolean")
    _text(user, "first_name")
    _optional_text(user, "language_code")
    return user


def _chat(chat: dict) -> dict:
    _id(chat, "id")
    _text(chat, "type")
    return chat


def _part(part: dict, key: str) -> dict:
    value = part.get(key)
    if not isinstance(value, dict):
        raise ValueError(f"{key} is not an object")
    return value


def _id(part: dict, key: str) -> int:
    """An identifier: an integer (Telegram's ids fit in 64 bits)."""
    value = part.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not -2**63 <= value < 2**63:
        raise ValueError(f"{key} is not an identifier")
    return value


def _optional_text(part: dict, key: str) -> str | None:
    return None if part.get(key) is None else _text(part, key)


def _text(part: dict, key: str) -> str:
    value = part.get(key)
    if not isinstance(value, str):
        raise ValueError(f"{key} is not a string")
    return value


def _number(part: dict, key: str) -> int | None:
    value = part.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None
