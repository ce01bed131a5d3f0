"""Telegram updates, as Telegram sent them (JSON), → core events. Identifiers become strings, as every channel's are.

Read from the JSON rather than from aiogram's `Update`: building that model took more CPU than the
rest of reading an update. A webhook delivery is still checked against `Update` before it is
stored (bot/channels/telegram/runner.py), so what is read here has Telegram's shape."""

from __future__ import annotations

import logging
import mimetypes
from typing import Awaitable, Callable

from aiogram import Bot

from bot.domain.messages import Event, FileRef, FileUnavailable, Kind, split_command

CHANNEL = "telegram"
DOWNLOAD_TIMEOUT = 60  # seconds for getFile plus the download itself

log = logging.getLogger(__name__)


def _fetcher(bot: Bot | None, file_id: str) -> Callable[[], Awaitable[bytes]]:
    async def fetch() -> bytes:
        if bot is None:
            raise FileUnavailable("no bot to download with")
        try:
            file = await bot.get_file(file_id, request_timeout=DOWNLOAD_TIMEOUT)
            if not file.file_path:
                raise FileUnavailable("Telegram gave no file path")
            data = await bot.download_file(file.file_path, timeout=DOWNLOAD_TIMEOUT)
        except FileUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001 - refused (too big for bots), gone, or the network: all "not now"
            # Only the type: the error's text can carry the download URL, and with it the token.
            log.warning("downloading a file from Telegram failed: %s", type(exc).__name__)
            raise FileUnavailable(type(exc).__name__) from None
        assert data is not None
        return data.read()

    return fetch


def file_ref(message: dict, bot: Bot | None) -> FileRef | None:
    """The photo (its largest size) or document of a message, to be downloaded only if a flow asks for it."""
    photos = message.get("photo")
    if isinstance(photos, list) and photos:
        photo = photos[-1]  # Telegram lists the sizes smallest first
        return FileRef(kind="photo", filename=f"photo-{_text(photo, 'file_unique_id')}.jpg", mime_type="image/jpeg",
                       size=_number(photo, "file_size"), fetch=_fetcher(bot, _text(photo, "file_id")))
    document = message.get("document")
    if isinstance(document, dict):
        name = document.get("file_name") or f"file-{_text(document, 'file_unique_id')}"
        mime = document.get("mime_type") or mimetypes.guess_type(name)[0] or "application/octet-stream"
        return FileRef(kind="document", filename=name, mime_type=mime, size=_number(document, "file_size"),
                       fetch=_fetcher(bot, _text(document, "file_id")))
    return None


def from_message(message: dict, update_id: int, bot_username: str | None, bot: Bot | None = None) -> Event | None:
    """A message as Telegram sent it (checked against aiogram's `Update` where it came from outside); None
    when it is nobody's to answer (a bot's, another bot's command in a group)."""
    user = message.get("from")
    if not isinstance(user, dict) or user.get("is_bot"):
        return None
    chat = message["chat"]
    base = dict(
        channel=CHANNEL,
        user_id=str(user["id"]),
        chat_id=str(chat["id"]),
        update_id=str(update_id),
        private=chat.get("type") == "private",
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
    user = query["from"]
    message = query.get("message")
    message = message if isinstance(message, dict) else None
    chat_id = str(message["chat"]["id"]) if message is not None else str(user["id"])
    private = message is None or message["chat"].get("type") == "private"
    data = query.get("data")
    return Event(
        channel=CHANNEL,
        kind=Kind.BUTTON,
        user_id=str(user["id"]),
        chat_id=chat_id,
        update_id=str(update_id),
        data=data if isinstance(data, str) else "",
        # Only a message that still shows buttons has any to retire (Telegram refuses a no-op edit).
        message_ref=str(message["message_id"]) if message is not None and message.get("reply_markup") else None,
        private=private,
        language=user.get("language_code"),
    )


def _text(part: dict, key: str) -> str:
    value = part.get(key)
    if not isinstance(value, str):
        raise ValueError(f"{key} is not a string")
    return value


def _number(part: dict, key: str) -> int | None:
    value = part.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None
