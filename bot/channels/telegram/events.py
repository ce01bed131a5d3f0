"""Telegram updates → core events. Identifiers become strings, as every channel's are."""

from __future__ import annotations

import logging
import mimetypes
from typing import Awaitable, Callable

from aiogram import Bot
from aiogram.types import CallbackQuery, Message

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


def file_ref(message: Message, bot: Bot | None) -> FileRef | None:
    """The photo (its largest size) or document of a message, to be downloaded only if a flow asks for it."""
    if message.photo:
        photo = message.photo[-1]  # Telegram lists the sizes smallest first
        return FileRef(kind="photo", filename=f"photo-{photo.file_unique_id}.jpg", mime_type="image/jpeg",
                       size=photo.file_size, fetch=_fetcher(bot, photo.file_id))
    document = message.document
    if document is not None:
        name = document.file_name or f"file-{document.file_unique_id}"
        mime = document.mime_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        return FileRef(kind="document", filename=name, mime_type=mime, size=document.file_size,
                       fetch=_fetcher(bot, document.file_id))
    return None


def from_message(message: Message, update_id: int, bot_username: str | None, bot: Bot | None = None) -> Event | None:
    user = message.from_user
    if user is None or user.is_bot:
        return None
    base = dict(
        channel=CHANNEL,
        user_id=str(user.id),
        chat_id=str(message.chat.id),
        update_id=str(update_id),
        private=message.chat.type == "private",
        language=user.language_code,
        bot_link=f"https://t.me/{bot_username}" if bot_username else None,
    )
    if message.contact is not None:
        own = message.contact.user_id == user.id
        return Event(kind=Kind.CONTACT, phone=message.contact.phone_number, contact_is_own=own, **base)
    text = message.text
    if text is None:
        # A photo or file stays "unsupported" (residents are told the bot reads text); a staff flow may take it.
        return Event(kind=Kind.UNSUPPORTED, text=message.caption or "", file=file_ref(message, bot), **base)
    found = split_command(text)
    if found is not None:
        head, args = found
        command, _, addressee = head.partition("@")
        if addressee and bot_username and addressee.lower() != bot_username.lower():
            return None  # a command for another bot in a group
        return Event(kind=Kind.COMMAND, text=text, command=command.lower(), args=args, **base)
    return Event(kind=Kind.TEXT, text=text, **base)


def from_callback(query: CallbackQuery, update_id: int) -> Event:
    message = query.message
    chat_id = str(message.chat.id) if message is not None else str(query.from_user.id)
    private = message is None or message.chat.type == "private"
    return Event(
        channel=CHANNEL,
        kind=Kind.BUTTON,
        user_id=str(query.from_user.id),
        chat_id=chat_id,
        update_id=str(update_id),
        data=query.data or "",
        # Only a message that still shows buttons has any to retire (Telegram refuses a no-op edit).
        message_ref=str(message.message_id) if message is not None and getattr(message, "reply_markup", None) else None,
        private=private,
        language=query.from_user.language_code,
    )
